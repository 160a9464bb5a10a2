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
#include <cstdint>
#include <optional>
#include <ostream>
#include <sstream>
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

/// Customisation point: which member holds the local (database-assigned) id.
/// Specialise with `static constexpr std::string_view local_id = "";` for an entity without one.
template <class E>
struct entity_traits {
    static constexpr std::string_view local_id = "id";
};

/// Satisfied by structs described with Boost.Hana.
template <class E>
concept entity = hana::Struct<E>::value && std::is_default_constructible_v<E> && std::is_copy_constructible_v<E>;

namespace detail {

template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
constexpr bool encodable_scalar = std::is_integral_v<T> || std::is_enum_v<T> || std::is_floating_point_v<T> ||
                                  std::is_same_v<T, std::string>;

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
    static_assert(encodable<T>(),
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

inline void put_u64(std::string& out, std::uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    out.append(b, 8);
}

inline std::uint64_t canonical_double_bits(double d) {
    if (d != d) return 0x7ff8000000000000ULL;  // every NaN encodes as the quiet NaN
    if (d == 0.0) return 0;                    // -0.0 and +0.0 are one value
    return std::bit_cast<std::uint64_t>(d);
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
    if constexpr (detail::is_optional<T>::value) {
        out.push_back(v ? '\1' : '\0');
        if (v) encode_value(out, *v);
    } else if constexpr (std::is_same_v<T, bool>) {
        out.push_back(v ? '\1' : '\0');
    } else if constexpr (std::is_enum_v<T>) {
        encode_value(out, static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, wchar_t>) {
        detail::put_u64(out, static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<T>>(v)));
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
        detail::put_u64(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
    } else if constexpr (std::is_integral_v<T>) {
        detail::put_u64(out, static_cast<std::uint64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        detail::put_u64(out, detail::canonical_double_bits(static_cast<double>(v)));
    } else if constexpr (std::is_same_v<T, std::string>) {
        detail::put_u64(out, v.size());
        out.append(v);
    } else {
        static_assert(detail::encodable<T>(), "concord: type cannot be encoded");
    }
}

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

/// Canonical encoding of every content member, appended to out.
template <entity E>
void encode_content(std::string& out, const E& e) {
    entity_info<E>::for_each_content(e, [&](std::string_view, const auto& v) { encode_value(out, v); });
}

/// Content fingerprint: XXH3-128 (seed 0) of the canonical encoding of every content member in
/// declaration order. Stable across runs, compilers and platforms.
template <entity E>
key128 fingerprint(const E& e) {
    thread_local std::string buf;
    buf.clear();
    encode_content(buf, e);
    return xxh3_128(buf);
}

namespace detail {
template <class T>
bool same_value(const T& a, const T& b) {
    if constexpr (std::is_floating_point_v<T>) return canonical_double_bits(a) == canonical_double_bits(b);
    else return a == b;
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
inline void write_json_string(std::ostream& os, std::string_view s) {
    os << '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': os << "\\\""; break;
        case '\\': os << "\\\\"; break;
        case '\n': os << "\\n"; break;
        case '\r': os << "\\r"; break;
        case '\t': os << "\\t"; break;
        default:
            if (c < 0x20) {
                static constexpr char hexd[] = "0123456789abcdef";
                os << "\\u00" << hexd[c >> 4] << hexd[c & 0xF];
            } else {
                os << static_cast<char>(c);
            }
        }
    }
    os << '"';
}

template <class T>
void write_value(std::ostream& os, const T& v, bool json) {
    if constexpr (is_optional<T>::value) {
        if (v) write_value(os, *v, json);
        else os << "null";
    } else if constexpr (std::is_same_v<T, bool>) {
        os << (v ? "true" : "false");
    } else if constexpr (std::is_enum_v<T>) {
        os << static_cast<std::int64_t>(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
        write_json_string(os, v);
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
        os << static_cast<int>(v);
    } else {
        os << v;
    }
}
} // namespace detail

/// Prints `name{member=value, ...}` (strings quoted and escaped) for reports.
template <entity E>
void print(std::ostream& os, const E& e, std::string_view type_name = "entity") {
    os << type_name << '{';
    bool first = true;
    entity_info<E>::for_each_member(e, [&](std::string_view name, const auto& v) {
        if (!first) os << ", ";
        first = false;
        os << name << '=';
        detail::write_value(os, v, false);
    });
    os << '}';
}

/// The text `print` writes.
template <entity E>
std::string to_string(const E& e, std::string_view type_name = "entity") {
    std::ostringstream os;
    print(os, e, type_name);
    return os.str();
}

/// Writes the entity as a JSON object, members in declaration order.
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
