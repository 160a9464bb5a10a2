// A charge or payment plan with no positive amount (or a plan with no positive interval) is bad input:
// the gateway refuses it with errc::invalid_argument before anything is written. It used to reach the
// provider, which refused it with errc::remote_permanent after the gateway had marked the action in
// progress in the witness: the next session was reported `interrupted` by an action that never had a
// remote effect, and on the database's first session the stores had already been given a checkpoint.
// Real SQLite file, file witness beside it.

#include <cstdint>
#include <functional>
#include <optional>

#include <catch2/catch.hpp>

#include "sqlite_fixture.hpp"

using namespace payments_test;

namespace {

std::optional<concord::errc> code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    return std::nullopt;
}

} // namespace

TEST_CASE("gateway amounts: no positive amount is invalid_argument, nothing marked or sent", "[payments][gateway]") {
    world<sqlite_db> w;
    w.gw.charge_invoice(w.invoice("C1", "INV-1", 1000));  // a witness and a checkpoint exist
    const auto creates = w.bank.stats().creates;
    const auto before = w.witness.load();
    REQUIRE(before);
    REQUIRE(before->in_progress.empty());

    for (const std::int64_t cents : {std::int64_t{0}, std::int64_t{-500}}) {
        CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("C1", "INV-2", cents)); }) == concord::errc::invalid_argument);
        CHECK(code_of([&] { w.gw.create_plan(w.monthly("C1", "P-1", cents)); }) == concord::errc::invalid_argument);
    }
    for (const std::int64_t seconds : {std::int64_t{0}, std::int64_t{-month}}) {
        pay::payment_plan p{0, "C1", "P-1", 1000, seconds};
        CHECK(code_of([&] { w.gw.create_plan(p); }) == concord::errc::invalid_argument);
    }

    // Nothing reached the provider, nothing was written locally, and the witness is as it was: the
    // next session is not told an action was interrupted.
    CHECK(w.bank.stats().creates == creates);
    CHECK_FALSE(has_row(w.db.charges, "INV-2"));
    CHECK_FALSE(has_row(w.db.plans, "P-1"));
    const auto after = w.witness.load();
    REQUIRE(after);
    CHECK(after->in_progress.empty());
    CHECK(after->generation == before->generation);
    CHECK_FALSE(w.gw.begin().status().interrupted);

    // The same invoice with a valid amount is charged once.
    auto ok = w.gw.charge_invoice(w.invoice("C1", "INV-2", 700));
    CHECK(ok.what == pay::how::created);
    CHECK(w.bank.charges_for("C1", "INV-2") == 1);
}

TEST_CASE("gateway amounts: bad input on a database's first session writes neither store nor witness",
          "[payments][gateway]") {
    world<sqlite_db> w;
    CHECK(code_of([&] { w.gw.charge_invoice(w.invoice("C1", "INV-1", 0)); }) == concord::errc::invalid_argument);
    CHECK(code_of([&] { w.gw.create_plan(w.monthly("C1", "P-1", -1)); }) == concord::errc::invalid_argument);
    CHECK_FALSE(w.witness.load());
    CHECK_FALSE(w.db.plans.load_checkpoint());
    CHECK_FALSE(w.db.charges.load_checkpoint());
    CHECK(w.bank.stats().creates == 0);
}
