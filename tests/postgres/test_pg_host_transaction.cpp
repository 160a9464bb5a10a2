// The PostgreSQL adapter: a host's own transaction after a reopen, values libpq would cut
// at a NUL byte, and reconcile locks of two scopes on one connection.

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "../support/lineages.hpp"
#include "pg_support.hpp"

namespace {
struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents));
};
} // namespace

using namespace concord;
using namespace concord::test;

TEST_CASE("postgres adapter: after a reopen, put() inside the host's own transaction still writes in it", "[postgres]") {
    pg_fresh_database fresh("audit_reopen_tx");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    db.reopen();  // the host resumes after a lost connection
    db.exec("BEGIN");
    try {
        CHECK(s.put({0, "acme", "A-2", 2}) == 2);
    } catch (const std::exception& e) {
        FAIL_CHECK("put inside the host's transaction after a reopen: " << e.what());
    }
    CHECK(db.in_transaction());
    db.exec("COMMIT");
    CHECK(s.size() == 2);
}

TEST_CASE("postgres adapter: a remote id or cursor name with a NUL byte is refused, never cut short", "[postgres]") {
    pg_fresh_database fresh("audit_nul");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    SECTION("a link's remote id") {
        change_batch<order> b;
        b.link_upserts.push_back({key128{0, 1}, std::string("rem\0_1", 6), 1});
        try {
            s.commit(b);
            REQUIRE(s.links().size() == 1);
            CHECK(s.links()[0].remote_id == std::string("rem\0_1", 6));
        } catch (const error& e) {
            CHECK(e.code() == errc::invalid_argument);
            CHECK(s.links().empty());
        }
    }
    SECTION("a cursor name") {
        change_batch<order> b;
        checkpoint cp;
        cp.lineage = test::lineage_id('a');
        cp.generation = 1;
        cp.cursors[std::string("shop\0x", 6)] = 5;
        b.new_checkpoint = cp;
        try {
            s.commit(b);
            CHECK(s.load_checkpoint() == cp);  // the checkpoint concord wrote reads back
        } catch (const error& e) {
            CHECK(e.code() == errc::invalid_argument);
            CHECK_FALSE(s.load_checkpoint());
        }
    }
}

TEST_CASE("postgres adapter: reconcile locks of two scopes on one connection are independent", "[postgres][lock]") {
    pg_fresh_database fresh("audit_scopes");
    postgres_database db(fresh.conninfo());
    auto billing = db.lock_reconcile("billing");
    try {
        auto crm = db.lock_reconcile("crm");
        CHECK(crm.key() == postgres_database::reconcile_lock_key("crm"));
    } catch (const error& e) {
        FAIL_CHECK("a lock of another scope was refused: " << e.what());
    }
    CHECK_THROWS_AS(db.lock_reconcile("billing"), error);  // the same scope is not re-entrant
    billing.release();
    auto again = db.lock_reconcile("billing");
    postgres_database other(fresh.conninfo());
    CHECK_THROWS_AS(other.lock_reconcile("billing"), error);
    auto crm_elsewhere = other.lock_reconcile("crm");  // released when the inner lock went
}
