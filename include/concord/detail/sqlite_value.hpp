#pragma once
// Reading one SQLite column into an entity member, checked: shared by sqlite_store (where a bad
// value is a store failure) and the mirror replica (where it is a malformed listing). Not public.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <sqlite3.h>

#include <concord/entity.hpp>

namespace concord::detail {

/// char and wchar_t are signed on some platforms and unsigned on others: a database file written on
/// one is read on the other, so both ranges are read as the same bits (see sqlite_read_value).
template <class I>
inline constexpr bool sign_varies = std::is_same_v<I, char> || std::is_same_v<I, wchar_t>;

/// Reads column i of `s` into v. A value the member cannot hold (NULL in a member that is not
/// std::optional, a value of another type, an integer out of the member's range, a bool other than
/// 0 or 1) calls `bad(why)`, which must throw: read as it stands it would be a made-up value.
/// `S` has column_type/column_int64/column_double/column_text(i), as sqlite_statement has.
template <class S, class T, class Bad>
void sqlite_read_value(const S& s, int i, T& v, const Bad& bad) {
    const int type = s.column_type(i);
    if constexpr (is_optional<T>::value) {
        if (type == SQLITE_NULL) {
            v.reset();
            return;
        }
        typename T::value_type inner{};
        sqlite_read_value(s, i, inner, bad);
        v = std::move(inner);
    } else {
        if (type == SQLITE_NULL) bad("holds NULL, but the member is not std::optional");
        if constexpr (std::is_same_v<T, std::string>) {
            if (type != SQLITE_TEXT) bad("holds a value that is not text, for a std::string member");
            v = s.column_text(i);
        } else if constexpr (std::is_floating_point_v<T>) {
            if (type != SQLITE_FLOAT && type != SQLITE_INTEGER)
                bad("holds a value that is not a number, for a floating-point member");
            v = static_cast<T>(s.column_double(i));
        } else {
            using I = typename std::conditional_t<std::is_enum_v<T>, std::underlying_type<T>, std::type_identity<T>>::type;
            static_assert(std::is_integral_v<I>, "concord: no SQLite mapping for this member type");
            if (type != SQLITE_INTEGER) bad("holds a value that is not an integer, for an integer member");
            const std::int64_t x = s.column_int64(i);
            // Members of 64 bits round-trip through int64 (they are bound with the same cast).
            if constexpr (std::is_same_v<I, bool>) {
                if (x != 0 && x != 1) bad("holds " + std::to_string(x) + " for a bool member");
            } else if constexpr (sign_varies<I>) {
                // Written where char is signed (x86: -1) or unsigned (ARM: 255): both are this byte.
                if (x < static_cast<std::int64_t>(std::numeric_limits<std::make_signed_t<I>>::min()) ||
                    x > static_cast<std::int64_t>(std::numeric_limits<std::make_unsigned_t<I>>::max()))
                    bad("holds " + std::to_string(x) + ", out of the member type's range");
                v = static_cast<T>(static_cast<I>(static_cast<std::make_unsigned_t<I>>(x)));
                return;
            } else if constexpr (sizeof(I) < sizeof(std::int64_t)) {
                if (x < static_cast<std::int64_t>(std::numeric_limits<I>::min()) ||
                    x > static_cast<std::int64_t>(std::numeric_limits<I>::max()))
                    bad("holds " + std::to_string(x) + ", out of the member type's range");
            }
            v = static_cast<T>(static_cast<I>(x));
        }
    }
}

}  // namespace concord::detail
