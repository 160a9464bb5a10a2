// The payments gateway: a refund or plan cancel whose provider call timed out may still be applied by
// the provider later. Its row and link must not be put back then: a row linked to an object the
// provider cancels afterwards is a local_only case that the next trust_local reconcile creates again
// (the refunded invoice charged a second time, the cancelled plan billing again).
#include <chrono>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "sqlite_fixture.hpp"

using namespace payments_test;

TEMPLATE_TEST_CASE("gateway: a refund that timed out and is applied late never charges the invoice again",
                   "[payments][faults]", memory_db, sqlite_db) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    const auto inv = w.invoice("cus-1", "INV-1", 1500);
    const auto made = w.gw.charge_invoice(inv);
    // Every attempt times out before the provider applies it, and the look-up still sees the charge
    // active: the outcome is unknown.
    w.bank.inject(concord::fault::timeout_before, w.gw.options().retry.max_attempts);
    CHECK_THROWS(w.gw.refund("cus-1", "INV-1"));
    // The request was in flight after all: the provider refunds it now, under the gateway's key.
    const auto key = concord::idempotency_key(w.owner.text(), pay::charge_identity{}.key(inv),
                                              concord::operation{"cancel", 0, made.remote_id});
    w.bank.charges().cancel(made.remote_id, key);
    REQUIRE(w.bank.charges_for("cus-1", "INV-1") == 0);
    w.template reconcile<trust_local, trust_local>();
    CHECK(w.bank.stats().creates == 1);  // charged once, ever
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 0);
    CHECK(w.bank.money_taken("cus-1") == 0);
    CHECK_FALSE(has_row(w.db.charges, "INV-1"));
}

TEMPLATE_TEST_CASE("gateway: a refund that timed out and never arrived is completed by the reconcile",
                   "[payments][faults]", memory_db, sqlite_db) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    w.bank.inject(concord::fault::timeout_before, w.gw.options().retry.max_attempts);
    CHECK_THROWS(w.gw.refund("cus-1", "INV-1"));
    w.template reconcile<trust_local, trust_local>();
    if (has_row(w.db.charges, "INV-1")) w.gw.refund("cus-1", "INV-1");  // the user's retry
    CHECK(w.bank.stats().creates == 1);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 0);
    CHECK_FALSE(has_row(w.db.charges, "INV-1"));
}

TEMPLATE_TEST_CASE("gateway: a plan cancel that timed out and is applied late never re-creates the plan",
                   "[payments][faults]", memory_db, sqlite_db) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    const auto plan = w.monthly("cus-1", "gym/monthly", 2000);
    const auto made = w.gw.create_plan(plan);
    w.bank.inject(concord::fault::timeout_before, w.gw.options().retry.max_attempts);
    CHECK_THROWS(w.gw.cancel_plan("cus-1", "gym/monthly"));
    const auto key = concord::idempotency_key(w.owner.text(), pay::plan_identity{}.key(plan),
                                              concord::operation{"cancel", 0, made.remote_id});
    w.bank.plans().cancel(made.remote_id, key);
    REQUIRE(w.our_active_plans() == 0);
    w.template reconcile<trust_local, trust_local>();
    CHECK(w.bank.stats().creates == 1);
    CHECK(w.our_active_plans() == 0);
    w.clock.advance(std::chrono::hours(24 * 65));
    CHECK(w.bank.money_taken("cus-1") == 0);
    CHECK_FALSE(has_row(w.db.plans, "gym/monthly"));
}
