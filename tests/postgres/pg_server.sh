#!/usr/bin/env bash
# Starts and stops a throw-away PostgreSQL server for concord's tests: loopback only (127.0.0.1), a
# free port, trust authentication, data directory in a fresh temp folder. ctest runs `start` as the
# fixture setup test and `stop` as the cleanup test (tests/postgres/CMakeLists.txt).
#
#   pg_server.sh start <state-dir>   initdb + pg_ctl start; writes <state-dir>/conninfo (libpq
#                                     conninfo of the maintenance database) and <state-dir>/datadir
#   pg_server.sh stop <state-dir>    pg_ctl stop, removes the data directory and the state files
#
# initdb refuses to run as root: as root the server runs as the unprivileged `postgres` user (created
# by Debian's postgresql package); otherwise as the calling user. If the PostgreSQL server binaries
# are missing and we are root on Debian, Debian's `postgresql` package is installed first.
# Any failure exits non-zero with the server log, so the tests that need the server fail, never skip.
set -euo pipefail
cmd="${1:?usage: pg_server.sh start|stop <state-dir>}"
state="${2:?usage: pg_server.sh start|stop <state-dir>}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"

find_bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  echo ""
}

as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bindir
  bindir="$(find_bindir)"
  if [[ -z "$bindir" && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "pg_server: PostgreSQL server binaries missing, installing Debian's postgresql"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bindir="$(find_bindir)"
  fi
  [[ -n "$bindir" ]] || { echo "pg_server: no initdb found (install Debian's postgresql or set PG_BINDIR)" >&2; exit 1; }
  if [[ -f "$state/datadir" ]]; then stop || true; fi
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    echo "pg_server: running as root but there is no 'postgres' user to run the server as" >&2; exit 1
  fi
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/concord-pg.XXXXXX")"
  chmod 700 "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
  echo "$dir" > "$state/datadir"
  as_server_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; echo "pg_server: initdb failed" >&2; exit 1; }
  local port="" try
  for try in $(seq 1 20); do
    port=$(( 20000 + (RANDOM % 20000) ))
    port_free "$port" || continue
    if as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
         -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off" start \
         >"$state/pg_ctl.log" 2>&1; then
      printf 'host=127.0.0.1 port=%s user=postgres dbname=postgres connect_timeout=10\n' "$port" > "$state/conninfo"
      echo "$bindir" > "$state/bindir"
      echo "pg_server: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') listening on 127.0.0.1:$port, data in $dir"
      return 0
    fi
    cat "$dir/server.log" >&2 2>/dev/null || true
  done
  cat "$state/pg_ctl.log" >&2 || true
  echo "pg_server: the server did not start" >&2
  exit 1
}

stop() {
  [[ -f "$state/datadir" ]] || { echo "pg_server: nothing to stop in $state"; return 0; }
  local dir bindir
  dir="$(cat "$state/datadir")"
  bindir="$(cat "$state/bindir" 2>/dev/null || find_bindir)"
  if [[ -d "$dir/data" && -f "$dir/data/postmaster.pid" ]]; then
    as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  fi
  case "$dir" in */concord-pg.*) rm -rf "$dir" ;; esac
  rm -f "$state/datadir" "$state/conninfo" "$state/bindir"
  echo "pg_server: stopped, removed $dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: pg_server.sh start|stop <state-dir>" >&2; exit 2 ;;
esac
