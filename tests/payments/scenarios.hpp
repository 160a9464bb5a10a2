#pragma once
// Every way a charge can be duplicated or lost across restores, as stories. Included by a TU that
// defines PAYMENTS_DB (the host database type: memory_db or a real SQLite file).

#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

namespace payments_test {

inline concord::errc code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    return concord::errc::invalid_argument;  // "no error" marker for the checks below
}

inline std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

} // namespace payments_test

using namespace payments_test;
using concord::resolution;

TEMPLATE_TEST_CASE("redo within the key window after a restore adopts the charge", "[payments][redo]", PAYMENTS_DB) {
    world<TestType> w;
    w.template reconcile<trust_local>();  // first reconcile: the database gets its lineage
    auto b = w.db.backup();
    auto first = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    CHECK(first.what == concord::payments::how::created);
    w.db.restore(b);
    // Nothing new may happen on a restored database before a reconcile has looked at it.
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500)); }) == concord::errc::blocked);
    w.template reconcile<trust_local>();
    CHECK(w.last_charges_plan.count(concord::case_kind::orphan) == 1);
    auto redo = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    CHECK(redo.what == concord::payments::how::adopted);
    CHECK(redo.remote_id == first.remote_id);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    CHECK(w.bank.stats().creates == 1);
    w.template reconcile<trust_local>();
    CHECK(w.last_charges_plan.count(concord::case_kind::in_sync) == 1);
    CHECK(w.last_charges_plan.decisions.empty());
}

TEMPLATE_TEST_CASE("redo beyond the 24 h key window still adopts instead of charging twice", "[payments][redo]",
                   PAYMENTS_DB) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto b = w.db.backup();
    auto first = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    w.clock.advance(std::chrono::hours(25));
    REQUIRE(w.bank.retained_keys() == 0);  // the provider forgot the key
    w.db.restore(b);
    w.template reconcile<trust_local>();
    auto redo = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    CHECK(redo.what == concord::payments::how::adopted);
    CHECK(redo.remote_id == first.remote_id);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    CHECK(w.bank.money_taken("cus-1") == 1500);
    // A second redo is recognised locally: no provider call at all.
    const auto creates = w.bank.stats().creates;
    CHECK(w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500)).what == concord::payments::how::already_done);
    CHECK(w.bank.stats().creates == creates);
}

TEMPLATE_TEST_CASE("a timeout after the provider applied the charge is settled, not repeated", "[payments][faults]",
                   PAYMENTS_DB) {
    world<TestType> w;
    w.bank.inject(concord::fault::timeout_after);
    auto r = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    CHECK(r.what == concord::payments::how::created);
    CHECK(r.attempts == 1);  // settled by looking the key up
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    // Rate limited and unavailable first (checked before idempotency), then through with the same key.
    w.bank.inject(concord::fault::rate_limit);
    w.bank.inject(concord::fault::transient);
    w.bank.inject(concord::fault::timeout_before);
    auto r2 = w.gw.charge_invoice(w.invoice("cus-2", "INV-2", 900));
    CHECK(r2.attempts == 4);
    CHECK(w.clock.slept_ms() > 0);
    CHECK(w.bank.charges_for("cus-2", "INV-2") == 1);
    CHECK(w.db.charges.size() == 2);
}

TEMPLATE_TEST_CASE("a crash between the provider call and the local write is completed by the redo",
                   "[payments][crash]", PAYMENTS_DB) {
    const char* where = GENERATE("after provider call", "before local commit");
    world<TestType> w;
    w.template reconcile<trust_local>();
    w.gw.set_step_hook([&](std::string_view s) {
        if (s == where) throw std::runtime_error("simulated crash");
    });
    CHECK_THROWS(w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500)));
    CHECK(w.db.charges.size() == 0);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    REQUIRE(w.witness.load());
    CHECK_FALSE(w.witness.load()->in_progress.empty());  // the interrupted action is on record
    w.gw.set_step_hook({});
    auto redo = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    CHECK(redo.what == concord::payments::how::adopted);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    CHECK(w.db.charges.size() == 1);
    CHECK(w.witness.load()->in_progress.empty());
}

TEMPLATE_TEST_CASE("a restore during an open decision keeps the decision and the quarantine", "[payments][decisions]",
                   PAYMENTS_DB) {
    world<TestType> w;
    w.template reconcile<ask_orphans>();
    auto b = w.db.backup();
    auto plan = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    w.db.restore(b);
    auto p1 = w.template reconcile<ask_orphans>();
    REQUIRE(p1.decisions.size() == 1);
    CHECK(p1.decisions[0].kind == concord::case_kind::orphan);
    CHECK(w.gw.current_quarantine().blocks("cus-1"));

    w.db.restore(b);  // the user restores again while the decision is open
    auto p2 = w.template reconcile<ask_orphans>();
    REQUIRE(p2.decisions.size() == 1);
    CHECK(p2.decisions[0].id == p1.decisions[0].id);  // the same situation, the same decision
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 100)); }) == concord::errc::blocked);

    w.book.record(p2.decisions[0].id, resolution::cancel_remote);  // answered (outside the restore scope)...
    w.db.restore(b);                                               // ...then restored once more
    auto p3 = w.template reconcile<ask_orphans>();
    CHECK(p3.decisions.empty());
    CHECK(w.bank.template get<concord::payments::payment_plan>(plan.remote_id)->state == concord::remote_state::cancelled);
    CHECK(w.our_active_plans() == 0);
    CHECK_FALSE(w.gw.current_quarantine().blocks("cus-1"));
    CHECK(w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 100)).what == concord::payments::how::created);
    w.clock.advance(std::chrono::hours(24 * 90));
    CHECK(w.bank.money_taken("cus-1") == 100);  // the orphan plan never reached a billing date
}

TEMPLATE_TEST_CASE("two restores in a row: orphans cancelled, redone work adopted, money taken once",
                   "[payments][restore]", PAYMENTS_DB) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto a = w.db.backup();
    auto p1 = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    auto c1 = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    auto bk = w.db.backup();
    auto p2 = w.gw.create_plan(w.monthly("cus-2", "pool", 3000));
    auto c2 = w.gw.charge_invoice(w.invoice("cus-2", "INV-2", 900));

    w.db.restore(bk);
    w.template reconcile<trust_local>();
    CHECK(w.bank.template get<concord::payments::payment_plan>(p2.remote_id)->state == concord::remote_state::cancelled);
    CHECK(w.bank.template get<concord::payments::payment_plan>(p1.remote_id)->state == concord::remote_state::active);
    w.db.restore(a);
    w.template reconcile<trust_local>();
    CHECK(w.our_active_plans() == 0);

    // The user redoes everything: charges are adopted; plans, which the reconcile cancelled, start anew.
    CHECK(w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500)).remote_id == c1.remote_id);
    CHECK(w.gw.charge_invoice(w.invoice("cus-2", "INV-2", 900)).remote_id == c2.remote_id);
    auto n1 = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    CHECK(n1.what == concord::payments::how::created);
    CHECK(n1.remote_id != p1.remote_id);
    w.gw.create_plan(w.monthly("cus-2", "pool", 3000));
    CHECK(w.our_active_plans() == 2);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    CHECK(w.bank.charges_for("cus-2", "INV-2") == 1);
    w.template reconcile<trust_local>();
    CHECK(w.our_active_plans() == 2);  // the new plans are in sync, not orphans
    w.clock.advance(std::chrono::hours(24 * 31));
    CHECK(w.bank.money_taken("cus-1") == 1500 + 2000);  // one invoice, one month of one plan
    CHECK(w.bank.money_taken("cus-2") == 900 + 3000);
}

TEMPLATE_TEST_CASE("the other integrator's look-alike objects are never touched nor adopted", "[payments][foreign]",
                   PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto b = w.db.backup();
    auto crm = w.bank.other_integrator("crm");
    const auto ours = w.owner.text();
    const auto gym_id = pay::plan_identity{}.key(w.monthly("cus-1", "gym", 2000)).hex();
    std::vector<std::string> foreign_ids;
    auto add = [&](pay::payment_plan p, concord::metadata m) { foreign_ids.push_back(crm.create(p, std::move(m)).remote_id); };
    add(w.monthly("cus-1", "crm-plan", 500), {{"owner", "crm"}});
    add(w.monthly("cus-1", "gym-x", 500), {{"concord_owner", ours}});                                   // no identity
    add(w.monthly("cus-1", "gym-x", 500), {{"concord_owner", ours}, {"concord_id", gym_id}, {"concord_gen", "1"}});  // identity of other content
    add(w.monthly("cus-1", "gym", 2000), {{"concord_owner", ours}, {"concord_id", gym_id}, {"concord_gen", "999999"}});  // never committed
    add(w.monthly("cus-1", "gym", 2000), {{"concord_owner", "concord/v1:shop-2:payments"}, {"concord_id", gym_id}, {"concord_gen", "1"}});
    add(w.monthly("cus-1", "gym", 2000), {{"concord_owner", "concord/v9:shop-1:payments"}});  // malformed
    auto crm_charge = crm.create(w.invoice("cus-1", "INV-1", 1500), {{"concord_owner", ours}, {"concord_gen", "1"}});

    w.gw.create_plan(w.monthly("cus-2", "pool", 3000));
    w.db.restore(b);
    auto p = w.template reconcile<trust_local>();
    CHECK(p.count(concord::case_kind::foreign) == foreign_ids.size());
    CHECK(p.count(concord::case_kind::orphan) == 1);  // only our own pool plan
    for (const auto& id : foreign_ids)
        CHECK(w.bank.template get<pay::payment_plan>(id)->state == concord::remote_state::active);
    CHECK_FALSE(w.gw.current_quarantine().blocks("cus-1"));  // their plans are not our orphans

    // Look-alikes that stand for an identity (its content, or our tag stamped with it) are neither
    // adopted nor created beside: the action is refused until they are settled.
    const auto creates = w.bank.stats().creates;
    CHECK(code_of([&] { w.gw.create_plan(w.monthly("cus-1", "gym", 2000)); }) == concord::errc::blocked);
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500)); }) == concord::errc::blocked);
    CHECK(w.bank.stats().creates == creates);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);  // the CRM's, nothing more
    auto g = w.gw.create_plan(w.monthly("cus-1", "yoga", 2000));
    CHECK(g.what == pay::how::created);  // not one of the look-alikes
    CHECK(std::find(foreign_ids.begin(), foreign_ids.end(), g.remote_id) == foreign_ids.end());
    auto c = w.gw.charge_invoice(w.invoice("cus-1", "INV-2", 1500));
    CHECK(c.what == pay::how::created);
    CHECK(c.remote_id != crm_charge.remote_id);
    w.template reconcile<trust_local>();
    for (const auto& id : foreign_ids)
        CHECK(w.bank.template get<pay::payment_plan>(id)->state == concord::remote_state::active);
    CHECK(w.bank.template get<pay::charge>(crm_charge.remote_id)->state == concord::remote_state::active);
}

TEMPLATE_TEST_CASE("orphaned plans are cancelled, imported or put to the user, by policy", "[payments][orphans]",
                   PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto b = w.db.backup();
    auto plan = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    w.db.restore(b);
    auto state = [&] { return w.bank.template get<pay::payment_plan>(plan.remote_id)->state; };

    SECTION("trust_local cancels it") {
        auto p = w.template reconcile<trust_local>();
        CHECK(p.count(concord::case_kind::orphan) == 1);
        CHECK(state() == concord::remote_state::cancelled);
        CHECK(w.db.plans.size() == 0);
    }
    SECTION("trust_remote imports it") {
        w.template reconcile<trust_remote>();
        CHECK(state() == concord::remote_state::active);
        REQUIRE(w.db.plans.size() == 1);
        CHECK(w.db.plans.scan().front().reference == "gym");
        auto again = w.template reconcile<trust_remote>();
        CHECK(again.count(concord::case_kind::in_sync) == 1);
        CHECK(w.gw.current_quarantine().empty());
        // The imported plan is linked: the gateway recognises it without a provider call.
        CHECK(w.gw.create_plan(w.monthly("cus-1", "gym", 2000)).what == pay::how::already_done);
    }
    SECTION("ask_user puts it to the user; money-taking orphans are flagged and quarantine the customer") {
        auto p = w.template reconcile<ask_orphans>();
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions[0].summary.find("[can take money]") != std::string::npos);
        CHECK(p.decisions[0].options.size() == 2);
        w.clock.advance(std::chrono::hours(24 * 31));  // unresolved past its billing date: it takes money
        CHECK(w.bank.money_taken("cus-1") == 2000);
        w.template reconcile<ask_orphans>([](const auto&) { return resolution::import_local; });
        CHECK(state() == concord::remote_state::active);
        CHECK(w.db.plans.size() == 1);
        CHECK(w.gw.current_quarantine().empty());
    }
}

TEMPLATE_TEST_CASE("quarantine refuses charge-capable actions for the orphan's customer only", "[payments][quarantine]",
                   PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<ask_orphans>();
    auto kept = w.gw.create_plan(w.monthly("cus-1", "newsletter", 300));
    auto paid = w.gw.charge_invoice(w.invoice("cus-1", "INV-0", 800));
    auto b = w.db.backup();
    auto orphan = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    w.db.restore(b);
    w.template reconcile<ask_orphans>();

    auto q = w.gw.current_quarantine();
    REQUIRE(q.entries().size() == 1);
    CHECK(q.entries()[0].customer == "cus-1");
    CHECK(q.entries()[0].plan_ids == std::vector<std::string>{orphan.remote_id});
    const auto msg = message_of([&] { w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 100)); });
    CHECK(msg.find("blocked") == 0);
    CHECK(msg.find("quarantined") != std::string::npos);
    CHECK(msg.find(orphan.remote_id) != std::string::npos);
    CHECK(code_of([&] { w.gw.create_plan(w.monthly("cus-1", "yoga", 900)); }) == concord::errc::blocked);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 0);
    // Other customers carry on; actions that give money back or stop charges are allowed.
    CHECK(w.gw.charge_invoice(w.invoice("cus-2", "INV-2", 100)).what == pay::how::created);
    CHECK(w.gw.refund("cus-1", "INV-0").what == pay::how::cancelled);
    CHECK(w.bank.money_taken("cus-1") == 0);
    CHECK(w.gw.cancel_plan("cus-1", "newsletter").remote_id == kept.remote_id);
    CHECK(code_of([&] { w.gw.refund("cus-9", "INV-0"); }) == concord::errc::invalid_argument);  // not ours to refund
    (void)paid;

    w.template reconcile<ask_orphans>([](const auto&) { return resolution::cancel_remote; });
    CHECK(w.gw.current_quarantine().empty());
    CHECK(w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 100)).what == pay::how::created);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
}

TEMPLATE_TEST_CASE("redoing the undone plan adopts the orphan instead of adding a second plan", "[payments][redo]",
                   PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<ask_orphans>();
    auto b = w.db.backup();
    auto gym = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    w.db.restore(b);
    auto p = w.template reconcile<ask_orphans>();
    REQUIRE(p.decisions.size() == 1);
    REQUIRE(w.gw.current_quarantine().blocks("cus-1"));
    // Another plan for the quarantined customer is refused; the very plan the restore undid is claimed.
    CHECK(code_of([&] { w.gw.create_plan(w.monthly("cus-1", "yoga", 900)); }) == concord::errc::blocked);
    auto redo = w.gw.create_plan(w.monthly("cus-1", "gym", 2000));
    CHECK(redo.what == pay::how::adopted);
    CHECK(redo.remote_id == gym.remote_id);
    CHECK(w.gw.current_quarantine().empty());
    CHECK(w.our_active_plans() == 1);
    auto again = w.template reconcile<ask_orphans>();
    CHECK(again.decisions.empty());  // the orphan decision is gone: the plan has its owner back
    CHECK(again.count(concord::case_kind::in_sync) == 1);
    w.clock.advance(std::chrono::hours(24 * 31));
    CHECK(w.bank.money_taken("cus-1") == 2000);  // one plan, one month
}

TEMPLATE_TEST_CASE("the same invoice with another amount is refused, never charged twice nor adopted",
                   "[payments][redo]", PAYMENTS_DB) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto b = w.db.backup();
    w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    // Linked locally: the existing charge is not silently reported as done.
    const auto msg = message_of([&] { w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1600)); });
    CHECK(msg.find("invalid_argument") == 0);
    CHECK(msg.find("amount_cents") != std::string::npos);
    // After a restore (no local row, no link): the provider's charge is not adopted for another amount.
    w.db.restore(b);
    w.template reconcile<trust_local>();
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1600)); }) == concord::errc::invalid_argument);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    CHECK(w.bank.money_taken("cus-1") == 1500);
    CHECK(w.db.charges.size() == 0);
}

TEMPLATE_TEST_CASE("a plan and a charge with the same customer and reference are apart: identity, decision",
                   "[payments][identity]", PAYMENTS_DB) {
    namespace pay = concord::payments;
    using ask = concord::policy::ask_user;
    world<TestType> w;
    CHECK(pay::plan_identity{}.key(w.monthly("ada", "INV-7", 2000)) != pay::charge_identity{}.key(w.invoice("ada", "INV-7", 1500)));
    // Scoped again (a tenant), the type's scope stays inside the key.
    CHECK(concord::identity::scoped<pay::plan_identity>("t1").key(w.monthly("ada", "INV-7", 2000)) !=
          concord::identity::scoped<pay::charge_identity>("t1").key(w.invoice("ada", "INV-7", 1500)));
    w.template reconcile<ask, ask>();
    w.db.plans.put(w.monthly("ada", "INV-7", 2000));  // local rows the provider does not have yet
    w.db.charges.put(w.invoice("ada", "INV-7", 1500));
    // One decision book for both types, and reconcilers left with the default entity_name: only the
    // identities tell the plan's question from the charge's.
    auto src = w.bank.plans();
    auto csrc = w.bank.charges();
    auto plans_r = concord::make_reconciler<ask>(w.db.plans, src, {.owner = w.owner}, pay::plan_identity{});
    auto charges_r = concord::make_reconciler<ask>(w.db.charges, csrc, {.owner = w.owner}, pay::charge_identity{});
    plans_r.use_decision_book(w.book);
    charges_r.use_decision_book(w.book);
    auto s = w.gw.begin();
    auto pp = plans_r.plan(s);
    REQUIRE(pp.decisions.size() == 1);
    plans_r.answer(pp, pp.decisions[0].id, resolution::create_remote);  // the user answers the plan's question only
    pp = plans_r.plan(s);
    plans_r.apply(pp, s);
    auto cp = charges_r.plan(s);
    charges_r.apply(cp, s);
    w.gw.commit(s);
    CHECK(w.our_active_plans() == 1);
    CHECK(cp.decisions.size() == 1);                 // the charge is still asked about...
    CHECK(w.bank.charges_for("ada", "INV-7") == 0);  // ...and was not charged on the plan's answer
    CHECK(w.bank.money_taken("ada") == 0);
}

TEMPLATE_TEST_CASE("an object with the identity that is not provably ours refuses the action, never a second charge",
                   "[payments][foreign]", PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto dashboard = w.bank.other_integrator("dashboard");
    const auto ours = w.owner.text();
    std::string lookalike;
    SECTION("untagged, same content (our charge, its metadata edited away)") {
        lookalike = dashboard.create(w.invoice("ada", "INV-1", 1500), {}).remote_id;
    }
    SECTION("our tag and this identity, a generation concord never committed") {
        const auto id = pay::charge_identity{}.key(w.invoice("ada", "INV-1", 1500)).hex();
        lookalike = dashboard.create(w.invoice("ada", "INV-1", 1500),
                                     {{"concord_owner", ours}, {"concord_id", id}, {"concord_gen", "999999"}}).remote_id;
    }
    SECTION("our tag stamped with this identity, content edited to another reference") {
        const auto id = pay::charge_identity{}.key(w.invoice("ada", "INV-1", 1500)).hex();
        lookalike = dashboard.create(w.invoice("ada", "INV-1-edited", 1500),
                                     {{"concord_owner", ours}, {"concord_id", id}, {"concord_gen", "1"}}).remote_id;
    }
    const auto taken = w.bank.money_taken("ada");
    const auto charged = w.bank.charges_for("ada", "INV-1");
    const auto msg = message_of([&] { w.gw.charge_invoice(w.invoice("ada", "INV-1", 1500)); });
    CHECK(msg.find("blocked") == 0);
    CHECK(msg.find(lookalike) != std::string::npos);
    CHECK(msg.find("not provably ours") != std::string::npos);
    CHECK(msg.find("reconcile") != std::string::npos);
    CHECK(w.bank.money_taken("ada") == taken);  // no second charge
    CHECK(w.bank.charges_for("ada", "INV-1") == charged);
    CHECK(w.db.charges.size() == 0);
    CHECK(w.bank.template get<pay::charge>(lookalike)->state == concord::remote_state::active);  // not touched
    // Another invoice of the customer is not concerned.
    CHECK(w.gw.charge_invoice(w.invoice("ada", "INV-2", 900)).what == pay::how::created);
}

TEMPLATE_TEST_CASE("a plan look-alike with the identity refuses create_plan", "[payments][foreign]", PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto crm = w.bank.other_integrator("crm");
    auto lookalike = crm.create(w.monthly("bob", "gym", 2000), {{"owner", "crm"}});
    CHECK(code_of([&] { w.gw.create_plan(w.monthly("bob", "gym", 2000)); }) == concord::errc::blocked);
    w.clock.advance(std::chrono::hours(24 * 31));
    CHECK(w.bank.money_taken("bob") == 2000);  // the look-alike's month only: no second plan
    CHECK(w.our_active_plans() == 0);
    CHECK(w.bank.template get<pay::payment_plan>(lookalike.remote_id)->state == concord::remote_state::active);
}

TEMPLATE_TEST_CASE("adopting one plan of a duplicate group leaves the customer quarantined by the other",
                   "[payments][quarantine]", PAYMENTS_DB) {
    namespace pay = concord::payments;
    using ask = concord::policy::ask_user;
    world<TestType> w;
    w.template reconcile<ask, ask>();
    auto b = w.db.backup();
    auto p1 = w.gw.create_plan(w.monthly("bob", "gym", 2000));
    const auto rec = *w.bank.template get<pay::payment_plan>(p1.remote_id);
    auto p2 = w.bank.other_integrator("x").create(w.monthly("bob", "gym", 2000), rec.meta);  // a second one, same stamp
    w.db.restore(b);
    auto p = w.template reconcile<ask, ask>();
    REQUIRE(p.count(concord::case_kind::duplicate) == 1);
    REQUIRE(w.gw.current_quarantine().blocks("bob"));

    // The redo would adopt one of them; the other keeps billing bob without an owner.
    const auto msg = message_of([&] { w.gw.create_plan(w.monthly("bob", "gym", 2000)); });
    CHECK(msg.find("blocked") == 0);
    CHECK(msg.find(p2.remote_id) != std::string::npos);
    CHECK(w.db.plans.size() == 0);
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("bob", "INV-9", 100)); }) == concord::errc::blocked);
    CHECK(w.gw.current_quarantine().blocks("bob"));

    // The way out: the duplicate is settled (keep the oldest), then the redo claims the survivor.
    w.template reconcile<ask, ask>([](const auto& d) {
        return d.kind == concord::case_kind::duplicate ? resolution::keep_oldest : resolution::ask;
    });
    CHECK(w.bank.template get<pay::payment_plan>(p2.remote_id)->state == concord::remote_state::cancelled);
    auto redo = w.gw.create_plan(w.monthly("bob", "gym", 2000));
    CHECK(redo.what == pay::how::adopted);
    CHECK(redo.remote_id == p1.remote_id);
    CHECK(w.gw.current_quarantine().empty());
    CHECK(w.gw.charge_invoice(w.invoice("bob", "INV-9", 100)).what == pay::how::created);
    w.clock.advance(std::chrono::hours(24 * 31));
    CHECK(w.bank.money_taken("bob") == 2000 + 100);  // one plan, one month, one invoice
}

TEMPLATE_TEST_CASE("a second plan of ours beside the linked one quarantines its customer", "[payments][quarantine]",
                   PAYMENTS_DB) {
    namespace pay = concord::payments;
    world<TestType> w;
    w.template reconcile<trust_local>();
    auto p1 = w.gw.create_plan(w.monthly("bob", "gym", 2000));
    const auto rec = *w.bank.template get<pay::payment_plan>(p1.remote_id);
    auto p2 = w.bank.other_integrator("x").create(w.monthly("bob", "gym", 2000), rec.meta);
    auto q = w.gw.current_quarantine();
    REQUIRE(q.entries().size() == 1);
    CHECK(q.entries()[0].customer == "bob");
    CHECK(q.entries()[0].plan_ids == std::vector<std::string>{p2.remote_id});  // the linked plan has its owner
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("bob", "INV-9", 100)); }) == concord::errc::blocked);
    CHECK(w.bank.charges_for("bob", "INV-9") == 0);
    auto p = w.template reconcile<trust_local>();  // keep_oldest: the extra plan is cancelled
    CHECK(w.bank.template get<pay::payment_plan>(p2.remote_id)->state == concord::remote_state::cancelled);
    CHECK(w.gw.current_quarantine().empty());
    CHECK(w.gw.charge_invoice(w.invoice("bob", "INV-9", 100)).what == pay::how::created);
}

TEMPLATE_TEST_CASE("a crash in the first action before any reconcile does not make the database a stranger",
                   "[payments][crash]", PAYMENTS_DB) {
    const char* where = GENERATE("after provider call", "before local commit");
    world<TestType> w;  // no reconcile yet: the gateway's session is the database's first
    w.gw.set_step_hook([&](std::string_view s) {
        if (s == where) throw std::runtime_error("simulated crash");
    });
    CHECK_THROWS(w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500)));
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    w.gw.set_step_hook({});
    auto redo = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    CHECK(redo.what == concord::payments::how::adopted);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 1);
    CHECK(w.db.charges.size() == 1);
    auto p = w.template reconcile<trust_local>();
    CHECK(p.timeline.kind == concord::verdict::same_timeline);
    CHECK(w.last_charges_plan.count(concord::case_kind::in_sync) == 1);
    CHECK(w.last_charges_plan.decisions.empty());
    CHECK(w.bank.money_taken("cus-1") == 1500);
}

TEMPLATE_TEST_CASE("a linked plan taken over by another system is neither cancelled nor called done",
                   "[payments][foreign]", PAYMENTS_DB) {
    world<TestType> w;
    auto plan = w.gw.create_plan(w.monthly("alice", "P-A", 1000));
    // Another system holding the account key re-purposes the plan for a customer of its own; our tag
    // and stamp stay in its metadata, the link still names it.
    w.bank.plans().update(plan.remote_id, pay::payment_plan{0, "zed", "THEIR-PLAN", 4200, month}, "their-key-1");

    CHECK(code_of([&] { w.gw.cancel_plan("alice", "P-A"); }) == concord::errc::blocked);
    CHECK(message_of([&] { w.gw.cancel_plan("alice", "P-A"); }).find("not provably ours") != std::string::npos);
    auto p = w.bank.template get<pay::payment_plan>(plan.remote_id);
    REQUIRE(p);
    CHECK(p->state == concord::remote_state::active);
    CHECK(p->value.customer == "zed");
    // Redoing the plan is not "already done" against zed's object, nor a second plan beside it.
    CHECK(code_of([&] { w.gw.create_plan(w.monthly("alice", "P-A", 1000)); }) == concord::errc::blocked);
    CHECK(w.bank.template all<pay::payment_plan>().size() == 1);
    CHECK(w.db.plans.size() == 1);  // the local row stays until the user settles it in a reconcile
}
