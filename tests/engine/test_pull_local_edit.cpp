// A pull (the remote's content written over the local row) is planned for the local row as the plan
// saw it. A host edit made between plan() and apply() is newer than both: writing the remote content
// over it loses the edit without anyone having chosen that (an ask_user answer was about the old
// content, and the decision id changes with it). The pull is skipped, and the next plan asks again.

#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;

TEST_CASE("a pull does not overwrite a local edit made after the plan", "[engine][apply]") {
    world w;
    w.db.put(make_item("a", "A"));
    w.sync<concord::policy::trust_local>();
    REQUIRE(w.active("a").size() == 1);
    const auto rid = w.active("a")[0].remote_id;
    auto theirs = w.active("a")[0].value;
    theirs.name = "R";
    w.remote.edit_external(rid, theirs);

    auto r = w.reconciler<concord::policy::ask_user>();
    auto s = concord::begin_session(w.witness, w.db);
    auto p1 = r.plan(s);
    REQUIRE(p1.decisions.size() == 1);
    CHECK(p1.decisions[0].kind == concord::case_kind::diverged);
    r.answer(p1, p1.decisions[0].id, concord::resolution::pull);  // "A" against "R": keep the remote's
    auto p2 = r.plan(s);
    REQUIRE(p2.actions.size() == 1);
    CHECK(p2.actions[0].kind == concord::action_kind::upsert_local);

    // The user types a new name before the host applies.
    auto mine = *w.local("a");
    mine.name = "C2";
    w.db.put(mine);

    auto rep = r.apply(p2, s);
    s.commit();
    REQUIRE(rep.actions.size() == 1);
    CHECK(rep.actions[0].outcome == "skipped");
    REQUIRE(w.local("a"));
    CHECK(w.local("a")->name == "C2");  // the edit is kept
    CHECK(w.active("a")[0].value.name == "R");

    // The next plan puts the new situation ("C2" against "R") to the user.
    auto s2 = concord::begin_session(w.witness, w.db);
    auto p3 = r.plan(s2);
    REQUIRE(p3.decisions.size() == 1);
    CHECK(p3.decisions[0].id != p1.decisions[0].id);
}

TEST_CASE("a pull still applies to a local row unchanged since the plan", "[engine][apply]") {
    world w;
    w.db.put(make_item("a", "A"));
    w.sync<concord::policy::trust_local>();
    const auto rid = w.active("a")[0].remote_id;
    auto theirs = w.active("a")[0].value;
    theirs.name = "R";
    w.remote.edit_external(rid, theirs);

    auto r = w.reconciler<concord::policy::trust_remote>();
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    auto other = make_item("b", "B");  // an unrelated local change does not hold the pull back
    w.db.put(other);
    auto rep = r.apply(p, s);
    s.commit();
    REQUIRE(rep.actions.size() == 1);
    CHECK(rep.actions[0].outcome == "done");
    CHECK(w.local("a")->name == "R");
}
