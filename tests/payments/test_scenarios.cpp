// The payment scenarios on the in-memory host database (fast; the SQLite run is in test_sqlite.cpp).
#include "fixture.hpp"
#define PAYMENTS_DB payments_test::memory_db
#include "scenarios.hpp"

TEST_CASE("another installation's folder opened here: its linked objects are not cancelled, refunded nor called done",
          "[payments][foreign]") {
    concord::manual_clock clock;
    pay::provider bank{[&] { return clock.now(); }};
    memory_db db1, db2;
    concord::memory_witness w1, w2;
    auto g2 = pay::make_gateway(bank, w2, db2.plans, db2.charges, {.owner = {"shop-2", "payments"}});
    g2.use_clock(clock);
    auto o = g2.create_plan({0, "alice", "P-A", 1000, month});
    auto c = g2.charge_invoice({0, "alice", "INV-1", 500});
    // shop-1's machine gets shop-2's folder, database and witness together: the same timeline.
    db1.restore(db2.backup());
    w1.set(w2.load());
    auto g1 = pay::make_gateway(bank, w1, db1.plans, db1.charges, {.owner = {"shop-1", "payments"}});
    g1.use_clock(clock);
    CHECK(g1.begin().status().kind == concord::verdict::same_timeline);
    CHECK(code_of([&] { g1.cancel_plan("alice", "P-A"); }) == concord::errc::blocked);
    CHECK(code_of([&] { g1.refund("alice", "INV-1"); }) == concord::errc::blocked);
    CHECK(code_of([&] { g1.create_plan({0, "alice", "P-A", 1000, month}); }) == concord::errc::blocked);
    CHECK(code_of([&] { g1.charge_invoice({0, "alice", "INV-1", 500}); }) == concord::errc::blocked);
    auto after = bank.get<pay::payment_plan>(o.remote_id);
    REQUIRE(after);
    CHECK(after->state == concord::remote_state::active);
    CHECK(bank.all<pay::payment_plan>().size() == 1);
    CHECK(bank.charges_for("alice", "INV-1") == 1);
    CHECK(bank.money_taken("alice") == 500);
    // shop-2 itself still cancels its own plan.
    CHECK(g2.cancel_plan("alice", "P-A").what == concord::payments::how::cancelled);
}
