// The reconcile lock of a scope is a session-level advisory lock; concord's stores also take
// transaction-level advisory locks of their own (creating tables, max + 1 ids). Those used the
// reconcile lock's keys of scopes "schema" and "table/<quoted table>": a reconcile of scope "schema"
// made every other connection's store wait for it to end before it could even be constructed, and a
// store being set up made that reconcile report errc::concurrent_reconcile. Scopes are independent.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;

namespace {
struct parcel {
    BOOST_HANA_DEFINE_STRUCT(parcel, (std::int64_t, id), (std::string, code));
};
} // namespace

TEST_CASE("a reconcile of any scope does not hold up another connection's store", "[postgres][lock]") {
    pg_fresh_database fresh("lockscope");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    b.exec("SET lock_timeout = '2s'");  // a wait for a's lock fails instead of hanging the test
    const std::string scope = GENERATE(std::string("schema"), std::string("table/\"parcels\""));
    INFO(scope);
    auto held = a.lock_reconcile(scope);
    try {
        postgres_store<parcel> s(b, "parcels");
        CHECK(s.put(parcel{0, "p1"}) == 1);
        CHECK(s.put(parcel{0, "p2"}) == 2);
    } catch (const store_error& e) {
        FAIL("the store waited for the reconcile lock of scope '" << scope << "': " << e.what());
    }
}

TEST_CASE("a store's own transaction locks do not make a reconcile report another one", "[postgres][lock]") {
    pg_fresh_database fresh("lockscope2");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    postgres_store<parcel> s(b, "parcels");
    b.exec("BEGIN");
    REQUIRE(s.put(parcel{0, "p1"}) == 1);  // in b's transaction: its max + 1 lock is held until it ends
    postgres_store<parcel> other(b, "others");  // and so is the lock that serialises creating tables
    const std::string scope = GENERATE(std::string("schema"), std::string("table/\"parcels\""));
    INFO(scope);
    CHECK_NOTHROW(a.lock_reconcile(scope));
    b.exec("ROLLBACK");
}
