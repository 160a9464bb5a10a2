// Review 5, stream_merge: by_members on a long double member. The canonical encoding keeps a long
// double as the binary64 it rounds to, so two values that round to one double are one identity;
// by_members compared them as long doubles, set them apart, and with natural_key of the same member
// (keys hashed only for the reported cases) one identity was reported as a local_only and an orphan.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/identity.hpp>
#include <concord/streaming.hpp>

namespace {

/// A measurement keyed by a long double member.
struct sample {
    BOOST_HANA_DEFINE_STRUCT(sample, (std::int64_t, id), (long double, at), (std::string, note));
};

using by_at = concord::identity::natural_key<&sample::at>;

struct seen {
    concord::case_kind kind;
    concord::key128 identity;
};

template <class Order>
std::vector<seen> merge(const std::vector<sample>& local, const std::vector<sample>& remote, Order order,
                        concord::stream_counts& counts) {
    std::vector<seen> out;
    std::size_t li = 0, ri = 0;
    counts = concord::stream_merge<sample>(
        by_at{},
        [&]() -> std::optional<sample> {
            if (li == local.size()) return std::nullopt;
            return local[li++];
        },
        [&]() -> std::optional<sample> {
            if (ri == remote.size()) return std::nullopt;
            return remote[ri++];
        },
        [&](const concord::stream_case<sample>& c) { out.push_back({c.kind, c.identity}); }, order);
    return out;
}

} // namespace

TEST_CASE("stream_merge by members: long doubles that round to one double are one identity, as in the key",
          "[engine][streaming][review5]") {
    const long double a = 1.0L;
    const long double b = 1.0L + 1e-18L;  // apart as long doubles (x87: 64-bit mantissa), one double
    REQUIRE(by_at{}.key(sample{0, a, "n"}) == by_at{}.key(sample{0, b, "n"}));
    concord::stream_counts c;

    SECTION("one on each side: a pair in sync, as by identity key") {
        const auto cases = merge({{1, a, "n"}}, {{0, b, "n"}}, concord::by_members<&sample::at>{}, c);
        CHECK(cases.empty());
        CHECK(c.in_sync == 1);
        CHECK(c.local_only == 0);
        CHECK(c.orphan == 0);
        const auto by_key = merge({{1, a, "n"}}, {{0, b, "n"}}, concord::by_identity_key{}, c);
        CHECK(by_key.empty());
        CHECK(c.in_sync == 1);
    }
    SECTION("two on one side: a duplicate, not two entities") {
        const auto cases = merge({{1, a, "n"}, {2, b, "m"}}, {}, concord::by_members<&sample::at>{}, c);
        REQUIRE(cases.size() == 1);
        CHECK(cases[0].kind == concord::case_kind::duplicate);
        CHECK(c.duplicate == 1);
        CHECK(c.local_only == 0);
    }
    SECTION("an input sorted by its long double values is in order, and distinct doubles stay apart") {
        const std::vector<sample> both = {{1, 0.5L, "x"}, {2, a, "n"}, {3, 2.0L, "y"}};
        const std::vector<sample> remote = {{0, 0.5L, "x"}, {0, b, "n"}, {0, 2.0L, "y"}};
        CHECK(merge(both, remote, concord::by_members<&sample::at>{}, c).empty());
        CHECK(c.in_sync == 3);
    }
}
