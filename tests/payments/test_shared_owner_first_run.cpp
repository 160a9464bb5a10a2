// Two host databases of one installation (the same owner tag) with the payments gateway on one
// provider account: the second database's first reconcile must not stop the first one's payment
// plan or refund its charge. Nothing proves they are from the second database's lost history.
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace payments_test;

TEST_CASE("gateway: a second database's first reconcile leaves the first one's plans and charges alone",
          "[payments][ownership]") {
    world<memory_db> a;
    // Both made by A's first reconcile, so both carry generation 1, one B's first session commits too.
    a.db.plans.put(a.monthly("cus-1", "gold", 900));
    a.db.charges.put(a.invoice("cus-1", "INV-1", 1500));
    a.template reconcile<trust_local, trust_local>();
    REQUIRE(a.our_active_plans() == 1);
    REQUIRE(a.bank.charges_for("cus-1", "INV-1") == 1);

    // Database B: same configuration (owner tag), its own stores and witness, the same provider.
    memory_db b;
    auto b_witness = b.make_witness();
    world<memory_db>::gateway_type b_gw{a.bank, b_witness, b.plans, b.charges, {.owner = a.owner}};
    b_gw.use_clock(a.clock);
    auto src = a.bank.plans();
    auto csrc = a.bank.charges();
    auto plans_r = concord::make_reconciler<trust_local>(b.plans, src, {.owner = a.owner, .entity_name = "payment_plan"},
                                                         pay::plan_identity{});
    auto charges_r = concord::make_reconciler<trust_local>(b.charges, csrc, {.owner = a.owner, .entity_name = "charge"},
                                                           pay::charge_identity{});
    auto s = b_gw.begin();
    REQUIRE(s.kind() == concord::verdict::first_run);
    const auto pp = plans_r.plan(s);
    plans_r.apply(pp, s);
    const auto cp = charges_r.plan(s);
    charges_r.apply(cp, s);
    b_gw.commit(s);

    CHECK(a.our_active_plans() == 1);                       // A's customer is still billed
    CHECK(a.bank.charges_for("cus-1", "INV-1") == 1);       // A's charge is not refunded
    CHECK(pp.decisions.size() == 1);                        // asked instead
    CHECK(cp.decisions.size() == 1);
}
