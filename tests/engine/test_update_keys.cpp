// Update keys within one timeline session: a host that plans and applies more than once in a session
// (the "answer, plan again, apply" flow) may push the same change A->B twice, when someone set the
// remote back to A in between. The second push is a new request: under the first one's key a provider
// that replays keys answers it from memory and leaves the remote at A while the report says "done".
// Applying one plan again is a retry of the same push and keeps its key.

#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;

namespace {

const concord::action_outcome* outcome_of(const concord::report& rep, std::string_view kind) {
    for (const auto& a : rep.actions)
        if (a.action == kind) return &a;
    return nullptr;
}

} // namespace

TEST_CASE("the same change pushed again in one session after the remote went back gets a new key", "[engine][keys]") {
    world w;
    auto r = w.reconciler<concord::policy::trust_local>();
    w.db.put(make_item("a", "A"));
    r.reconcile(w.witness);
    REQUIRE(w.active("a").size() == 1);
    const auto rid = w.active("a")[0].remote_id;

    auto local = *w.local("a");
    local.name = "B";
    w.db.put(local);

    auto s = concord::begin_session(w.witness, w.db);
    auto p1 = r.plan(s);
    auto rep1 = r.apply(p1, s);
    const auto* u1 = outcome_of(rep1, "update_remote");
    REQUIRE(u1);
    CHECK(u1->outcome == "done");
    REQUIRE(w.active("a").size() == 1);
    CHECK(w.active("a")[0].value.name == "B");

    // Someone else sets the remote back to A; the host plans again in the same session.
    auto back = w.active("a")[0].value;
    back.name = "A";
    w.remote.update(rid, back, "someone-else-1");
    auto p2 = r.plan(s);
    auto rep2 = r.apply(p2, s);
    s.commit();
    const auto* u2 = outcome_of(rep2, "update_remote");
    REQUIRE(u2);
    CHECK(u2->outcome == "done");
    CHECK(u2->idempotency_key != u1->idempotency_key);
    REQUIRE(w.active("a").size() == 1);
    CHECK(w.active("a")[0].value.name == "B");  // the report's "done" is true

    // And the next session sees both sides in sync.
    auto s3 = concord::begin_session(w.witness, w.db);
    auto p3 = r.plan(s3);
    CHECK(p3.actions.empty());
}

TEST_CASE("applying one plan twice in a session resends its update under the same key", "[engine][keys]") {
    world w;
    auto r = w.reconciler<concord::policy::trust_local>();
    w.db.put(make_item("a", "A"));
    r.reconcile(w.witness);
    auto local = *w.local("a");
    local.name = "B";
    w.db.put(local);

    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    const auto updates_before = w.remote.stats().updates;
    auto rep1 = r.apply(p, s);
    auto rep2 = r.apply(p, s);  // a retry of the same push: replayed, not sent again
    s.commit();
    const auto* u1 = outcome_of(rep1, "update_remote");
    const auto* u2 = outcome_of(rep2, "update_remote");
    REQUIRE(u1);
    REQUIRE(u2);
    CHECK(u1->idempotency_key == u2->idempotency_key);
    CHECK(w.remote.stats().updates == updates_before + 1);
    CHECK(w.active("a")[0].value.name == "B");
}
