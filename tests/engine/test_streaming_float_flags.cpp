// stream_merge() in member order over a floating-point natural key keeps NaN one value, after +inf,
// whatever the host's floating-point flags: concord is header-only, so by_members is compiled with
// them, and under -ffast-math / -ffinite-math-only a NaN test written as `y != y` is folded away.
#include <catch2/catch.hpp>

// The pragma gives the concord functions of this file those flags, as a host's build would (see
// tests/core/test_float_encoding_flags.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("finite-math-only")
#endif
#include <boost/hana/define_struct.hpp>
#include <concord/entity.hpp>
#include <concord/identity.hpp>
#include <concord/streaming.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

namespace {

struct reading {
    BOOST_HANA_DEFINE_STRUCT(reading, (std::int64_t, id), (double, value));
};

using value_identity = concord::identity::natural_key<&reading::value>;
using value_order = concord::by_members<&reading::value>;

double opaque(double d) {  // keeps the compiler from folding the value into the test
    volatile double v = d;
    return v;
}

auto reader(const std::vector<reading>& v) {
    return [&v, i = std::size_t{0}]() mutable -> std::optional<reading> {
        if (i == v.size()) return std::nullopt;
        return v[i++];
    };
}

/// The merge of two inputs of a few entities; a merge that makes more cases than it read entities
/// (a step that takes neither side, over and over) is stopped with an exception instead of running on.
concord::stream_counts merge(const std::vector<reading>& local, const std::vector<reading>& remote) {
    std::size_t cases = 0;
    const std::size_t most = local.size() + remote.size();
    return concord::stream_merge<reading>(
        value_identity{}, reader(local), reader(remote),
        [&](const concord::stream_case<reading>&) {
            if (++cases > most) throw std::runtime_error("stream_merge reported more cases than entities");
        },
        value_order{});
}

} // namespace

TEST_CASE("stream_merge by a floating-point member keeps NaN apart from numbers under finite-math flags",
          "[engine][streaming]") {
    const double nan = opaque(std::numeric_limits<double>::quiet_NaN());
    const double one = opaque(1.0);

    SECTION("a number on one side and NaN on the other are two identities") {
        const auto c = merge({reading{1, one}}, {reading{0, nan}});
        CHECK(c.diverged == 0);
        CHECK(c.local_only == 1);
        CHECK(c.orphan == 1);
        const auto d = merge({reading{1, nan}}, {reading{0, one}});
        CHECK(d.diverged == 0);
        CHECK(d.local_only == 1);
        CHECK(d.orphan == 1);
    }
    SECTION("NaN and a number of one side are no duplicate") {
        const auto c = merge({reading{1, one}, reading{2, nan}}, {});
        CHECK(c.duplicate == 0);
        CHECK(c.local_only == 2);
    }
    SECTION("NaN sorted before a number is refused as out of order") {
        CHECK_THROWS_MATCHES(merge({reading{1, nan}, reading{2, one}}, {}), concord::error,
                             Catch::Predicate<concord::error>(
                                 [](const concord::error& e) { return e.code() == concord::errc::bad_page; }));
    }
    SECTION("NaN with NaN is one identity, in sync") {
        const auto c = merge({reading{1, nan}}, {reading{0, opaque(-std::numeric_limits<double>::quiet_NaN())}});
        CHECK(c.in_sync == 1);
    }
}
