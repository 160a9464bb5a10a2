#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

#include <boost/hana/adapt_struct.hpp>
#include <boost/hana/define_struct.hpp>

#include <concord/entity.hpp>

namespace {
struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents), (std::optional<double>, rate));
};
struct plain {
    std::string name;
    bool flag;
    std::uint32_t count;
};
enum class colour : std::uint8_t { red = 1, blue = 2 };
struct painted {
    BOOST_HANA_DEFINE_STRUCT(painted, (std::string, name), (colour, c), (double, weight));
};
} // namespace
BOOST_HANA_ADAPT_STRUCT(plain, name, flag, count);
template <>
struct concord::entity_traits<painted> {
    static constexpr std::string_view local_id = "";
};

TEST_CASE("fingerprint is a documented, platform-stable value", "[entity]") {
    // Canonical encoding v1 of the content members (customer, number, cents, rate) hashed with
    // XXH3-128 seed 0. The expected hex was computed independently with `xxhsum -H2` over these bytes,
    // so a change to
    // the encoding or the hash breaks this test on purpose.
    invoice a{1, "acme", "N-1", 500, std::nullopt};
    std::string enc;
    concord::encode_content(enc, a);
    const std::string expected_enc = std::string("\x04\0\0\0\0\0\0\0acme", 12) + std::string("\x03\0\0\0\0\0\0\0N-1", 11) +
                                     std::string("\xf4\x01\0\0\0\0\0\0", 8) + std::string("\0", 1);
    REQUIRE(enc == expected_enc);
    REQUIRE(concord::fingerprint(a) == concord::xxh3_128(expected_enc));
    REQUIRE(concord::fingerprint(a).hex() == "92f938a2c38a2048bede132d4e255405");
}

TEST_CASE("the local id is not content", "[entity]") {
    invoice a{1, "acme", "N-1", 500, 0.5};
    invoice b = a;
    b.id = 99;
    REQUIRE(concord::fingerprint(a) == concord::fingerprint(b));
    REQUIRE(concord::differing_fields(a, b).empty());
    STATIC_REQUIRE(concord::entity_info<invoice>::local_id_index == 0);
    STATIC_REQUIRE(!concord::entity_info<painted>::has_local_id);
}

TEST_CASE("field-by-field comparison names the members that differ", "[entity]") {
    invoice a{1, "acme", "N-1", 500, std::nullopt};
    invoice b{2, "acme", "N-2", 700, 1.0};
    REQUIRE(concord::differing_fields(a, b) == std::vector<std::string>{"number", "cents", "rate"});
    REQUIRE(concord::fingerprint(a) != concord::fingerprint(b));
}

TEST_CASE("floating point is normalised: -0 equals 0, every NaN is one value", "[entity]") {
    painted a{"x", colour::red, 0.0};
    painted b{"x", colour::red, -0.0};
    REQUIRE(concord::fingerprint(a) == concord::fingerprint(b));
    painted n1{"x", colour::red, std::numeric_limits<double>::quiet_NaN()};
    painted n2{"x", colour::red, -std::numeric_limits<double>::quiet_NaN()};
    REQUIRE(concord::fingerprint(n1) == concord::fingerprint(n2));
    REQUIRE(concord::differing_fields(n1, n2).empty());
    painted c{"x", colour::blue, 0.0};
    REQUIRE(concord::differing_fields(a, c) == std::vector<std::string>{"c"});
}

TEST_CASE("adapted structs work like defined ones", "[entity]") {
    plain p{"n", true, 7};
    std::string enc;
    concord::encode_content(enc, p);
    REQUIRE(enc.size() == 8 + 1 + 1 + 8);
    REQUIRE(concord::to_string(p, "plain") == "plain{name=\"n\", flag=true, count=7}");
}

TEST_CASE("printing and JSON escape strings", "[entity]") {
    invoice a{3, "a\"b\\c\n", "N", -5, 2.5};
    REQUIRE(concord::to_string(a, "invoice") ==
            "invoice{id=3, customer=\"a\\\"b\\\\c\\n\", number=\"N\", cents=-5, rate=2.5}");
    std::ostringstream os;
    concord::write_json(os, a);
    REQUIRE(os.str() == R"({"id":3,"customer":"a\"b\\c\n","number":"N","cents":-5,"rate":2.5})");
}
