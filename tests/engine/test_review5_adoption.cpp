// Fifth review: a plan made for an adopted database (plan_from(status, true, ...)) is refused by
// apply() in a session that has not adopted the different database it runs on.

#include <string>

#include <catch2/catch.hpp>

#include "../support/error_capture.hpp"
#include "fixture.hpp"

using namespace engine_test;
namespace policy = concord::policy;

namespace {
/// A world whose database was switched for an empty one: the item of the old one, "A", is an orphan
/// trust_local would cancel.
void switched_database(world& w) {
    w.db.put(make_item("A"));
    w.sync<policy::trust_local>();
    w.db.restore({});  // another database: no entities, no links, no checkpoint
}
} // namespace

TEST_CASE("a plan made as adopted is refused in a session that has not adopted the different database",
          "[review5][apply][timeline]") {
    world w;
    switched_database(w);
    auto r = w.reconciler<policy::trust_local>();
    auto s = concord::begin_session(w.witness, w.db);
    REQUIRE(s.kind() == concord::verdict::different_database);
    REQUIRE_FALSE(s.database_adopted());
    CHECK(r.plan(s).actions.empty());  // plan() asks: never destructive on its own

    const auto p = r.plan_from(s.status(), true, w.db.scan(), w.db.links(), w.remote.all());
    REQUIRE(p.actions.size() == 1);
    CHECK(p.actions[0].kind == concord::action_kind::cancel_remote);
    const auto e = concord::test::caught([&] { r.apply(p, s); });
    CHECK(e.code() == concord::errc::invalid_argument);
    CHECK_THAT(std::string(e.what()), Catch::Contains("adopt_database()"));
    CHECK(w.remote.stats().cancels == 0);
    CHECK(w.active("A").size() == 1);

    SECTION("after adopt_database() the same plan applies") {
        s.adopt_database();
        r.apply(p, s);
        CHECK(w.remote.stats().cancels == 1);
        CHECK(w.active("A").empty());
    }
    SECTION("a plan made as not adopted still applies in an adopted session") {
        s.adopt_database();
        const auto q = r.plan_from(s.status(), false, w.db.scan(), w.db.links(), w.remote.all());
        CHECK(q.actions.empty());
        CHECK(q.decisions.size() == 1);
        CHECK_NOTHROW(r.apply(q, s));
        CHECK(w.remote.stats().cancels == 0);
    }
}
