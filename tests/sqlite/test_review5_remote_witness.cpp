// Fifth review: remote_witness refuses, when it is made, metadata limits no marker fits, saying what
// it needs, instead of failing at its first save().

#include <cstddef>
#include <string>

#include <catch2/catch.hpp>

#include <concord/remote_witness.hpp>

#include "../support/error_capture.hpp"
#include "../support/store_conformance.hpp"

using concord::conformance::item;

namespace {
/// memory_remote with other metadata limits: keys, name length, value length.
template <std::size_t Keys, std::size_t Name, std::size_t Value>
struct limited_remote : concord::memory_remote<item> {
    static concord::metadata_limits limits() { return {Keys, Name, Value}; }
};

/// The longest record a witness saves: both counters at their limits (no free text).
concord::witness_record longest() {
    concord::witness_record r;
    r.lineage = std::string(32, 'f');
    r.generation = concord::witness_generation_limit - 1;
    r.attempts = concord::witness_attempts_limit - 1;
    return r;
}

template <class R>
std::string refusal(const concord::owner_tag& owner) {
    R remote;
    const auto e = concord::test::caught([&] { concord::remote_witness<R> w(remote, owner); });
    CHECK(e.code() == concord::errc::invalid_argument);
    CHECK(remote.all().empty());  // nothing written
    return e.what();
}

template <class R>
void round_trip(const concord::owner_tag& owner) {
    R remote;
    concord::remote_witness<R> w(remote, owner);
    w.save(longest());
    REQUIRE(w.load());
    CHECK(*w.load() == longest());
}
} // namespace

TEST_CASE("remote_witness refuses metadata limits too small for any marker when it is made, saying what it needs",
          "[review5][remote_witness]") {
    const concord::owner_tag owner{"host-1", "shop"};  // "concord/v1:host-1:shop": 22 characters
    const auto record = format_witness(longest()).size();
    SECTION("too few keys for the record at the remote's value length") {
        const auto m = refusal<limited_remote<4, 40, 64>>(owner);  // 2 + 3 values of 64 needed
        CHECK_THAT(m, Catch::Contains("5 keys at values of 64") && Catch::Contains(std::to_string(record) + "-character record"));
        round_trip<limited_remote<5, 40, 64>>(owner);
    }
    SECTION("values too short for the owner tag") {
        const auto m = refusal<limited_remote<50, 40, 21>>(owner);
        CHECK_THAT(m, Catch::Contains("values of at least 22 characters") && Catch::Contains(owner.text()));
        round_trip<limited_remote<50, 40, 22>>(owner);
    }
    SECTION("names too short for the format key concord_witness") {
        const auto m = refusal<limited_remote<50, 14, 500>>(owner);
        CHECK_THAT(m, Catch::Contains("names of at least 15 characters"));
        round_trip<limited_remote<50, 15, 500>>(owner);
    }
    SECTION("a long owner tag needs longer values than a short one") {
        const concord::owner_tag long_owner{std::string(60, 'h'), "shop"};
        const auto m = refusal<limited_remote<50, 40, 64>>(long_owner);
        CHECK_THAT(m, Catch::Contains("values of at least " + std::to_string(long_owner.text().size())));
        round_trip<limited_remote<50, 40, 64>>(owner);
    }
}
