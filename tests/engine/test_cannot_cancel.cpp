// A remote that offers no cancel (no `cancel` member: remote_can_cancel is false). A planned
// cancel_remote of an orphan cannot be carried out, so the object stays and so does its link: the
// next plan sees the same case, with the same decision id, and reports again that the cancel cannot
// be done. (It used to unlink the orphan; ask_user then asked the answered question once more under a
// new id, "unlinked" being another situation than "linked".)

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;
namespace policy = concord::policy;
using concord::resolution;

namespace {
static_assert(concord::remote_can_create<no_cancel_remote>);

bool has_problem(const concord::report& r, const std::string& text) {
    return std::any_of(r.problems.begin(), r.problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

bool linked(const world& w, const std::string& remote_id) {
    const auto links = w.db.links();
    return std::any_of(links.begin(), links.end(), [&](const concord::link& l) { return l.remote_id == remote_id; });
}

/// "A" created on the remote and linked, then deleted locally: a linked orphan.
std::string deleted_after_sync(world& w) {
    w.db.put(make_item("A"));
    {
        auto r = concord::make_reconciler<policy::trust_local>(w.db, w.remote, options(), sku_identity{});
        r.reconcile(w.witness);
    }
    REQUIRE(w.active("A").size() == 1);
    const auto rid = w.active("A").front().remote_id;
    REQUIRE(linked(w, rid));
    REQUIRE(w.db.erase(w.local("A")->id));
    return rid;
}
} // namespace

TEST_CASE("ask_user with a remote that cannot cancel: an answered cancel is not asked again",
          "[apply][decisions][capabilities]") {
    world w;
    const auto rid = deleted_after_sync(w);
    no_cancel_remote remote{&w.remote};
    auto r = concord::make_reconciler<policy::ask_user>(w.db, remote, options(), sku_identity{});

    auto first = r.reconcile(w.witness);
    REQUIRE(first.decisions.size() == 1);
    const auto id = first.decisions.front().id;
    {
        auto s = concord::begin_session(w.witness, w.db);
        const auto p = r.plan(s);
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions.front().id == id);
        r.answer(p, id, resolution::cancel_remote);
    }
    for (int run = 0; run < 3; ++run) {
        INFO("run " << run);
        const auto rep = r.reconcile(w.witness);
        CHECK(rep.decisions.empty());  // answered once, settled: not asked again under another id
        CHECK(count_actions(rep, "unlink") == 0);
        CHECK(has_problem(rep, "cannot cancel"));
        CHECK(linked(w, rid));  // the object is still there, and so is its link
        CHECK(w.active("A").size() == 1);
    }
    CHECK(w.remote.stats().cancels == 0);
}

TEST_CASE("trust_local with a remote that cannot cancel keeps the orphan's link and reports it every run",
          "[apply][capabilities]") {
    world w;
    const auto rid = deleted_after_sync(w);
    no_cancel_remote remote{&w.remote};
    auto r = concord::make_reconciler<policy::trust_local>(w.db, remote, options(), sku_identity{});
    for (int run = 0; run < 2; ++run) {
        INFO("run " << run);
        const auto rep = r.reconcile(w.witness);
        CHECK(rep.actions.empty());
        CHECK(rep.decisions.empty());
        CHECK(has_problem(rep, "cannot cancel"));
        CHECK(has_problem(rep, "the remote does not offer it"));
        CHECK(linked(w, rid));
    }
    CHECK(w.active("A").size() == 1);

    SECTION("once the object is cancelled at the provider by hand, nothing is planned for it") {
        w.remote.cancel(rid, "by-hand");
        const auto rep = r.reconcile(w.witness);
        CHECK(rep.actions.empty());
        CHECK(rep.decisions.empty());
        CHECK_FALSE(has_problem(rep, "cannot cancel"));
        CHECK(w.active("A").empty());
    }
}
