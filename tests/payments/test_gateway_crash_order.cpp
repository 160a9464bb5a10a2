// The payments gateway: a cancel or refund removes the local row before the provider call (a crash
// between them never leaves a row linked to a cancelled object), and a local id that names another
// identity's row is refused; the linked object edited out of its identity is refused; commit() of a
// session on a different database clears its mark and releases its lock.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "sqlite_fixture.hpp"

using namespace payments_test;

// A refund (cancel) that crashes at any step, then the host's reconcile (trust_local, as in the
// scenarios), then the user's retry if the row is still there: the invoice is charged once, and ends
// refunded. Before the fix, a crash after the provider refunded but before the local commit left a
// local row linked to a refunded charge: a local_only case that trust_local created again, charging
// the customer a second time.
TEMPLATE_TEST_CASE("gateway: a refund interrupted at any step never charges the invoice again", "[payments][crash]", memory_db, sqlite_db) {
    const char* where = GENERATE("after provider call", "before local commit");
    world<TestType> w;
    w.template reconcile<trust_local>();
    w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    REQUIRE(w.bank.charges_for("cus-1", "INV-1") == 1);
    w.gw.set_step_hook([&](std::string_view s) {
        if (s == where) throw std::runtime_error("simulated crash");
    });
    CHECK_THROWS(w.gw.refund("cus-1", "INV-1"));
    w.gw.set_step_hook({});
    // The host restarts and reconciles (the witness says an action was interrupted).
    w.template reconcile<trust_local, trust_local>();
    if (has_row(w.db.charges, "INV-1")) w.gw.refund("cus-1", "INV-1");  // the user's retry
    w.template reconcile<trust_local, trust_local>();
    CHECK(w.bank.stats().creates == 1);  // charged once, ever
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 0);
    CHECK(w.bank.money_taken("cus-1") == 0);
    CHECK_FALSE(has_row(w.db.charges, "INV-1"));
}

TEMPLATE_TEST_CASE("gateway: a plan cancel interrupted at any step never re-creates the plan", "[payments][crash]", memory_db, sqlite_db) {
    const char* where = GENERATE("after provider call", "before local commit");
    world<TestType> w;
    w.template reconcile<trust_local>();
    w.gw.create_plan(w.monthly("cus-1", "gym/monthly", 2000));
    w.gw.set_step_hook([&](std::string_view s) {
        if (s == where) throw std::runtime_error("simulated crash");
    });
    CHECK_THROWS(w.gw.cancel_plan("cus-1", "gym/monthly"));
    w.gw.set_step_hook({});
    w.template reconcile<trust_local, trust_local>();
    if (has_row(w.db.plans, "gym/monthly")) w.gw.cancel_plan("cus-1", "gym/monthly");
    w.template reconcile<trust_local, trust_local>();
    CHECK(w.bank.stats().creates == 1);
    CHECK(w.our_active_plans() == 0);
    w.clock.advance(std::chrono::hours(24 * 65));
    CHECK(w.bank.money_taken("cus-1") == 0);
}

// A refund the provider keeps refusing (503 until the retries give up) changes nothing: the row and
// its link stay, and the user's retry refunds once the provider is back.
TEMPLATE_TEST_CASE("gateway: a refund that fails at the provider leaves the row for a retry", "[payments][faults]", memory_db, sqlite_db) {
    world<TestType> w;
    w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    w.bank.inject(concord::fault::transient, 10);
    CHECK_THROWS(w.gw.refund("cus-1", "INV-1"));
    w.bank.clear_faults();
    CHECK(has_row(w.db.charges, "INV-1"));
    CHECK(w.gw.refund("cus-1", "INV-1").what == concord::payments::how::cancelled);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 0);
    CHECK_FALSE(has_row(w.db.charges, "INV-1"));
}

// A charge whose local id names the row of another invoice (a host reusing the row the last action
// returned) must not overwrite that row: the other invoice would lose its row while its link stays,
// and the next reconcile would refund it as an orphan.
TEST_CASE("gateway: a charge whose id names another invoice's row does not overwrite it",
          "[payments][input]") {
    world<memory_db> w;
    w.template reconcile<trust_local>();
    auto first = w.gw.charge_invoice(w.invoice("ada", "INV-1", 1500));
    REQUIRE(first.local.id != 0);
    auto next = first.local;  // the host edits the returned row into the next invoice
    next.reference = "INV-2";
    next.amount_cents = 900;
    std::optional<concord::errc> code;
    try {
        w.gw.charge_invoice(next);
    } catch (const concord::error& e) {
        code = e.code();
    }
    CHECK(code == concord::errc::invalid_argument);  // refused before anything is done
    CHECK(w.bank.charges_for("ada", "INV-2") == 0);
    CHECK(has_row(w.db.charges, "INV-1"));
    w.template reconcile<trust_local, trust_local>();
    CHECK(w.bank.charges_for("ada", "INV-1") == 1);  // INV-1 is not refunded
    CHECK(w.bank.template get<concord::payments::charge>(first.remote_id)->state == concord::remote_state::active);
}

// The charge the row's link names, edited by hand at the provider so that it no longer claims the
// invoice at all (tag and stamp removed, its reference changed): the link still says it is this very
// charge, so charging the invoice again would take the money twice (within the provider's key window
// the same key replays the first charge; after it, a second one is made). Refused, as for an object
// that still claims the identity; the reconciler asks about it instead.
TEST_CASE("gateway: a charge whose linked object was edited by hand out of its identity is refused, not made again",
          "[payments][input]") {
    world<memory_db> w;
    auto first = w.gw.charge_invoice(w.invoice("ada", "INV-1", 1500));
    REQUIRE(first.what == pay::how::created);
    auto edited = w.bank.template get<pay::charge>(first.remote_id)->value;
    edited.reference = "INV-1 (disputed)";
    w.bank.edit_by_hand(first.remote_id, edited, {});
    w.clock.advance(std::chrono::hours(25));  // past the provider's 24 h key window: no replay saves it
    const auto creates = w.bank.stats().creates;
    std::optional<concord::errc> code;
    std::string message;
    try {
        w.gw.charge_invoice(w.invoice("ada", "INV-1", 1500));  // the host's retry of the same invoice
    } catch (const concord::error& e) {
        code = e.code();
        message = e.what();
    }
    CHECK(code == concord::errc::blocked);
    CHECK(message.find(first.remote_id) != std::string::npos);
    CHECK(w.bank.stats().creates == creates);  // no second charge
    CHECK(w.bank.money_taken("ada") == 1500);
}

// gateway::commit() of a session on a different database (not adopted) must do what
// timeline_session::commit() does there, as reconcile() does: remember the generation the session
// issued once it acted (no later session issues it again), and release the session's lock.
TEMPLATE_TEST_CASE("gateway: commit() of a session on a different database remembers its generation and releases the lock",
                   "[payments][timeline]", memory_db, sqlite_db) {
    world<TestType> w;
    w.gw.charge_invoice(w.invoice("bob", "INV-0", 700));  // the witness now names this database's lineage
    REQUIRE(w.witness.load());
    // Another database opened in its place: the same tables, another lineage.
    auto cp = *w.db.plans.load_checkpoint();
    cp.lineage = std::string(32, 'a');
    concord::change_batch<pay::payment_plan> b;
    b.new_checkpoint = cp;
    w.db.plans.commit(b);
    w.db.charges.put(w.invoice("ada", "INV-1", 1500));  // a row not pushed yet: a create, not destructive

    auto csrc = w.bank.charges();
    auto charges_r = concord::make_reconciler<trust_local>(w.db.charges, csrc, {.owner = w.owner, .entity_name = "charge"},
                                                           pay::charge_identity{});
    auto s = w.gw.begin();
    REQUIRE(s.kind() == concord::verdict::different_database);
    REQUIRE_FALSE(s.database_adopted());
    const auto issued = s.status().generation;
    auto rep = charges_r.apply(charges_r.plan(s), s);
    REQUIRE(w.bank.stats().creates == 2);  // the create went ahead (nothing destructive was asked)
    w.gw.commit(s);
    CHECK_FALSE(s.holds_lock());
    auto saved = w.witness.load();
    REQUIRE(saved);
    CHECK(saved->generation == issued);  // remembered: no later session stamps objects with it again
    CHECK(saved->in_progress.empty());
    CHECK(w.gw.begin().status().generation > issued);
}
