// The case x strategy matrix (brief sections 4-5): every case is set up for real on a memory_store
// and a memory_remote, then reconciled with each of the three strategies; the test checks the
// classification, the actions chosen and the end state of both sides, and that a second reconcile
// plans nothing.

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::case_kind;
namespace policy = concord::policy;

namespace {

/// Plans and applies with S in one session, returning the plan (for its cases and decisions) and
/// the apply report.
template <class S>
struct run_result {
    concord::plan<item> plan;
    concord::report report;
};

template <class S>
run_result<S> run(world& w) {
    auto r = w.reconciler<S>();
    auto session = concord::begin_session(w.witness, w.db);
    run_result<S> out{r.plan(session), {}};
    out.report = r.apply(out.plan, session);
    session.commit();
    return out;
}

/// Orphan set-up: an item pushed after a backup, then the backup restored.
void make_orphan(world& w, const std::string& sku) {
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item(sku, "after backup"));
    w.sync<policy::trust_local>();
    REQUIRE(w.active(sku).size() == 1);
    w.db.restore(backup);
}

} // namespace

TEMPLATE_TEST_CASE("every case with every strategy, set up for real", "[matrix]", policy::trust_local,
                   policy::trust_remote, policy::ask_user) {
    using S = TestType;
    constexpr bool local_wins = std::is_same_v<S, policy::trust_local>;
    constexpr bool remote_wins = std::is_same_v<S, policy::trust_remote>;
    constexpr bool asks = std::is_same_v<S, policy::ask_user>;
    world w;

    SECTION("in_sync: nothing to do") {
        w.db.put(make_item("A"));
        w.sync<policy::trust_local>();
        auto res = run<S>(w);
        CHECK(res.plan.count(case_kind::in_sync) == 1);
        CHECK(res.plan.actions.empty());
        CHECK(res.plan.decisions.empty());
        CHECK(w.remote.stats().creates == 1);
        CHECK(w.remote.stats().updates == 0);
    }

    SECTION("diverged: push, pull or ask") {
        auto id = w.db.put(make_item("A", "old name"));
        w.sync<policy::trust_local>();
        auto edited = *w.db.get(id);
        edited.name = "new name";
        w.db.put(edited);
        auto res = run<S>(w);
        REQUIRE(res.plan.count(case_kind::diverged) == 1);
        REQUIRE(res.plan.cases.size() == 1);
        CHECK(res.plan.cases[0].fields == std::vector<std::string>{"name"});
        if constexpr (local_wins) {
            CHECK(count_actions(res.report, "update_remote") == 1);
            CHECK(w.active("A").at(0).value.name == "new name");
            CHECK(w.db.get(id)->name == "new name");
        } else if constexpr (remote_wins) {
            CHECK(count_actions(res.report, "upsert_local") == 1);
            CHECK(w.db.get(id)->name == "old name");
            CHECK(w.remote.stats().updates == 0);
        } else {
            REQUIRE(res.plan.decisions.size() == 1);
            CHECK(res.plan.decisions[0].kind == case_kind::diverged);
            CHECK(res.plan.decisions[0].summary.find("new name") != std::string::npos);
            CHECK(res.plan.decisions[0].summary.find("old name") != std::string::npos);
            CHECK(res.plan.actions.empty());
            CHECK(w.db.get(id)->name == "new name");
            CHECK(w.active("A").at(0).value.name == "old name");
        }
    }

    SECTION("local_only: create, remove or ask") {
        w.db.put(make_item("A"));
        auto res = run<S>(w);
        REQUIRE(res.plan.count(case_kind::local_only) == 1);
        if constexpr (local_wins) {
            CHECK(count_actions(res.report, "create_remote") == 1);
            CHECK(res.report.actions.at(0).idempotency_key.rfind("cc1-", 0) == 0);
            CHECK(w.active("A").size() == 1);
            CHECK(w.db.links().size() == 1);
        } else if constexpr (remote_wins) {
            CHECK(count_actions(res.report, "remove_local") == 1);
            CHECK(!w.local("A"));
            CHECK(w.remote.stats().creates == 0);
        } else {
            REQUIRE(res.plan.decisions.size() == 1);
            CHECK(res.plan.decisions[0].kind == case_kind::local_only);
            CHECK(res.plan.decisions[0].options.size() == 2);
            CHECK(w.local("A"));
            CHECK(w.remote.stats().creates == 0);
        }
    }

    SECTION("orphan: cancel, import or ask") {
        make_orphan(w, "A");
        auto res = run<S>(w);
        CHECK(res.plan.timeline.kind == concord::verdict::restored);
        REQUIRE(res.plan.count(case_kind::orphan) == 1);
        CHECK(res.plan.cases.at(0).from_lost_generation);
        if constexpr (local_wins) {
            CHECK(count_actions(res.report, "cancel_remote") == 1);
            CHECK(w.active("A").empty());
            CHECK(w.remote.stats().cancels == 1);
            CHECK(!w.local("A"));
        } else if constexpr (remote_wins) {
            CHECK(count_actions(res.report, "upsert_local") == 1);
            REQUIRE(w.local("A"));
            CHECK(w.local("A")->name == "after backup");
            CHECK(w.active("A").size() == 1);
        } else {
            REQUIRE(res.plan.decisions.size() == 1);
            CHECK(res.plan.decisions[0].kind == case_kind::orphan);
            CHECK(w.active("A").size() == 1);
            CHECK(!w.local("A"));
        }
    }

    SECTION("relinkable: always adopted, never created twice") {
        make_orphan(w, "A");
        w.db.put(make_item("A", "after backup"));  // the user redoes the undone work
        auto res = run<S>(w);
        REQUIRE(res.plan.count(case_kind::relinkable) == 1);
        CHECK(res.plan.decisions.empty());
        CHECK(count_actions(res.report, "link") == 1);
        CHECK(w.remote.stats().creates == 1);
        CHECK(w.db.links().size() == 1);
        CHECK(w.db.links().at(0).remote_id == w.active("A").at(0).remote_id);
    }

    SECTION("duplicate: keep the oldest, keep all or ask") {
        w.db.put(make_item("A"));
        w.sync<policy::trust_local>();
        const auto first = w.active("A").at(0);
        // A second object of ours for the same identity (an earlier run without idempotency).
        w.remote.put_external(first.value, first.meta);
        auto res = run<S>(w);
        REQUIRE(res.plan.count(case_kind::duplicate) == 1);
        REQUIRE(res.plan.cases.at(0).remote.size() == 2);
        if constexpr (local_wins) {
            CHECK(count_actions(res.report, "cancel_remote") == 1);
            REQUIRE(w.active("A").size() == 1);
            CHECK(w.active("A").at(0).remote_id == first.remote_id);  // the oldest survives
            CHECK(w.db.links().at(0).remote_id == first.remote_id);
        } else if constexpr (remote_wins) {
            CHECK(res.plan.actions.empty());
            CHECK(w.active("A").size() == 2);
        } else {
            REQUIRE(res.plan.decisions.size() == 1);
            CHECK(res.plan.decisions[0].kind == case_kind::duplicate);
            CHECK(res.plan.actions.empty());
            CHECK(w.active("A").size() == 2);
        }
        CHECK(w.local("A"));
    }

    SECTION("stale_inbound: discard, keep or ask") {
        w.orders.insert("o-1");
        w.db.put(make_item("A", "label", 100, "o-1"));
        w.sync<policy::trust_local>();
        w.orders.erase("o-1");  // the order it was made from no longer exists
        auto res = run<S>(w);
        REQUIRE(res.plan.count(case_kind::stale_inbound) == 1);
        if constexpr (local_wins) {
            CHECK(count_actions(res.report, "cancel_remote") == 1);
            CHECK(count_actions(res.report, "remove_local") == 1);
            CHECK(w.active("A").empty());
            CHECK(!w.local("A"));
        } else if constexpr (remote_wins) {
            CHECK(res.plan.actions.empty());
            CHECK(w.active("A").size() == 1);
            CHECK(w.local("A"));
        } else {
            REQUIRE(res.plan.decisions.size() == 1);
            CHECK(res.plan.decisions[0].kind == case_kind::stale_inbound);
            CHECK(w.active("A").size() == 1);
            CHECK(w.local("A"));
        }
    }

    SECTION("foreign: reported, never touched") {
        w.remote.put_external(make_item("F", "theirs"), {{"source", "dashboard"}});
        w.remote.put_external(make_item("G", "other integrator"),
                              {{"concord_owner", "concord/v1:inst-2:shop"}, {"concord_id", "00"}, {"concord_gen", "1"}});
        auto res = run<S>(w);
        CHECK(res.plan.count(case_kind::foreign) == 2);
        CHECK(res.plan.actions.empty());
        CHECK(res.plan.decisions.empty());
        CHECK(w.active("F").size() == 1);
        CHECK(w.active("G").size() == 1);
        CHECK(!w.local("F"));
        CHECK(w.remote.stats().cancels == 0);
        CHECK(res.report.text().find("foreign") != std::string::npos);
    }

    // Whatever happened above, reconciling again right away changes nothing new.
    const auto creates = w.remote.stats().creates, cancels = w.remote.stats().cancels;
    const auto rows = w.db.size();
    auto again = run<S>(w);
    CHECK(again.plan.actions.empty());
    CHECK(w.remote.stats().creates == creates);
    CHECK(w.remote.stats().cancels == cancels);
    CHECK(w.db.size() == rows);
    if constexpr (!asks) CHECK(again.plan.decisions.empty());
}
