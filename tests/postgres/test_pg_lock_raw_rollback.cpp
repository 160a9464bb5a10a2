// A reconcile lock released while the host's transaction was aborted is unlocked once that
// transaction ends, but only a statement concord ran (exec(), lock_reconcile()) did it: a host that
// ended its transaction with ROLLBACK on the raw connection (handle()) and went on with its own SQL
// through handle() kept the lock for as long as it made no call into concord, and every other
// reconciler of the database reported concurrent_reconcile meanwhile. handle() runs the pending
// unlock now, when the connection is idle (never while the host's own asynchronous query runs).

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <concord/postgres/database.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;

namespace {
bool raw_ok(PGconn* c, const char* sql) {
    std::unique_ptr<PGresult, detail::pg_result_free> r(PQexec(c, sql));
    const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

bool can_lock(postgres_database& db) {
    try {
        auto l = db.lock_reconcile();
        return true;
    } catch (const error&) {
        return false;
    }
}

// The lock released inside the host's aborted transaction, which is still open.
void release_inside_aborted_transaction(postgres_database& a) {
    auto held = a.lock_reconcile();
    REQUIRE(raw_ok(a.handle(), "BEGIN"));
    REQUIRE_FALSE(raw_ok(a.handle(), "SELECT 1 / 0"));
    REQUIRE(PQtransactionStatus(a.handle()) == PQTRANS_INERROR);
}
} // namespace

TEST_CASE("a host ending its aborted transaction on the raw connection releases a pending reconcile lock",
          "[postgres][lock]") {
    pg_fresh_database fresh("lockraw");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    release_inside_aborted_transaction(a);
    CHECK_FALSE(can_lock(b));  // still aborted: PostgreSQL refuses the unlock
    REQUIRE(raw_ok(a.handle(), "ROLLBACK"));
    REQUIRE(raw_ok(a.handle(), "SELECT 1"));  // the host's own next statement
    CHECK(can_lock(b));
}

TEST_CASE("the pending unlock never runs in the middle of the host's asynchronous query", "[postgres][lock]") {
    pg_fresh_database fresh("lockraw2");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    release_inside_aborted_transaction(a);
    REQUIRE(PQsendQuery(a.handle(), "ROLLBACK; SELECT 42") == 1);
    int results = 0;
    bool saw_42 = false;
    while (PGresult* r = PQgetResult(a.handle())) {  // handle() each time: its results must all arrive
        ++results;
        if (PQresultStatus(r) == PGRES_TUPLES_OK && std::string(PQgetvalue(r, 0, 0)) == "42") saw_42 = true;
        PQclear(r);
    }
    CHECK(results == 2);
    CHECK(saw_42);
    (void)a.handle();
    CHECK(can_lock(b));
}
