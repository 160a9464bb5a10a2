// The simulated provider behaves like a real one: key retention and pruning, parameter conflicts,
// rate limits before idempotency, metadata limits, cursor paging, lagging search, plan schedules.

#include <catch2/catch.hpp>

#include <concord/concepts/remote_source.hpp>
#include <concord/payments/provider.hpp>

namespace pay = concord::payments;

namespace {
struct account {
    concord::manual_clock clock;
    pay::provider bank{[this] { return clock.now(); }};
};
concord::metadata tag(std::string v) { return {{"owner", std::move(v)}}; }
} // namespace

static_assert(concord::remote_can_create<pay::provider::source<pay::charge>>);
static_assert(concord::remote_can_cancel<pay::provider::source<pay::charge>>);
static_assert(!concord::remote_can_update<pay::provider::source<pay::charge>>, "charges cannot be changed");
static_assert(concord::remote_can_update<pay::provider::source<pay::payment_plan>>);
static_assert(concord::remote_can_lookup_key<pay::provider::source<pay::payment_plan>>);
static_assert(concord::remote_has_metadata<pay::provider::source<pay::customer>>);
static_assert(concord::remote_can_list_since<pay::provider::source<pay::charge>>);

TEST_CASE("a retained key replays, a key pruned after 24 h is a new request that charges again", "[provider]") {
    account a;
    auto charges = a.bank.charges();
    const pay::charge c{0, "cus-1", "INV-1", 1500};
    auto first = charges.create(c, tag("x"), "key-1");
    a.clock.advance(std::chrono::hours(23));
    auto replay = charges.create(c, tag("x"), "key-1");
    CHECK(replay.remote_id == first.remote_id);
    CHECK(a.bank.stats().replays == 1);
    CHECK(a.bank.charges_for("cus-1", "INV-1") == 1);
    a.clock.advance(std::chrono::hours(2));  // 25 h after the first call: the key is gone
    CHECK(a.bank.retained_keys() == 0);
    CHECK_FALSE(charges.find_by_key("key-1"));
    auto again = charges.create(c, tag("x"), "key-1");
    CHECK(again.remote_id != first.remote_id);
    CHECK(a.bank.charges_for("cus-1", "INV-1") == 2);  // why keys alone cannot protect a late redo
    CHECK(a.bank.money_taken("cus-1") == 3000);
}

TEST_CASE("the same key with other parameters (metadata included) is refused", "[provider]") {
    account a;
    auto charges = a.bank.charges();
    charges.create({0, "cus-1", "INV-1", 1500}, tag("x"), "key-1");
    auto code_of = [&](const pay::charge& c, const concord::metadata& m) {
        try {
            charges.create(c, m, "key-1");
        } catch (const concord::remote_error& e) {
            return e.code();
        }
        return concord::errc::invalid_argument;
    };
    CHECK(code_of({0, "cus-1", "INV-1", 1600}, tag("x")) == concord::errc::idempotency_conflict);
    CHECK(code_of({0, "cus-1", "INV-1", 1500}, tag("y")) == concord::errc::idempotency_conflict);
    CHECK(a.bank.charges_for("cus-1", "INV-1") == 1);
}

TEST_CASE("rate limits are checked before idempotency", "[provider]") {
    concord::manual_clock clock;
    pay::provider bank([&] { return clock.now(); }, {.requests_per_second = 2});
    auto charges = bank.charges();
    const pay::charge c{0, "cus-1", "INV-1", 1500};
    charges.create(c, {}, "key-1");
    charges.create(c, {}, "key-1");  // replay, second request this second
    try {
        charges.create(c, {}, "key-1");  // a retry of an applied request, refused for another reason
        FAIL("expected a 429");
    } catch (const concord::remote_error& e) {
        CHECK(e.code() == concord::errc::remote_rate_limited);
        CHECK(e.retryable());
    }
    clock.advance(std::chrono::seconds(1));
    CHECK(charges.create(c, {}, "key-1").remote_id == "ch_1");
    CHECK(bank.stats().rate_limited == 1);
    CHECK(bank.charges_for("cus-1", "INV-1") == 1);
}

TEST_CASE("metadata is held to the provider's limits", "[provider]") {
    account a;
    auto customers = a.bank.customers();
    concord::metadata many;
    for (int i = 0; i < 51; ++i) many["k" + std::to_string(i)] = "v";
    auto code_of = [&](const concord::metadata& m) {
        try {
            customers.create({0, "cus-1", "Ada"}, m, "key-" + std::to_string(m.size()) + m.begin()->first);
        } catch (const concord::error& e) {
            return e.code();
        }
        return concord::errc::invalid_argument;
    };
    CHECK(code_of(many) == concord::errc::metadata_limit);
    CHECK(code_of({{std::string(41, 'n'), "v"}}) == concord::errc::metadata_limit);
    CHECK(code_of({{"n", std::string(501, 'v')}}) == concord::errc::metadata_limit);
    CHECK(a.bank.all<pay::customer>().empty());
    CHECK_NOTHROW(customers.create({0, "cus-1", "Ada"}, {{std::string(40, 'n'), std::string(500, 'v')}}, "ok"));
}

TEST_CASE("listings page by cursor, search lags behind the list", "[provider]") {
    account a;
    auto plans = a.bank.plans();
    for (int i = 0; i < 5; ++i)
        plans.create({0, "cus-" + std::to_string(i), "P", 100, pay::provider::options{}.key_retention_seconds},
                     {{"k", "ours"}}, "key-" + std::to_string(i));
    auto p1 = plans.list(std::nullopt, 2);
    REQUIRE(p1.items.size() == 2);
    CHECK(p1.has_more);
    auto p2 = plans.list(p1.items.back().seq, 2);
    auto p3 = plans.list(p2.items.back().seq, 2);
    CHECK(p2.items.front().seq > p1.items.back().seq);
    CHECK(p3.items.size() == 1);
    CHECK_FALSE(p3.has_more);
    CHECK(a.bank.search<pay::payment_plan>("k", "ours").empty());  // fresh objects are not indexed yet
    a.clock.advance(std::chrono::minutes(61));
    CHECK(a.bank.search<pay::payment_plan>("k", "ours").size() == 5);
    CHECK(plans.list_created_since(a.clock.now(), std::nullopt, 10).items.empty());
}

TEST_CASE("an active plan charges on its schedule until cancelled, cancelling a charge refunds it", "[provider]") {
    account a;
    auto plans = a.bank.plans();
    auto p = plans.create({0, "cus-1", "gym", 2000, 7 * 24 * 3600}, {}, "plan-key");
    CHECK(p.takes_money);
    a.clock.advance(std::chrono::hours(24 * 7 * 3 + 1));  // three billing dates passed
    CHECK(a.bank.money_taken("cus-1") == 6000);
    CHECK(a.bank.ledger().back().reference == "gym#3");
    auto cancelled = plans.cancel(p.remote_id, "cancel-key");
    CHECK(cancelled.state == concord::remote_state::cancelled);
    CHECK_FALSE(cancelled.takes_money);
    a.clock.advance(std::chrono::hours(24 * 7 * 5));
    CHECK(a.bank.money_taken("cus-1") == 6000);  // no charge after the cancel

    auto charges = a.bank.charges();
    auto c = charges.create({0, "cus-2", "INV-9", 700}, {}, "charge-key");
    CHECK(a.bank.money_taken("cus-2") == 700);
    charges.cancel(c.remote_id, "refund-key");
    charges.cancel(c.remote_id, "refund-key");  // replayed, refunds once
    CHECK(a.bank.money_taken("cus-2") == 0);
    CHECK(a.bank.stats().cancels == 2);
    CHECK_THROWS_AS(plans.create({0, "cus-1", "bad", 0, 10}, {}, "k0"), concord::remote_error);
}

TEST_CASE("injected faults: a timeout after the call applied it, then the retry replays", "[provider]") {
    account a;
    auto charges = a.bank.charges();
    a.bank.inject(concord::fault::timeout_after);
    CHECK_THROWS_AS(charges.create({0, "cus-1", "INV-1", 100}, {}, "k"), concord::remote_error);
    CHECK(charges.find_by_key("k").has_value());
    CHECK(charges.create({0, "cus-1", "INV-1", 100}, {}, "k").remote_id == charges.find_by_key("k")->remote_id);
    CHECK(a.bank.charges_for("cus-1", "INV-1") == 1);
}
