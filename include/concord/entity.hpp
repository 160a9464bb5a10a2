#pragma once
// Entities are the user's plain structs, described with BOOST_HANA_DEFINE_STRUCT or
// BOOST_HANA_ADAPT_STRUCT. From that description concord derives, without user code:
//  * a canonical byte encoding (documented in docs/reference.md, "Canonical encoding v1"),
//  * a content fingerprint: XXH3-128 of the encoding of every content member,
//  * a field-by-field comparison that names the members that differ,
//  * printing for reports (text and JSON).
// The member holding the local database id (default: a member named `id`) is not content: a
// restore and a re-creation change it while the entity stays the same conceptual thing.

#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/hana/accessors.hpp>
#include <boost/hana/at.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>
#include <boost/hana/concept/struct.hpp>

#include <concord/hash.hpp>

namespace concord {

namespace hana = boost::hana;

namespace detail {
/// The default of entity_traits: a member named `id`, if the entity has one. A specialisation
/// (which does not derive from this) must name a member that exists, or "" for none.
struct default_entity_traits {
    static constexpr std::string_view local_id = "id";
};
} // namespace detail

/// Customisation point: which member holds the local (database-assigned) id.
/// Specialise with `static constexpr std::string_view local_id = "";` for an entity without one, or
/// with the name of another member (a name that matches no member is a compile error).
template <class E>
struct entity_traits : detail::default_entity_traits {};

/// Satisfied by structs described with Boost.Hana.
template <class E>
concept entity = hana::Struct<E>::value && std::is_default_constructible_v<E> && std::is_copy_constructible_v<E>;

namespace detail {

template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};

/// Integers wider than 64 bits (__int128 under -std=gnu++20 counts as integral): the encoding has
/// 8 bytes per integer, so they are refused rather than silently truncated.
template <class T>
constexpr bool wide_integer = std::is_integral_v<T> && (sizeof(T) > 8);

#define CONCORD_WIDE_INTEGER_MESSAGE                                                                           \
    "concord: integers wider than 64 bits (such as __int128) cannot be encoded: the canonical encoding has 8 "  \
    "bytes per integer and would truncate them. Store the value as two 64-bit members (high and low halves) or " \
    "as its decimal text in a std::string."

template <class T>
constexpr bool encodable_scalar = (std::is_integral_v<T> && !wide_integer<T>) || std::is_enum_v<T> ||
                                  std::is_floating_point_v<T> || std::is_same_v<T, std::string>;

template <class T> struct scalar_of { using type = T; };
template <class T> struct scalar_of<std::optional<T>> { using type = T; };

template <class T>
constexpr bool encodable() {
    if constexpr (is_optional<T>::value) return encodable_scalar<typename T::value_type>;
    else return encodable_scalar<T>;
}

template <class E>
constexpr std::size_t member_count = decltype(hana::length(hana::accessors<E>()))::value;

template <class E, std::size_t I>
using accessor_t = std::decay_t<decltype(hana::at_c<I>(hana::accessors<E>()))>;

template <class E, std::size_t I>
constexpr std::string_view member_name() {
    using name_t = std::decay_t<decltype(hana::first(std::declval<accessor_t<E, I>>()))>;
    return std::string_view(hana::to<char const*>(name_t{}));
}

template <class E, std::size_t I>
using member_t = std::decay_t<decltype(hana::second(std::declval<accessor_t<E, I>>())(std::declval<E&>()))>;

template <class E, std::size_t I>
decltype(auto) member_ref(E& e) {
    return hana::second(hana::at_c<I>(hana::accessors<std::remove_const_t<E>>()))(e);
}

/// Fails with the member's name in the instantiation trace when its type cannot be encoded. The
/// Accessor argument is Hana's member-pointer accessor, which compilers print as `&Entity::member`,
/// so the offending member is named in the diagnostic (MemberName is the same name as a
/// hana::string, for custom Struct descriptions whose accessors are lambdas).
template <class E, class MemberName, class T, class Accessor = void>
struct check_member_type {
    static_assert(!wide_integer<typename scalar_of<T>::type>, CONCORD_WIDE_INTEGER_MESSAGE
                  " (the member is named in the instantiation above: &Entity::member / MemberName)");
    static_assert(wide_integer<typename scalar_of<T>::type> || encodable<T>(),
                  "concord: this entity member has a type concord cannot encode (the member is named in the "
                  "instantiation above: &Entity::member / MemberName). Supported: integral, enum, floating point, "
                  "std::string and std::optional of those.");
    static constexpr bool value = true;
};

template <class E, std::size_t... I>
constexpr bool check_members(std::index_sequence<I...>) {
    return (check_member_type<E, std::decay_t<decltype(hana::first(std::declval<accessor_t<E, I>>()))>,
                              member_t<E, I>,
                              std::decay_t<decltype(hana::second(std::declval<accessor_t<E, I>>()))>>::value &&
            ...);
}

/// Writes v as 8 bytes little-endian at p; returns p + 8.
inline char* put_u64(char* p, std::uint64_t v) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(p, &v, 8);
    } else {
        for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    }
    return p + 8;
}

inline void put_u64(std::string& out, std::uint64_t v) {
    char b[8];
    put_u64(b, v);
    out.append(b, 8);
}

/// memcpy, with the short sizes of keys and names done by two overlapping fixed-size moves instead
/// of a library call (a call per member was a tenth of stream_merge's time).
inline void copy_bytes(char* to, const char* from, std::size_t n) noexcept {
    if (n >= 8 && n <= 16) {
        std::memcpy(to, from, 8);
        std::memcpy(to + n - 8, from + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        std::memcpy(to, from, 4);
        std::memcpy(to + n - 4, from + n - 4, 4);
    } else if (n > 0) {
        std::memcpy(to, from, n);
    }
}

/// Writes the 8-byte length then the bytes; returns the end.
inline char* put_bytes(char* p, std::string_view s) noexcept {
    p = put_u64(p, s.size());
    copy_bytes(p, s.data(), s.size());
    return p + s.size();
}

/// Classified on the bits, not with `d != d` or `d == 0.0`: concord is header-only, so this is
/// compiled with the host's flags, and under -ffast-math / -ffinite-math-only those comparisons
/// are folded or miscompiled (a NaN then encoded as 0.0, or as its own bits).
inline bool nan_bits(std::uint64_t b) noexcept {
    return (b & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL && (b & 0x000fffffffffffffULL) != 0;
}

/// +-infinity on the bits (exponent all ones, no mantissa), for the same reason as nan_bits.
inline bool infinity_bits(std::uint64_t b) noexcept { return (b << 1) == 0xffe0000000000000ULL; }

inline std::uint64_t canonical_double_bits(double d) {
    const auto b = std::bit_cast<std::uint64_t>(d);
    if (nan_bits(b)) return 0x7ff8000000000000ULL;  // every NaN encodes as the quiet NaN
    if ((b << 1) == 0) return 0;                     // -0.0 and +0.0 are one value
    return b;
}

} // namespace detail

namespace detail {

/// Size in bytes of encode_value(v).
template <class T>
constexpr std::size_t encoded_size(const T& v) noexcept {
    if constexpr (is_optional<T>::value) return v ? 1 + encoded_size(*v) : 1;
    else if constexpr (std::is_same_v<T, bool>) return 1;
    // An enum is encoded as its underlying type, so its size is that type's: one byte over bool
    // (a fixed 8 left 7 bytes of the buffer unwritten, and hashed).
    else if constexpr (std::is_enum_v<T>) return encoded_size(static_cast<std::underlying_type_t<T>>(v));
    else if constexpr (std::is_same_v<T, std::string>) return 8 + v.size();
    else return 8;
}

/// The one definition of the canonical encoding v1 of a value (see encode_value): writes
/// encoded_size(v) bytes at p and returns the end. Raw writes into a sized buffer let the hot
/// paths (fingerprint, identity keys) encode on the stack without growing a std::string.
template <class T>
char* encode_to(char* p, const T& v) noexcept {
    if constexpr (is_optional<T>::value) {
        *p++ = v ? '\1' : '\0';
        return v ? encode_to(p, *v) : p;
    } else if constexpr (std::is_same_v<T, bool>) {
        *p++ = v ? '\1' : '\0';
        return p;
    } else if constexpr (std::is_enum_v<T>) {
        return encode_to(p, static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, wchar_t>) {
        return put_u64(p, static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<T>>(v)));
    } else if constexpr (wide_integer<T>) {
        static_assert(!wide_integer<T>, CONCORD_WIDE_INTEGER_MESSAGE);
        return p;
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
        return put_u64(p, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
    } else if constexpr (std::is_integral_v<T>) {
        return put_u64(p, static_cast<std::uint64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        return put_u64(p, canonical_double_bits(static_cast<double>(v)));
    } else if constexpr (std::is_same_v<T, std::string>) {
        return put_bytes(p, v);
    } else {
        static_assert(encodable<T>(), "concord: type cannot be encoded");
        return p;
    }
}

/// Encodings up to this size are hashed from a stack buffer.
inline constexpr std::size_t stack_encoding_size = 256;

/// XXH3-128 of the `size` bytes that write(char*) produces: written on the stack when they fit,
/// else into a per-thread buffer that keeps its capacity (no allocation per call either way).
template <class Write>
key128 hash_encoding(std::size_t size, Write&& write) {
    if (size <= stack_encoding_size) {
        char buf[stack_encoding_size];
        write(buf);
        return xxh3_128(buf, size);
    }
    thread_local std::string heap;
    heap.resize(size);
    write(heap.data());
    return xxh3_128(heap.data(), size);
}

} // namespace detail

/// Appends the canonical encoding v1 of one value:
/// bool -> 1 byte; other integers and enums -> 8 bytes little-endian (signed values sign-extended
/// to 64 bits; `char` and `wchar_t`, whose signedness differs between platforms, are always
/// zero-extended as unsigned); floating point -> 8 bytes little-endian IEEE-754 binary64 (NaN and -0 normalised);
/// std::string -> 8-byte little-endian length, then the bytes; std::optional -> 1 byte (0 absent,
/// 1 present) then the value.
template <class T>
void encode_value(std::string& out, const T& v) {
    static_assert(!detail::wide_integer<typename detail::scalar_of<T>::type>, CONCORD_WIDE_INTEGER_MESSAGE);
    static_assert(detail::wide_integer<typename detail::scalar_of<T>::type> || detail::encodable<T>(),
                  "concord: type cannot be encoded");
    const std::size_t at = out.size();
    out.resize(at + detail::encoded_size(v));
    detail::encode_to(out.data() + at, v);
}

namespace detail {
/// True when a specialisation of entity_traits<E> names a local id member that E does not have (the
/// default traits' `id` may be absent: the entity then has no local id).
template <class E>
constexpr bool local_id_misspelt = [] {
    if constexpr (std::is_base_of_v<default_entity_traits, entity_traits<E>>) {
        return false;
    } else {
        if (entity_traits<E>::local_id.empty()) return false;
        return ![]<std::size_t... I>(std::index_sequence<I...>) {
            return ((member_name<E, I>() == entity_traits<E>::local_id) || ...);
        }(std::make_index_sequence<member_count<E>>{});
    }
}();
} // namespace detail

/// Compile-time facts about a Hana-described entity.
template <entity E>
struct entity_info {
    static constexpr std::size_t size = detail::member_count<E>;
    static_assert(detail::check_members<E>(std::make_index_sequence<size>{}));

    /// Name of member I.
    template <std::size_t I>
    static constexpr std::string_view name = detail::member_name<E, I>();

    /// Index of the local id member, or size if the entity has none.
    static constexpr std::size_t local_id_index = [] {
        std::size_t found = size;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((detail::member_name<E, I>() == entity_traits<E>::local_id && found == size ? (found = I) : 0), ...);
        }(std::make_index_sequence<size>{});
        return found;
    }();

    static constexpr bool has_local_id = local_id_index < size;

    // The default traits look for a member named `id` and accept an entity without one; a
    // specialisation names its member on purpose, so a name that matches no member (a typo) would
    // silently make the database id content: refused.
    static_assert(!detail::local_id_misspelt<E>,
                  "concord: entity_traits<E>::local_id names no member of the entity E. Check its spelling "
                  "against the BOOST_HANA_DEFINE_STRUCT / BOOST_HANA_ADAPT_STRUCT description, or set it to \"\" "
                  "for an entity without a local database id.");

    /// Calls f(name, value_ref) for every member, in declaration order.
    template <class Ent, class F>
    static void for_each_member(Ent& e, F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(detail::member_name<E, I>(), detail::member_ref<Ent, I>(e)), ...);
        }(std::make_index_sequence<size>{});
    }

    /// Calls f(name, value_ref) for every content member (all but the local id).
    template <class Ent, class F>
    static void for_each_content(Ent& e, F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((I != local_id_index ? (f(detail::member_name<E, I>(), detail::member_ref<Ent, I>(e)), 0) : 0), ...);
        }(std::make_index_sequence<size>{});
    }
};

/// The local id of an entity (0 when the entity has no local id member or it is unassigned).
template <entity E>
std::int64_t local_id_of(const E& e) {
    using info = entity_info<E>;
    if constexpr (info::has_local_id) {
        return static_cast<std::int64_t>(detail::member_ref<const E, info::local_id_index>(e));
    } else {
        (void)e;
        return 0;
    }
}

/// Sets the local id of an entity (no-op for entities without one).
template <entity E>
void set_local_id(E& e, std::int64_t id) {
    using info = entity_info<E>;
    if constexpr (info::has_local_id) {
        using T = detail::member_t<E, info::local_id_index>;
        detail::member_ref<E, info::local_id_index>(e) = static_cast<T>(id);
    } else {
        (void)e;
        (void)id;
    }
}

namespace detail {

/// Size of encode_content(e).
template <entity E>
std::size_t content_size(const E& e) noexcept {
    std::size_t n = 0;
    entity_info<E>::for_each_content(e, [&](std::string_view, const auto& v) { n += encoded_size(v); });
    return n;
}

/// Writes encode_content(e) at p (content_size(e) bytes); returns the end.
template <entity E>
char* encode_content_to(char* p, const E& e) noexcept {
    entity_info<E>::for_each_content(e, [&](std::string_view, const auto& v) { p = encode_to(p, v); });
    return p;
}

} // namespace detail

/// Canonical encoding of every content member, appended to out.
template <entity E>
void encode_content(std::string& out, const E& e) {
    const std::size_t at = out.size();
    out.resize(at + detail::content_size(e));
    detail::encode_content_to(out.data() + at, e);
}

/// Content fingerprint: XXH3-128 (seed 0) of the canonical encoding of every content member in
/// declaration order. Stable across runs, compilers and platforms.
template <entity E>
key128 fingerprint(const E& e) {
    return detail::hash_encoding(detail::content_size(e), [&](char* p) { detail::encode_content_to(p, e); });
}

namespace detail {
/// True when a and b have the same canonical encoding (floating point: NaNs equal, -0 == +0).
template <class T>
bool same_value(const T& a, const T& b) {
    if constexpr (is_optional<T>::value) return a.has_value() == b.has_value() && (!a || same_value(*a, *b));
    else if constexpr (std::is_floating_point_v<T>) return canonical_double_bits(a) == canonical_double_bits(b);
    else return a == b;
}

/// True when a and b have the same canonical content encoding, i.e. the same fingerprint barring an
/// XXH3-128 collision, without hashing either (for callers that hold both entities).
template <entity E>
bool same_content(const E& a, const E& b) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return ((I == entity_info<E>::local_id_index ||
                 same_value(member_ref<const E, I>(a), member_ref<const E, I>(b))) &&
                ...);
    }(std::make_index_sequence<entity_info<E>::size>{});
}
} // namespace detail

/// Names of the content members whose values differ, in declaration order.
template <entity E>
std::vector<std::string> differing_fields(const E& a, const E& b) {
    std::vector<std::string> out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((I != entity_info<E>::local_id_index &&
                  !detail::same_value(detail::member_ref<const E, I>(a), detail::member_ref<const E, I>(b))
              ? (out.emplace_back(detail::member_name<E, I>()), 0)
              : 0),
         ...);
    }(std::make_index_sequence<entity_info<E>::size>{});
    return out;
}

namespace detail {
/// Length of the well-formed UTF-8 sequence that starts at s[i] (a byte >= 0x80), or 0 when it is
/// ill-formed; then `bad` is the length of its maximal subpart (Unicode ch. 3, "U+FFFD Substitution
/// of Maximal Subparts"): the bytes one U+FFFD replaces. Overlong forms, surrogates (U+D800-DFFF)
/// and code points above U+10FFFF are ill-formed.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        if (b0 == 0xE0) lo = 0xA0;       // overlong below U+0800
        else if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        if (b0 == 0xF0) lo = 0x90;       // overlong below U+10000
        else if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        bad = 1;  // a continuation byte, C0/C1 (overlong) or F5-FF
        return 0;
    }
    std::size_t k = 1;
    for (; k < n && i + k < s.size(); ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if (b < lo || b > hi) break;
        lo = 0x80;
        hi = 0xBF;
    }
    if (k == n) return n;
    bad = k;
    return 0;
}

/// The code point of the well-formed n-byte sequence at s[i] when it breaks or reorders the line it
/// is shown in, else 0: the line and paragraph separators (U+2028, U+2029) and the bidirectional
/// formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069). Text from a remote
/// could otherwise show a report line or an answer option in another order than it is read
/// ("Trojan Source", CVE-2021-42574) or start a line of its own in some viewers.
inline unsigned layout_control(std::string_view s, std::size_t i, std::size_t n) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(s[i + k])); };
    unsigned cp = 0;
    if (n == 2) cp = (b(0) & 0x1F) << 6 | (b(1) & 0x3F);
    else if (n == 3) cp = (b(0) & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
    else return 0;
    const bool layout = cp == 0x061C || cp == 0x200E || cp == 0x200F || cp == 0x2028 || cp == 0x2029 ||
                        (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
    return layout ? cp : 0;
}

/// Appends `s` escaped so that it is valid UTF-8 and holds no control character: C0 controls, DEL
/// and the C1 controls U+0080-U+009F as \u00XX (\n, \r, \t short), the line and paragraph
/// separators and bidirectional formatting characters (layout_control) as \uXXXX, each ill-formed
/// UTF-8 sequence as \ufffd. With Json, also `"` and `\` are escaped and the text is quoted (a JSON
/// string literal); without, the text is for a terminal (remote-provided text can neither forge
/// lines nor send escape sequences) and quotes and backslashes stay as they are.
template <bool Json>
void append_escaped(std::string& out, std::string_view s) {
    if constexpr (Json) out += '"';
    std::size_t plain = 0;  // start of the run of characters that need no escape, appended at once
    static constexpr char hexd[] = "0123456789abcdef";
    auto escape_u00 = [&](unsigned c) {
        out += "\\u00";
        out += hexd[c >> 4];
        out += hexd[c & 0xF];
    };
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F && (!Json || (c != '"' && c != '\\'))) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            std::size_t bad = 0;
            const std::size_t n = utf8_sequence(s, i, bad);
            // U+0080-U+009F (C1 controls, "\xC2\x80"-"\xC2\x9F") are escaped, and the characters that
            // break or reorder a line where they are shown (layout_control); other characters kept.
            const bool c1 = n != 0 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
            const unsigned layout = n != 0 && !c1 ? layout_control(s, i, n) : 0;
            if (n != 0 && !c1 && !layout) {
                i += n;
                continue;
            }
            out.append(s, plain, i - plain);
            if (c1) {
                escape_u00(static_cast<unsigned char>(s[i + 1]));
                i += n;
            } else if (layout) {
                out += "\\u";
                for (int shift = 12; shift >= 0; shift -= 4) out += hexd[(layout >> shift) & 0xF];
                i += n;
            } else {
                out += "\\ufffd";
                i += bad;
            }
            plain = i;
            continue;
        }
        out.append(s, plain, i - plain);
        plain = i + 1;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: escape_u00(c);
        }
        ++i;
    }
    out.append(s, plain, s.size() - plain);
    if constexpr (Json) out += '"';
}

/// Appends `s` as a JSON string literal (quoted; quotes, backslashes and control characters
/// escaped, ill-formed UTF-8 replaced by \ufffd): valid JSON whatever the bytes.
inline void append_json_string(std::string& out, std::string_view s) { append_escaped<true>(out, s); }

/// Appends `s` for a terminal: control characters escaped, ill-formed UTF-8 replaced by \ufffd,
/// everything else unchanged (see append_escaped).
inline void append_display_text(std::string& out, std::string_view s) { append_escaped<false>(out, s); }

/// `s` for an error message: quoted and escaped as a JSON string literal (control characters and
/// ill-formed UTF-8 can neither forge lines nor send escape sequences), cut to its first 40 bytes
/// with its length noted when it is longer (a checkpoint's lineage comes from the caller or the
/// database, so it may be anything).
inline std::string quoted_excerpt(std::string_view s) {
    constexpr std::size_t keep = 40;
    std::string out;
    append_json_string(out, s.substr(0, keep));
    if (s.size() > keep) out += "... (" + std::to_string(s.size()) + " bytes)";
    return out;
}

/// append_display_text() as a new string.
inline std::string display_text(std::string_view s) {
    std::string t;
    t.reserve(s.size());
    append_display_text(t, s);
    return t;
}

inline void write_json_string(std::ostream& os, std::string_view s) {
    std::string t;
    append_json_string(t, s);
    os << t;
}

/// Appends an integer (or an enum's underlying value) in decimal as it is encoded: signed values
/// as signed, unsigned as unsigned, `char` and `wchar_t` as unsigned whatever the platform's
/// signedness, bool (an enum over bool) as 0/1. No locale.
template <class T>
void append_integer(std::string& out, T v) {
    char buf[24];
    std::to_chars_result r;
    if constexpr (std::is_same_v<T, bool>)
        r = std::to_chars(buf, buf + sizeof buf, v ? 1 : 0);
    else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, wchar_t>)
        r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<T>>(v)));
    else if constexpr (std::is_signed_v<T>)
        r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    else
        r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint64_t>(v));
    out.append(buf, r.ptr);
}

/// Appends a floating-point value: the shortest decimal that reads back as the same value
/// (std::to_chars, no locale). As the encoding sees it: -0 prints as 0, every NaN as `nan`;
/// `long double` is printed as the binary64 it is encoded as. Json: NaN and +-infinity, which JSON
/// cannot write, are `null`; otherwise `nan`, `inf`, `-inf`.
template <class T>
void append_float(std::string& out, T v, bool json) {
    if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) {
        append_float(out, static_cast<double>(v), json);
    } else {
        // Classified on the bits (see canonical_double_bits): host flags such as -ffast-math fold
        // `v != v` and comparisons with infinity.
        const auto b = std::bit_cast<std::uint64_t>(static_cast<double>(v));
        const bool negative = (b >> 63) != 0;
        if (nan_bits(b)) {
            out += json ? "null" : "nan";
        } else if (infinity_bits(b)) {
            out += json ? "null" : (negative ? "-inf" : "inf");
        } else if ((b << 1) == 0) {
            out += '0';
        } else {
            char buf[64];
            const auto r = std::to_chars(buf, buf + sizeof buf, v);
            out.append(buf, r.ptr);
        }
    }
}

/// Appends a member's value as reports print it: strings as JSON literals, optionals as the value
/// or `null`, bools as true/false, enums and integers in decimal (see append_integer), floating
/// point as append_float writes it. Json: the value as JSON (non-finite floating point is `null`).
template <class T>
void append_value(std::string& out, const T& v, bool json = false) {
    if constexpr (is_optional<T>::value) {
        if (v) append_value(out, *v, json);
        else out += "null";
    } else if constexpr (std::is_same_v<T, bool>) {
        out += v ? "true" : "false";
    } else if constexpr (std::is_enum_v<T>) {
        append_integer(out, static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
        append_json_string(out, v);
    } else if constexpr (std::is_integral_v<T>) {
        static_assert(!wide_integer<T>, CONCORD_WIDE_INTEGER_MESSAGE);
        append_integer(out, v);
    } else {
        static_assert(std::is_floating_point_v<T>, "concord: type cannot be printed");
        append_float(out, v, json);
    }
}

/// append_value() to a stream; Json: as JSON (the only difference: non-finite floating point is null).
template <class T>
void write_value(std::ostream& os, const T& v, bool json = false) {
    std::string t;
    append_value(t, v, json);
    os << t;
}
} // namespace detail

namespace detail {
/// Appends `name{member=value, ...}`: what print() writes, without a stream (reports build many).
template <entity E>
void append_entity(std::string& out, const E& e, std::string_view type_name) {
    out += type_name;
    out += '{';
    bool first = true;
    entity_info<E>::for_each_member(e, [&](std::string_view name, const auto& v) {
        if (!first) out += ", ";
        first = false;
        out += name;
        out += '=';
        append_value(out, v);
    });
    out += '}';
}
} // namespace detail

/// Prints `name{member=value, ...}` (strings quoted and escaped) for reports.
template <entity E>
void print(std::ostream& os, const E& e, std::string_view type_name = "entity") {
    std::string t;
    detail::append_entity(t, e, type_name);
    os << t;
}

/// The text `print` writes.
template <entity E>
std::string to_string(const E& e, std::string_view type_name = "entity") {
    std::string t;
    detail::append_entity(t, e, type_name);
    return t;
}

/// Writes the entity as a JSON object, members in declaration order. Strings are JSON string literals
/// (ill-formed UTF-8 replaced by \ufffd), floating point is the shortest text that reads back as the
/// same value, and NaN and infinities (which JSON cannot write) are `null`, like an absent optional.
template <entity E>
void write_json(std::ostream& os, const E& e) {
    os << '{';
    bool first = true;
    entity_info<E>::for_each_member(e, [&](std::string_view name, const auto& v) {
        if (!first) os << ',';
        first = false;
        detail::write_json_string(os, name);
        os << ':';
        detail::write_value(os, v, true);
    });
    os << '}';
}

} // namespace concord

#undef CONCORD_WIDE_INTEGER_MESSAGE
