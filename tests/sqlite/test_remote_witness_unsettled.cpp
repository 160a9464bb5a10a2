// remote_witness: a marker create whose outcome stayed unknown is replayed by the next save() under
// its key. Providers forget keys after about 24 hours: a replay after that makes a second marker, and
// the one the first create made must not stay active (a marker value that takes money would bill).

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include <concord/remote_witness.hpp>

#include "../support/store_conformance.hpp"

using concord::conformance::item;
using remote_t = concord::memory_remote<item>;
using witness_t = concord::remote_witness<remote_t>;

namespace {
concord::witness_record record(std::uint64_t gen) {
    concord::witness_record r;
    r.lineage = "0123456789abcdef0123456789abcdef";
    r.generation = gen;
    return r;
}
} // namespace

TEST_CASE("remote_witness: the marker of a create with an unknown outcome is cancelled even after its key expired",
          "[remote_witness]") {
    std::int64_t now = 1'700'000'000;
    remote_t remote([&] { return now; });
    remote.set_takes_money(true);  // a marker value that could take money, as a payment plan's would
    witness_t w(remote, {"host-1", "shop"});
    concord::manual_clock clock;
    w.use_clock(clock);
    w.set_retry({.max_attempts = 1});
    auto markers = [&](concord::remote_state st) {
        std::size_t n = 0;
        for (const auto& r : remote.all()) n += w.is_marker(r) && r.state == st;
        return n;
    };

    w.save(record(1));
    remote.inject(concord::fault::timeout_after);  // applied, the answer lost, no retry left
    CHECK_THROWS_AS(w.save(record(2)), concord::remote_error);
    REQUIRE(w.create_unsettled());
    REQUIRE(markers(concord::remote_state::active) == 1);  // the create went through

    SECTION("next save within the key's retention: the replay finds the marker and cancels it") {
        w.save(record(3));
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(remote.active_count() == 0);
        CHECK(w.load()->generation == 3);
    }
    SECTION("next save a day later, the key pruned: the marker of the unknown create is still cancelled") {
        now += 25 * 3600;
        w.save(record(3));
        CHECK(!w.create_unsettled());
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(remote.active_count() == 0);  // nothing left that could take money
        REQUIRE(w.load());
        CHECK(w.load()->generation == 3);
    }
    SECTION("a load in between (the next session's) does not lose it either") {
        now += 25 * 3600;
        REQUIRE(w.load());
        CHECK(w.load()->generation == 2);  // the unknown create did write the newest marker
        w.save(record(3));
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(w.load()->generation == 3);
    }
}
