// The canonical encoding of floating-point members does not depend on the host's floating-point flags.
#include <catch2/catch.hpp>

// concord is header-only: its encoding is compiled with the host's flags. A host built with
// -ffast-math / -Ofast (which include -ffinite-math-only) must still get the documented bytes.
// The pragma gives the concord functions of this file those flags, as a host's build would.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("finite-math-only")
#endif
#include <boost/hana/define_struct.hpp>
#include <concord/entity.hpp>
#include <concord/identity.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#include <bit>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

namespace {
struct measure {
    BOOST_HANA_DEFINE_STRUCT(measure, (std::int64_t, id), (double, value));
};
struct measure_f {
    BOOST_HANA_DEFINE_STRUCT(measure_f, (std::int64_t, id), (float, value), (long double, wide));
};

double opaque(double d) {  // keeps the compiler from folding the value into the test
    volatile double v = d;
    return v;
}
} // namespace

TEST_CASE("entity: NaN keeps its documented encoding whatever the host's floating-point flags", "[entity]") {
    const double nan = opaque(std::numeric_limits<double>::quiet_NaN());
    const double neg_nan = opaque(-std::bit_cast<double>(0x7ff0000000000001ULL));
    const double zero = opaque(0.0), neg_zero = opaque(-0.0);

    std::string bytes;
    concord::encode_value(bytes, nan);
    CHECK(bytes == std::string("\0\0\0\0\0\0\xf8\x7f", 8));  // the documented quiet NaN
    bytes.clear();
    concord::encode_value(bytes, neg_nan);
    CHECK(bytes == std::string("\0\0\0\0\0\0\xf8\x7f", 8));
    bytes.clear();
    concord::encode_value(bytes, neg_zero);
    CHECK(bytes == std::string(8, '\0'));

    // NaN is not 0: two different values must not share a fingerprint, nor a content identity.
    const measure m_nan{1, nan}, m_zero{1, zero}, m_neg_nan{2, neg_nan};
    CHECK(concord::fingerprint(m_nan) != concord::fingerprint(m_zero));
    CHECK(concord::differing_fields(m_nan, m_zero) == std::vector<std::string>{"value"});
    CHECK(concord::identity::content<>{}.key(m_nan) != concord::identity::content<>{}.key(m_zero));
    CHECK(concord::fingerprint(m_nan) == concord::fingerprint(m_neg_nan));  // every NaN is one value
    CHECK(concord::differing_fields(m_nan, m_neg_nan).empty());
    // xxhsum -H2 of 00 00 00 00 00 00 f8 7f
    CHECK(concord::fingerprint(m_nan).hex() == concord::xxh3_128(std::string("\0\0\0\0\0\0\xf8\x7f", 8)).hex());

    // float and long double go through binary64 the same way.
    const measure_f f{1, static_cast<float>(nan), static_cast<long double>(nan)};
    const std::string expected = std::string("\0\0\0\0\0\0\xf8\x7f", 8) + std::string("\0\0\0\0\0\0\xf8\x7f", 8);
    std::string got;
    concord::encode_content(got, f);
    CHECK(got == expected);

    // Printing: NaN is `nan` (JSON null), never an infinity.
    CHECK(concord::to_string(m_nan, "measure") == "measure{id=1, value=nan}");
    CHECK(concord::to_string(m_neg_nan, "measure") == "measure{id=2, value=nan}");
    CHECK(concord::to_string(f, "m") == "m{id=1, value=nan, wide=nan}");
    std::ostringstream json;
    concord::write_json(json, m_nan);
    CHECK(json.str() == "{\"id\":1,\"value\":null}");
}
