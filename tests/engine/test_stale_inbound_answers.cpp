// An answered stale_inbound question stays answered once the answer is carried out. It was asked
// again under a new decision id: `keep` imports the record and links it, `discard` on a remote without
// cancel removes the link, and either changed the linked-or-not part of the id, so ask_user asked once
// more (and a second, different answer undid the first: "keep" re-imported what "discard" removed).

#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;
namespace policy = concord::policy;
using concord::case_kind;
using concord::resolution;

namespace {


/// Answers the one open decision of a fresh plan with `choice`.
template <class R>
void answer_only_decision(R& r, world& w, resolution choice) {
    auto s = concord::begin_session(w.witness, w.db);
    const auto p = r.plan(s);
    REQUIRE(p.decisions.size() == 1);
    REQUIRE(p.decisions.front().kind == case_kind::stale_inbound);
    r.answer(p, p.decisions.front().id, choice);
}

} // namespace

TEST_CASE("decisions: stale_inbound answered keep is imported and not asked again", "[decisions]") {
    world w;
    w.orders.insert("o1");
    w.db.put(make_item("B"));
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A", "thing", 100, "o1"));
    w.sync<policy::trust_local>();  // A is created remotely ...
    w.db.restore(backup);           // ... and forgotten locally
    w.orders.erase("o1");           // and the order it refers to is gone: a stale inbound record

    auto r = w.reconciler<policy::ask_user>();
    REQUIRE(r.reconcile(w.witness).decisions.size() == 1);
    answer_only_decision(r, w, resolution::keep);

    const auto applied = r.reconcile(w.witness);
    CHECK(count_actions(applied, "upsert_local") == 1);
    REQUIRE(w.local("A"));
    for (int run = 0; run < 2; ++run) {
        INFO("run " << run);
        const auto rep = r.reconcile(w.witness);
        CHECK(rep.decisions.empty());  // the user said keep: not asked again under another id
        CHECK(rep.actions.empty());
    }
    CHECK(w.local("A"));
    CHECK(w.active("A").size() == 1);
}

TEST_CASE("decisions: stale_inbound answered discard on a remote that cannot cancel is not asked again",
          "[decisions][capabilities]") {
    const bool with_local = GENERATE(true, false);
    INFO("local copy present: " << with_local);
    world w;
    w.orders.insert("o1");
    w.db.put(make_item("A", "thing", 100, "o1"));
    w.sync<policy::trust_local>();  // created remotely and linked
    w.orders.erase("o1");
    if (!with_local) REQUIRE(w.db.erase(w.local("A")->id));

    no_cancel_remote remote{&w.remote};
    auto r = concord::make_reconciler<policy::ask_user>(w.db, remote, options(), sku_identity{});
    r.set_reference_check([&](const item& i) { return i.order.empty() || w.orders.count(i.order) > 0; });
    REQUIRE(r.reconcile(w.witness).decisions.size() == 1);
    answer_only_decision(r, w, resolution::discard);

    for (int run = 0; run < 3; ++run) {
        INFO("run " << run);
        const auto rep = r.reconcile(w.witness);
        CHECK(rep.decisions.empty());  // answered once: the answer keeps applying
    }
    CHECK_FALSE(w.local("A"));
    CHECK(w.active("A").size() == 1);  // nothing could cancel it
}
