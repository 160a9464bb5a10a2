#pragma once
// Internals of the mirror replica: a tiny RAII layer over the sqlite3 C API, the mapping of entity
// members to columns, and the metadata encoding. Not part of the public API.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <sqlite3.h>

#include <concord/detail/sqlite_value.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/records.hpp>

namespace concord::mirror::detail {

[[noreturn]] inline void fail(sqlite3* db, std::string_view what) {
    throw store_error(errc::store_failure, "mirror replica: " + std::string(what) + ": " +
                                              (db ? sqlite3_errmsg(db) : "cannot allocate a connection"));
}

/// One prepared statement, reset after each use.
class stmt {
public:
    stmt(sqlite3* db, const std::string& sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &s_, nullptr) != SQLITE_OK)
            fail(db, "prepare '" + sql + "'");
    }
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;
    ~stmt() { sqlite3_finalize(s_); }

    sqlite3_stmt* get() const noexcept { return s_; }
    void bind(int i, std::int64_t v) { check(sqlite3_bind_int64(s_, i, v)); }
    void bind(int i, double v) { check(sqlite3_bind_double(s_, i, v)); }
    void bind(int i, std::string_view v) {
        // The 64-bit length: an int would wrap for text over 2 GiB (SQLite then reads up to a NUL),
        // where this length lets SQLite refuse it as too big.
        check(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    void bind_null(int i) { check(sqlite3_bind_null(s_, i)); }
    /// Steps once: true for a row, false when done.
    bool step() {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(db_, "step");
    }
    void reset() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    std::int64_t column_int64(int c) const { return sqlite3_column_int64(s_, c); }
    double column_double(int c) const { return sqlite3_column_double(s_, c); }
    bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
    int column_type(int c) const { return sqlite3_column_type(s_, c); }
    std::string column_text(int c) const {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : std::string();
    }

private:
    void check(int rc) {
        if (rc != SQLITE_OK) fail(db_, "bind");
    }
    sqlite3* db_;
    sqlite3_stmt* s_ = nullptr;
};

/// Resets a statement when leaving a scope, so a thrown error never leaves it mid-step.
struct reset_guard {
    stmt& s;
    ~reset_guard() { s.reset(); }
};

inline void exec(sqlite3* db, const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string m = msg ? msg : "unknown error";
        sqlite3_free(msg);
        throw store_error(errc::store_failure, "mirror replica: '" + sql + "': " + m);
    }
}

/// A table name concord accepts: [A-Za-z_][A-Za-z0-9_]*, at most 48 characters.
inline void check_table_name(std::string_view t) {
    bool ok = !t.empty() && t.size() <= 48 && !(t[0] >= '0' && t[0] <= '9');
    for (char c : t)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
    if (!ok)
        throw error(errc::invalid_argument, "mirror replica: table name '" + std::string(t) +
                                                "' must match [A-Za-z_][A-Za-z0-9_]* (at most 48 characters)");
}

template <class T>
void bind_value(stmt& s, int i, const T& v) {
    if constexpr (concord::detail::is_optional<T>::value) {
        if (v) bind_value(s, i, *v);
        else s.bind_null(i);
    } else if constexpr (std::is_same_v<T, std::string>) {
        s.bind(i, std::string_view(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        s.bind(i, static_cast<double>(v));
    } else if constexpr (std::is_enum_v<T>) {
        s.bind(i, static_cast<std::int64_t>(static_cast<std::underlying_type_t<T>>(v)));
    } else {
        static_assert(std::is_integral_v<T>);
        s.bind(i, static_cast<std::int64_t>(v));
    }
}

/// Reads column c into `out`. The replica's content columns have no declared type, so another
/// writer (or a hand edit) can leave a value the member cannot hold: NULL in a member that is not
/// std::optional, text in a number, a number out of the member's range. Read as it stands that
/// would be a made-up value (0, "", a truncated number) which a pull would copy into the host, so it
/// is errc::bad_page naming the column (`where()`), as a malformed listing is.
template <class T, class Where>
void read_value(const stmt& s, int c, T& out, const Where& where) {
    concord::detail::sqlite_read_value(s, c, out, [&](std::string_view why) {
        throw error(errc::bad_page, where() + " " + std::string(why));
    });
}

/// Column list of the content members: `"c_<member>"` each, comma-separated (prefix each with `pre`).
template <entity E>
std::string content_columns(std::string_view pre = "") {
    std::string out;
    static const E sample{};
    entity_info<E>::for_each_content(sample, [&](std::string_view name, const auto&) {
        if (!out.empty()) out += ", ";
        out += std::string(pre) + "\"c_" + std::string(name) + "\"";
    });
    return out;
}

/// Binds the content members of `e` from parameter `first` on; returns the next free index.
template <entity E>
int bind_content(stmt& s, int first, const E& e) {
    int i = first;
    entity_info<E>::for_each_content(e, [&](std::string_view, const auto& v) { bind_value(s, i++, v); });
    return i;
}

/// Reads the content members of an entity from column `first` on; `row()` names the row in messages
/// (called only for one).
template <entity E, class Row>
void read_content(const stmt& s, int first, E& e, const Row& row) {
    int c = first;
    entity_info<E>::for_each_content(e, [&](std::string_view name, auto& v) {
        read_value(s, c++, v, [&] { return row() + ", column c_" + std::string(name) + ","; });
    });
}

/// Metadata as text: for each pair "<len>:<key><len>:<value>" (lengths in decimal bytes).
inline std::string encode_meta(const metadata& m) {
    std::string out;
    for (const auto& [k, v] : m) {
        out += std::to_string(k.size()) + ":" + k;
        out += std::to_string(v.size()) + ":" + v;
    }
    return out;
}

inline metadata decode_meta(std::string_view s) {
    metadata m;
    auto take = [&](std::string& out) {
        const auto colon = s.find(':');
        std::uint64_t n = 0;
        if (colon == std::string_view::npos || !concord::detail::parse_u64(s.substr(0, colon), n) ||
            n > s.size() - colon - 1)
            throw store_error(errc::store_failure, "mirror replica: corrupt metadata column");
        out = std::string(s.substr(colon + 1, n));
        s.remove_prefix(colon + 1 + n);
    };
    while (!s.empty()) {
        std::string k, v;
        take(k);
        take(v);
        m[std::move(k)] = std::move(v);
    }
    return m;
}

} // namespace concord::mirror::detail
