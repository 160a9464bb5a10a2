// Releasing the reconcile lock while the host's own transaction on the connection is aborted (a
// statement failed, no ROLLBACK yet): PostgreSQL refuses every statement, pg_advisory_unlock too, and
// the release forgot the lock anyway. The server kept it for the life of the connection, so every
// other reconciler on the database reported errc::concurrent_reconcile until this one reconnected.

#include <catch2/catch.hpp>

#include <string>

#include <concord/postgres/database.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;

namespace {
bool server_holds(postgres_database& db, std::int64_t key) {
    const auto u = static_cast<std::uint64_t>(key);
    auto r = db.exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid "
                     "AND objid = $2::bigint::oid AND objsubid = 1 "
                     "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                     {std::to_string(u >> 32), std::to_string(u & 0xffffffffULL)});
    return r.get(0, 0) != std::optional<std::string_view>("0");
}
} // namespace

TEST_CASE("a reconcile lock released inside an aborted host transaction is released once it ends", "[postgres][lock]") {
    pg_fresh_database fresh("lockrel");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    const auto key = postgres_database::reconcile_lock_key("concord");
    {
        auto held = a.lock_reconcile();
        a.exec("BEGIN");
        CHECK_THROWS_AS(a.exec("SELECT 1 / 0"), store_error);  // the host's transaction is now aborted
        REQUIRE(PQtransactionStatus(a.handle()) == PQTRANS_INERROR);
    }  // the lock's destructor runs here, as in a host whose session failed
    const bool ended_by_commit = GENERATE(false, true);
    INFO((ended_by_commit ? "COMMIT (which PostgreSQL turns into a rollback)" : "ROLLBACK"));
    a.exec(ended_by_commit ? "COMMIT" : "ROLLBACK");
    CHECK_FALSE(server_holds(b, key));
    CHECK_NOTHROW(b.lock_reconcile());
    SECTION("and this connection can take it again and release it for good") {
        { auto again = a.lock_reconcile(); }
        CHECK_FALSE(server_holds(b, key));
    }
}

TEST_CASE("a reconcile lock released inside an aborted transaction is taken again without a second hold", "[postgres][lock]") {
    pg_fresh_database fresh("lockrel2");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    const auto key = postgres_database::reconcile_lock_key("concord");
    {
        auto held = a.lock_reconcile();
        a.exec("BEGIN");
        CHECK_THROWS_AS(a.exec("SELECT 1 / 0"), store_error);
    }
    CHECK_THROWS(a.lock_reconcile());  // still inside the aborted transaction: refused, nothing taken twice
    a.exec("ROLLBACK");
    {
        auto again = a.lock_reconcile();
        CHECK(server_holds(b, key));
        CHECK_THROWS_AS(b.lock_reconcile(), error);
    }
    CHECK_FALSE(server_holds(b, key));
}
