#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <locale>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/hana/adapt_struct.hpp>
#include <boost/hana/define_struct.hpp>

#include <concord/entity.hpp>
#include <concord/report.hpp>

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

TEST_CASE("same_content agrees with equal fingerprints, member by member", "[entity]") {
    // stream_merge() compares the entities it holds instead of hashing them: the comparison must
    // say "same" exactly when the canonical encodings (hence the fingerprints) are the same.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const invoice base{1, "acme", "N-1", 500, 0.5};
    std::vector<invoice> variants;
    for (int m = 0; m < 5; ++m) {
        invoice v = base;
        if (m == 0) v.id = 2;          // not content
        if (m == 1) v.customer = "acm";
        if (m == 2) v.number = "N-1 ";  // a length differs
        if (m == 3) v.cents = -500;
        if (m == 4) v.rate = std::nullopt;
        variants.push_back(v);
    }
    for (std::optional<double> r : {std::optional<double>(-0.0), std::optional<double>(0.0), std::optional<double>(nan),
                                    std::optional<double>(-nan), std::optional<double>(1e-300)}) {
        invoice v = base;
        v.rate = r;
        variants.push_back(v);
    }
    variants.push_back(base);
    for (const auto& a : variants)
        for (const auto& b : variants) {
            INFO(concord::to_string(a) << " vs " << concord::to_string(b));
            CHECK(concord::detail::same_content(a, b) == (concord::fingerprint(a) == concord::fingerprint(b)));
            CHECK(concord::detail::same_content(a, b) == concord::differing_fields(a, b).empty());
        }
    CHECK(concord::detail::same_content(variants[0], base));                       // the id is not content
    CHECK(concord::detail::same_content(variants[5], variants[6]));                // -0 and +0
    CHECK(concord::detail::same_content(variants[7], variants[8]));                // two NaNs, inside an optional
    CHECK_FALSE(concord::detail::same_content(variants[4], base));                 // absent against present
    const painted p1{"x", colour::red, nan}, p2{"x", colour::red, -nan}, p3{"x", colour::blue, nan};
    CHECK(concord::detail::same_content(p1, p2));
    CHECK_FALSE(concord::detail::same_content(p1, p3));
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
    // Control characters, escapes at both ends and plain runs between them.
    invoice b{4, std::string("\x01") + "p\tq\r" + std::string("\x1f") + "tail\"", "", 0, 0};
    std::ostringstream os_b;
    concord::write_json(os_b, b);
    REQUIRE(os_b.str() == R"({"id":4,"customer":"\u0001p\tq\r\u001ftail\"","number":"","cents":0,"rate":0})");
    // print() writes to_string()'s text, whatever the stream's flags.
    std::ostringstream printed;
    printed << std::hex << std::showpos;
    concord::print(printed, a, "invoice");
    CHECK(printed.str() == concord::to_string(a, "invoice"));
}

// ---------------------------------------------------------------------------------------------
// Known answers for every supported member type. Each entity has a single content member, so its
// canonical encoding v1 is exactly that member's encoding, written out here byte by byte from the
// documented rules (docs/reference.md), and its fingerprint is XXH3-128 (seed 0) of those bytes.
// The expected hashes were NOT produced by concord: they were computed with the xxHash command-line
// tool (Debian package xxhash), e.g.
//     printf '\xfe\xff\xff\xff\xff\xff\xff\xff' | xxhsum -H2
// which prints the canonical (big-endian) 128-bit value that key128::hex() prints.
namespace kat {
enum class small_enum : std::uint8_t { big = 200 };
enum class signed_enum : std::int16_t { neg = -3 };
enum class flag : bool { off = false, on = true };
#define CONCORD_KAT_ENTITY(name, type) \
    struct name {                     \
        BOOST_HANA_DEFINE_STRUCT(name, (type, v)); \
    }
CONCORD_KAT_ENTITY(k_bool, bool);
CONCORD_KAT_ENTITY(k_i8, std::int8_t);
CONCORD_KAT_ENTITY(k_i32, std::int32_t);
CONCORD_KAT_ENTITY(k_u16, std::uint16_t);
CONCORD_KAT_ENTITY(k_u64, std::uint64_t);
CONCORD_KAT_ENTITY(k_char, char);
CONCORD_KAT_ENTITY(k_enum_u8, small_enum);
CONCORD_KAT_ENTITY(k_enum_i16, signed_enum);
CONCORD_KAT_ENTITY(k_enum_bool, flag);
CONCORD_KAT_ENTITY(k_double, double);
CONCORD_KAT_ENTITY(k_float, float);
CONCORD_KAT_ENTITY(k_string, std::string);
CONCORD_KAT_ENTITY(k_opt_i64, std::optional<std::int64_t>);
CONCORD_KAT_ENTITY(k_opt_string, std::optional<std::string>);
#undef CONCORD_KAT_ENTITY

template <class E>
void check(const E& e, std::string_view bytes, std::string_view xxhsum_hex) {
    std::string enc;
    concord::encode_content(enc, e);
    INFO("entity " << concord::to_string(e));
    CHECK(enc == bytes);
    CHECK(concord::fingerprint(e).hex() == xxhsum_hex);
}
std::string b(std::initializer_list<unsigned> v) {
    std::string s;
    for (auto c : v) s.push_back(static_cast<char>(c));
    return s;
}
} // namespace kat

TEST_CASE("fingerprint known answers for every supported member type (cross-checked with xxhsum -H2)", "[entity]") {
    using namespace kat;
    // bool: one byte
    check(k_bool{true}, b({0x01}), "51025a4491835505e12ef9d2eb86ceeb");
    check(k_bool{false}, b({0x00}), "a6cd5e9392000f6ac44bdff4074eecdb");
    // signed integers: sign-extended to 64 bits, little-endian
    check(k_i8{-2}, b({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), "6ea91d5282efcca4ccea657e3d21a9da");
    check(k_i32{-123456}, b({0xc0, 0x1d, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}), "4b3d150ed8df6ee0dd87bc79ea95c119");
    // unsigned integers: zero-extended to 64 bits, little-endian
    check(k_u16{65535}, b({0xff, 0xff, 0, 0, 0, 0, 0, 0}), "cdb0b58cfb4569af8d885d7ef0faaac9");
    check(k_u64{0x0123456789abcdefULL}, b({0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01}),
          "9d0a16a121edc615dc7da55868feb560");
    // char is zero-extended whatever the platform's char signedness
    check(k_char{static_cast<char>(0xe9)}, b({0xe9, 0, 0, 0, 0, 0, 0, 0}), "c7190532e46c46cc557e18da71453958");
    // enums: their underlying type's encoding
    check(k_enum_u8{small_enum::big}, b({200, 0, 0, 0, 0, 0, 0, 0}), "2ff8126d971f6a1595faca02e65cf94b");
    check(k_enum_i16{signed_enum::neg}, b({0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
          "f9fe3e9b6eaee9f1c603751d973169b0");
    // ... over bool, one byte: the same bytes (and hash) as bool itself
    check(k_enum_bool{flag::on}, b({0x01}), "51025a4491835505e12ef9d2eb86ceeb");
    check(k_enum_bool{flag::off}, b({0x00}), "a6cd5e9392000f6ac44bdff4074eecdb");
    // floating point: IEEE-754 binary64 little-endian; -0 -> +0, every NaN -> 0x7ff8000000000000
    check(k_double{1.5}, b({0, 0, 0, 0, 0, 0, 0xf8, 0x3f}), "8e19d0c57481c05d6d22fe9c07fa4107");
    check(k_double{-0.0}, b({0, 0, 0, 0, 0, 0, 0, 0}), "2c0a8a99dc147d5445c3b49d035665b2");
    check(k_double{-std::numeric_limits<double>::quiet_NaN()}, b({0, 0, 0, 0, 0, 0, 0xf8, 0x7f}),
          "bf8c655e1d469c5001496f760121fd3f");
    check(k_float{0.25f}, b({0, 0, 0, 0, 0, 0, 0xd0, 0x3f}), "2558257cbc896adb3cc8d20217661d61");
    // std::string: 8-byte little-endian length, then the bytes as they are (UTF-8 here)
    check(k_string{"h\xc3\xa9llo"}, b({6, 0, 0, 0, 0, 0, 0, 0, 'h', 0xc3, 0xa9, 'l', 'l', 'o'}),
          "70c2da9d9d8465c822a3c5e52924bbe9");
    check(k_string{""}, b({0, 0, 0, 0, 0, 0, 0, 0}), "2c0a8a99dc147d5445c3b49d035665b2");
    // std::optional: 0 absent; 1 then the value
    check(k_opt_i64{std::nullopt}, b({0}), "a6cd5e9392000f6ac44bdff4074eecdb");
    check(k_opt_i64{7}, b({1, 7, 0, 0, 0, 0, 0, 0, 0}), "05f6cfa1bddd523fd8197fcc417a9adf");
    check(k_opt_string{std::string{}}, b({1, 0, 0, 0, 0, 0, 0, 0, 0}), "fa3f5392c40387fb428516d12156e7b6");
}

// ---------------------------------------------------------------------------------------------
// Printing: the text reports and JSON show must tell apart what the encoding tells apart, be
// valid JSON whatever the values, and not depend on the global locale.
namespace printing {
struct measured {
    BOOST_HANA_DEFINE_STRUCT(measured, (std::int64_t, id), (double, rate), (std::optional<double>, r2), (float, f));
};
struct texts {
    BOOST_HANA_DEFINE_STRUCT(texts, (std::string, s));
};
enum class big_enum : std::uint64_t { top = 0xFFFFFFFFFFFFFFFFULL };
enum class small_enum : std::uint8_t { big = 200 };
enum class signed_enum : std::int16_t { neg = -3 };
enum plain_char_enum : char { high = static_cast<char>(0xe9) };
struct integers {
    BOOST_HANA_DEFINE_STRUCT(integers, (char, c), (big_enum, e), (small_enum, s), (signed_enum, n),
                             (plain_char_enum, pc), (std::int8_t, i8), (std::uint64_t, u64), (wchar_t, w));
};
struct row {
    BOOST_HANA_DEFINE_STRUCT(row, (std::int64_t, rowid), (std::string, sku));
};
struct row_typo {
    BOOST_HANA_DEFINE_STRUCT(row_typo, (std::int64_t, rowid), (std::string, sku));
};
struct row_default {  // default traits, no member named `id`: no local id, not an error
    BOOST_HANA_DEFINE_STRUCT(row_default, (std::int64_t, rowid), (std::string, sku));
};

/// A locale like de_DE's: ',' decimal point, '.' thousands separator grouping by 3.
struct german_numpunct : std::numpunct<char> {
    char do_decimal_point() const override { return ','; }
    char do_thousands_sep() const override { return '.'; }
    std::string do_grouping() const override { return "\3"; }
};
/// Sets that locale as the global one for its lifetime.
struct global_locale_guard {
    std::locale old = std::locale::global(std::locale(std::locale::classic(), new german_numpunct));
    ~global_locale_guard() { std::locale::global(old); }
};

std::string json_of(const measured& m) {
    std::ostringstream os;
    concord::write_json(os, m);
    return os.str();
}
std::string json_of(const texts& t) {
    std::ostringstream os;
    concord::write_json(os, t);
    return os.str();
}
} // namespace printing
template <>
struct concord::entity_traits<printing::row> {
    static constexpr std::string_view local_id = "rowid";
};
template <>
struct concord::entity_traits<printing::row_typo> {
    static constexpr std::string_view local_id = "row_id";  // the member is `rowid`
};

TEST_CASE("floating point prints the shortest text that reads back as the same value", "[entity][printing]") {
    using printing::measured;
    // Two values the encoding tells apart print differently (6 significant digits printed both as 1).
    const measured b{1, 1.0000001, 1.0000002, 0}, c{1, 1.0000002, 1.0000002, 0};
    REQUIRE(concord::fingerprint(b) != concord::fingerprint(c));
    CHECK(concord::to_string(b) != concord::to_string(c));
    CHECK(concord::to_string(b) == "entity{id=1, rate=1.0000001, r2=1.0000002, f=0}");
    // Round trip: the printed text parses back to the very value.
    for (double v : {0.1, 1.0 / 3, 1e300, -2.5e-308, 5e-324, 123456789.125, 1e21, 6.02214076e23,
                     std::numeric_limits<double>::max(), std::numeric_limits<double>::min()}) {
        std::string t;
        concord::detail::append_value(t, v);
        INFO(t);
        CHECK(std::strtod(t.c_str(), nullptr) == v);
    }
    // float prints as float (0.1f, not 0.100000001490116); -0 as 0, as it is encoded.
    CHECK(concord::to_string(measured{2, -0.0, -0.0, 0.1f}) == "entity{id=2, rate=0, r2=0, f=0.1}");
    // In text, NaN and infinities are named (every NaN is one value, so one name)...
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    CHECK(concord::to_string(measured{3, -nan, inf, -std::numeric_limits<float>::infinity()}) ==
          "entity{id=3, rate=nan, r2=inf, f=-inf}");
    // ... in JSON, which cannot write them, they are null.
    CHECK(printing::json_of(measured{3, nan, inf, -std::numeric_limits<float>::infinity()}) ==
          R"({"id":3,"rate":null,"r2":null,"f":null})");
    CHECK(printing::json_of(measured{4, 1e-7, 2.5, 0.25f}) == R"({"id":4,"rate":1e-07,"r2":2.5,"f":0.25})");
}

TEST_CASE("printing and JSON do not depend on the global locale", "[entity][printing]") {
    const printing::global_locale_guard german;
    {
        // The guard works: a default stream now groups and uses ','.
        std::ostringstream probe;
        probe << 1234567 << ' ' << 1.5;
        REQUIRE(probe.str() == "1.234.567 1,5");
    }
    CHECK(printing::json_of(printing::measured{1234567, 1234.5, 2.0, 1.5f}) ==
          R"({"id":1234567,"rate":1234.5,"r2":2,"f":1.5})");
    CHECK(concord::to_string(printing::measured{1234567, 1234.5, std::nullopt, 1.5f}) ==
          "entity{id=1234567, rate=1234.5, r2=null, f=1.5}");
    concord::report r;
    r.generation = 1234567;
    r.counts[0] = 5000;
    r.dry_run = false;
    r.actions.push_back({});
    r.actions.back().attempts = 1000;
    const auto j = r.json();
    CHECK(j.find("\"generation\":1234567,") != std::string::npos);
    CHECK(j.find(":5000,") != std::string::npos);
    CHECK(j.find("\"attempts\":1000}") != std::string::npos);
    CHECK(j.find("1.234") == std::string::npos);
    CHECK(r.text().find("=5000 ") != std::string::npos);
    CHECK(r.text().find("5.000") == std::string::npos);
}

TEST_CASE("JSON strings are valid UTF-8: each ill-formed sequence becomes U+FFFD", "[entity][printing]") {
    using printing::json_of;
    using printing::texts;
    // Well-formed sequences of every length pass unchanged, up to U+10FFFF.
    for (const std::string ok : {"h\xc3\xa9llo", "\xe2\x82\xac 5", "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
                                 "\xed\x9f\xbf", "\xc2\xa0nbsp", "\xee\x80\x80"}) {
        INFO(ok);
        CHECK(json_of(texts{ok}) == "{\"s\":\"" + ok + "\"}");
    }
    const std::pair<std::string, std::string> bad[] = {
        {"a\xff b", "a\\ufffd b"},                       // never in UTF-8
        {"\xfe\xff", "\\ufffd\\ufffd"},
        {"\x80x", "\\ufffdx"},                           // a lone continuation byte
        {"\xc0\xaf", "\\ufffd\\ufffd"},                 // overlong '/'
        {"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},       // overlong, 3 bytes
        {"\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // overlong, 4 bytes
        {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},       // a surrogate (U+D800)
        {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // above U+10FFFF
        {"\xf5\x80", "\\ufffd\\ufffd"},
        {"\xe2\x82", "\\ufffd"},                         // truncated at the end: one maximal subpart
        {"\xe2\x82z\xf0\x9d\x84", "\\ufffdz\\ufffd"},
        {"\xc3\xa9\xc3", "\xc3\xa9\\ufffd"},
        {"\x7f", "\\u007f"},                             // DEL and the C1 controls are escaped too
        {"\xc2\x9b[31m", "\\u009b[31m"},
    };
    for (const auto& [in, out] : bad) {
        INFO(in);
        CHECK(json_of(texts{in}) == "{\"s\":\"" + out + "\"}");
    }
    // The same through a report, whatever field the text arrives in.
    concord::report r;
    r.problems.push_back(std::string("remote id \xff\xfe bad, esc \x1b[31m red, del \x7f"));
    CHECK(r.json().find(R"("problems":["remote id \ufffd\ufffd bad, esc \u001b[31m red, del \u007f"])") !=
          std::string::npos);
}

TEST_CASE("integers print as they are encoded: char and unsigned enums unsigned", "[entity][printing]") {
    using namespace printing;
    const integers v{static_cast<char>(0xe9), big_enum::top, small_enum::big, signed_enum::neg, high,
                     std::int8_t{-2}, 0xFFFFFFFFFFFFFFFFULL, static_cast<wchar_t>(0xFFFFFFFFu)};
    CHECK(concord::to_string(v) ==
          "entity{c=233, e=18446744073709551615, s=200, n=-3, pc=233, i8=-2, u64=18446744073709551615, w=4294967295}");
}

TEST_CASE("integers wider than 64 bits are not encodable", "[entity]") {
    // __int128 is integral under -std=gnu++20; 8 bytes per integer would truncate it silently.
    __extension__ typedef __int128 i128;
    __extension__ typedef unsigned __int128 u128;
    CHECK_FALSE(concord::detail::encodable<i128>());
    CHECK_FALSE(concord::detail::encodable<u128>());
    CHECK_FALSE(concord::detail::encodable<std::optional<u128>>());
    CHECK(concord::detail::encodable<std::int64_t>());
    CHECK(concord::detail::encodable<std::optional<std::uint64_t>>());
}

TEST_CASE("a local id name that matches no member is caught", "[entity]") {
    // A specialisation naming a member that exists: that member is the local id.
    STATIC_REQUIRE(concord::entity_info<printing::row>::has_local_id);
    CHECK(concord::local_id_of(printing::row{7, "A-1"}) == 7);
    // The default traits' `id` may be absent: no local id.
    STATIC_REQUIRE(!concord::entity_info<printing::row_default>::has_local_id);
    STATIC_REQUIRE(!concord::detail::local_id_misspelt<printing::row_default>);
    STATIC_REQUIRE(!concord::detail::local_id_misspelt<painted>);  // "" on purpose
    // A misspelt name (row_id for rowid) would make the database id content: entity_info<row_typo>
    // fails to compile with a static_assert on this.
    STATIC_REQUIRE(concord::detail::local_id_misspelt<printing::row_typo>);
}
