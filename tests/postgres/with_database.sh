#!/usr/bin/env bash
# Runs a command against a fresh database on the test server started by pg_server.sh, then drops it.
#   with_database.sh <state-dir> <command> [args...]   every argument @CONNINFO@ becomes the new
#                                                      database's libpq conninfo
# Exits with the command's status; a server that is not running is a failure.
set -euo pipefail
state="${1:?usage: with_database.sh <state-dir> <command> [args...]}"; shift
[[ -s "$state/conninfo" ]] || { echo "with_database: no PostgreSQL server ($state/conninfo missing)" >&2; exit 1; }
admin="$(cat "$state/conninfo")"
bindir="$(cat "$state/bindir")"
name="concord_run_$$_${RANDOM}"
"$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$admin" -c "CREATE DATABASE \"$name\""
trap '"$bindir/psql" -X -q "$admin" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
args=()
for a in "$@"; do
  if [[ "$a" == "@CONNINFO@" ]]; then args+=("$admin dbname=$name"); else args+=("$a"); fi
done
set +e
"${args[@]}"
rc=$?
exit $rc
