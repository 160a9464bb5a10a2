// Regressions of the fourth review of the apply phase, one TEST_CASE (or two) per finding:
//  1. a reconcile with nothing else to do clears an earlier reconcile's in-progress mark and failure
//     from the witness (no false "interrupted", no false errc::repeated_failure);
//  2. apply() refuses a plan made in another timeline session even when lineage and generation
//     match (timeline_status::session_id), and an orphan's cancel is skipped when a local entity of
//     that identity exists by the time the plan is applied;
//  4. a create the remote answers with an object cancelled since (a replay) is errc::idempotency_conflict,
//     not linked;
//  5. reconciler::set_create_guard refuses a create before it is sent (outcome failed, errc::blocked).
// The payments side of 3, 4 and 5 is in tests/payments/test_review4_gateway.cpp.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;
namespace policy = concord::policy;

namespace {

/// The code of the concord::error `f` throws; `none` when it throws nothing.
std::optional<concord::errc> code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    return std::nullopt;
}

const concord::action_outcome* outcome_of(const concord::report& r, std::string_view kind) {
    for (const auto& a : r.actions)
        if (a.action == kind) return &a;
    return nullptr;
}

} // namespace

TEST_CASE("review4 apply: a reconcile with nothing to do clears an earlier reconcile's mark and failure",
          "[review4][apply][witness]") {
    world w;
    w.db.put(make_item("A"));
    w.sync<policy::trust_local>();
    w.sync<policy::trust_local>();  // the listing cursor is recorded: from here a reconcile may have nothing to do
    // The host deletes A; trust_local cancels the orphan, then the store commit fails.
    w.db.erase(w.local("A")->id);
    w.db.fail_next_commits(1);
    CHECK(code_of([&] { w.sync<policy::trust_local>(); }) == concord::errc::store_failure);
    auto was = w.witness.load();
    REQUIRE(was);
    REQUIRE_FALSE(was->in_progress.empty());
    REQUIRE_FALSE(was->failure.empty());

    // The next reconcile is told about the interrupted one, and has nothing else to do.
    {
        auto r = w.reconciler<policy::trust_local>();
        auto s = concord::begin_session(w.witness, w.db);
        CHECK(s.status().interrupted);
        auto p = r.plan(s);
        CHECK(p.actions.empty());
        auto rep = r.apply(p, s);
        s.commit();
        CHECK(rep.problems.empty());
    }
    auto now = w.witness.load();
    REQUIRE(now);
    CHECK(now->in_progress.empty());
    CHECK(now->failure.empty());
    CHECK_FALSE(concord::begin_session(w.witness, w.db).status().interrupted);

    // A later, unrelated failure with the same text is a failure, not a repeat of the old one.
    w.db.put(make_item("B"));
    w.db.fail_next_commits(1);
    CHECK(code_of([&] { w.sync<policy::trust_local>(); }) == concord::errc::store_failure);
}

TEST_CASE("review4 apply: a plan made before the user's undo is refused after it, lineage and generation alike",
          "[review4][apply][timeline]") {
    const bool restored = GENERATE(false, true);
    CAPTURE(restored);
    world w;
    w.db.put(make_item("Y"));
    w.sync<policy::trust_local>();  // Y created remotely and linked
    const auto backup = w.db.snapshot();
    if (restored) {  // one more committed reconcile: undoing to the backup is then a restore
        w.db.put(make_item("Z"));
        w.sync<policy::trust_local>();
    }
    w.db.erase(w.local("Y")->id);  // the user deletes Y
    auto r = w.reconciler<policy::trust_local>();
    auto s1 = concord::begin_session(w.witness, w.db);
    const auto p1 = r.plan(s1);  // a dry run: cancel Y's remote object
    REQUIRE(p1.count(concord::case_kind::orphan) == 1);
    // ... and undoes the deletion by restoring the backup instead of applying.
    w.db.restore(backup);
    REQUIRE(w.local("Y"));
    const auto objects = w.remote.all().size();
    auto s2 = concord::begin_session(w.witness, w.db);
    REQUIRE(s2.status().lineage == p1.timeline.lineage);
    REQUIRE(s2.status().generation == p1.timeline.generation);  // only the session tells the plans apart
    CHECK(code_of([&] { r.apply(p1, s2); }) == concord::errc::invalid_argument);
    CHECK(w.active("Y").size() == 1);  // Y's object was not cancelled
    w.sync<policy::trust_local>();
    CHECK(w.active("Y").size() == 1);
    CHECK(w.remote.all().size() == objects);  // nothing cancelled, so nothing re-created
}

TEST_CASE("review4 apply: a plan is still applied in the session it was made in", "[review4][apply][timeline]") {
    world w;
    w.db.put(make_item("Y"));
    auto r = w.reconciler<policy::trust_local>();
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    auto rep = r.apply(p, s);
    s.commit();
    CHECK(rep.failed() == 0);
    CHECK(w.active("Y").size() == 1);
}

TEST_CASE("review4 apply: an orphan's cancel is skipped when the host re-creates the entity before apply",
          "[review4][apply][orphan]") {
    world w;
    w.db.put(make_item("Y"));
    w.sync<policy::trust_local>();
    w.db.erase(w.local("Y")->id);  // the user deletes Y
    auto r = w.reconciler<policy::trust_local>();
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);  // orphan: cancel_remote + unlink
    REQUIRE(p.count(concord::case_kind::orphan) == 1);
    w.db.put(make_item("Y"));  // ... and re-creates it (undo in the app) before the plan is applied
    auto rep = r.apply(p, s);
    s.commit();
    const auto* cancel = outcome_of(rep, "cancel_remote");
    REQUIRE(cancel);
    CHECK(cancel->outcome == "skipped");
    const auto* unlink = outcome_of(rep, "unlink");
    REQUIRE(unlink);
    CHECK(unlink->outcome == "skipped");
    CHECK(w.remote.stats().cancels == 0);
    CHECK(w.active("Y").size() == 1);
    w.sync<policy::trust_local>();  // the next plan sees Y in sync with its object
    CHECK(w.active("Y").size() == 1);
    CHECK(w.remote.all().size() == 1);  // no cancel, no re-create
}

TEST_CASE("review4 apply: a create answered with an object cancelled since is not linked",
          "[review4][apply][idempotency]") {
    world w;
    w.db.put(make_item("A"));
    w.sync<policy::trust_local>();
    w.db.put(make_item("X"));
    auto r = w.reconciler<policy::trust_local>();
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    r.apply(p, s);  // X created
    REQUIRE(w.active("X").size() == 1);
    w.remote.cancel_external(w.active("X").at(0).remote_id);  // cancelled at the remote (customer's portal)
    auto rep = r.apply(p, s);  // the same plan again: its create replays to the cancelled object
    s.commit();
    const auto* create = outcome_of(rep, "create_remote");
    REQUIRE(create);
    CHECK(create->outcome == "failed");
    CHECK(create->error == "idempotency_conflict");
    CHECK(rep.problems.size() == 1);
    // The next reconcile sees the cancellation and creates X anew, under a new key.
    auto rep2 = w.sync<policy::trust_local>();
    CHECK(rep2.failed() == 0);
    CHECK(w.active("X").size() == 1);
}

// --- 5. the create guard (API added by the fix: set_create_guard) ---------------------------------

TEST_CASE("review4 apply: a create guard refuses a create before it is sent", "[review4][apply][guard]") {
    world w;
    w.db.put(make_item("A"));
    w.db.put(make_item("B"));
    auto r = w.reconciler<policy::trust_local>();
    int asked = 0;
    r.set_create_guard([&](const item& i) -> std::string {
        ++asked;
        return i.sku == "B" ? "B is on hold" : "";
    });
    auto rep = r.reconcile(w.witness);
    CHECK(asked == 2);
    CHECK(rep.failed() == 1);
    for (const auto& a : rep.actions) {
        if (a.action != "create_remote") continue;
        if (a.identity_text.find("\"B\"") != std::string::npos) {
            CHECK(a.outcome == "failed");
            CHECK(a.error == "blocked");
        } else {
            CHECK(a.outcome == "done");
        }
    }
    CHECK(rep.problems.size() == 1);
    CHECK(w.active("A").size() == 1);
    CHECK(w.active("B").empty());
    CHECK(w.remote.stats().creates == 1);  // B never reached the remote
    // Without the guard the next reconcile creates B: a refused create is not forgotten.
    r.set_create_guard({});
    auto rep2 = r.reconcile(w.witness);
    CHECK(rep2.failed() == 0);
    CHECK(w.active("B").size() == 1);
    CHECK(w.remote.stats().creates == 2);
}

TEST_CASE("review4 apply: two sessions on one witness have different session ids", "[review4][apply][timeline]") {
    world w;
    auto s1 = concord::begin_session(w.witness, w.db);
    auto s2 = concord::begin_session(w.witness, w.db);
    CHECK_FALSE(s1.status().session_id.empty());
    CHECK(s1.status().session_id != s2.status().session_id);
    CHECK(s1.status().generation == s2.status().generation);
}
