#pragma once
// sqlite_store<E>: the Store concept on an SQLite database, for any Hana-described entity.
//
// Tables (all in the same database file, so one backup holds them all and a restore rewinds them
// together):
//   <table>              one row per entity; one column per member, named after it (or as mapped)
//                         integral, bool, enum -> INTEGER; floating point -> REAL; std::string -> TEXT;
//                         std::optional<T> -> the same type, nullable (every other column is NOT NULL).
//                         The local id member (entity_traits<E>::local_id, default `id`) is the
//                         INTEGER PRIMARY KEY, i.e. the rowid: new ids are max(id) + 1 like
//                         memory_store, so a restore makes ids reusable, as real hosts see it.
//                         An unsigned 64-bit member is stored as its two's-complement int64.
//                         NaN is refused (errc::invalid_argument, before anything is written):
//                         SQLite stores a bound NaN as NULL, which would change the value silently.
//   concord_links        (scope, identity, remote_id, generation): links per (table, identity);
//                         scope defaults to the table name.
//   concord_checkpoint   one row per database, shared by every sqlite_store on it: lineage,
//                         generation, cursors and an XXH3-128 checksum of the three. A row edited by
//                         hand fails the checksum and load_checkpoint() throws errc::checkpoint_corrupt;
//                         so does a lineage that is not 32 lowercase hex digits (is_lineage_id), which
//                         an older database may hold: no witness could name it.
//
// Existing tables: pass a sqlite_mapping with create_table = false and, where column names differ
// from member names, `columns` (member -> column; matched case-insensitively, as SQLite does). The
// table must have every mapped column; the local id column must be its rowid alias: declared
// `INTEGER PRIMARY KEY`, the only primary key column, not DESC, in a rowid table. Columns the
// entity does not know are left alone (they need a default or must be nullable, since concord never
// writes them).
//
// commit() is one BEGIN IMMEDIATE transaction: entity rows, link changes and the new checkpoint
// (generation bump and cursors) are written together or not at all. A checkpoint whose lineage is not
// is_lineage_id is refused with errc::invalid_argument before the transaction begins.
//
// lock_reconcile(scope) is the database's reconcile lock (sqlite_database::lock_reconcile, an flock
// on a lock file beside the database): reconciler::reconcile(), inbound::puller and mirror::mirror
// hold it for their whole session, so a second one on the same file stops with
// errc::concurrent_reconcile.

#include <bit>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <concord/detail/lineage.hpp>
#include <concord/detail/sqlite_value.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/records.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/witness.hpp>

namespace concord {

/// How an entity type maps onto a table. The default (just a table name) creates the table with
/// one column per member, named after it.
struct sqlite_mapping {
    std::string table{};                          ///< table name
    std::map<std::string, std::string> columns{}; ///< member name -> column name, where they differ
    bool create_table = true;                     ///< false: the table must already exist (host's own table)
    std::string links_scope{};                    ///< key of this store's links; empty = the table name
};

namespace detail {

/// ASCII lower case: SQLite compares identifiers case-insensitively for ASCII letters only.
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// True when a member value holds a NaN (SQLite would store it as NULL).
template <class T>
bool holds_nan(const T& v) {
    if constexpr (is_optional<T>::value) return v && holds_nan(*v);
    else if constexpr (std::is_floating_point_v<T>)  // on the bits: -ffast-math folds `v != v`
        return concord::detail::nan_bits(std::bit_cast<std::uint64_t>(static_cast<double>(v)));
    else return false;
}

/// Quotes an SQL identifier ("name", with embedded quotes doubled).
inline std::string sql_ident(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

/// SQLite column type of a member type; fails naming the member when there is none.
template <class E, class MemberName, class T>
struct sqlite_column {
    static_assert(encodable<T>(),
                  "concord sqlite_store: this entity member has a type with no SQLite column mapping (see MemberName "
                  "in the instantiation above). Supported: integral, bool, enum -> INTEGER; floating point -> REAL; "
                  "std::string -> TEXT; std::optional of those -> nullable.");
    using value_type = typename std::conditional_t<is_optional<T>::value, T, std::optional<T>>::value_type;
    static constexpr bool nullable = is_optional<T>::value;
    static constexpr std::string_view type =
        std::is_floating_point_v<value_type> ? "REAL" : std::is_same_v<value_type, std::string> ? "TEXT" : "INTEGER";
};

template <class E, std::size_t I>
using sqlite_column_at =
    sqlite_column<E, std::decay_t<decltype(hana::first(std::declval<accessor_t<E, I>>()))>, member_t<E, I>>;

template <class T>
void sqlite_bind(sqlite_statement& s, int i, const T& v) {
    if constexpr (is_optional<T>::value) {
        if (v) sqlite_bind(s, i, *v);
        else s.bind_null(i);
    } else if constexpr (std::is_enum_v<T>) {
        sqlite_bind(s, i, static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_integral_v<T>) {
        s.bind_int64(i, static_cast<std::int64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        s.bind_double(i, static_cast<double>(v));
    } else {
        s.bind_text(i, v);
    }
}

/// Reads column i into v (`where()` describes the column for messages); a NULL in a NOT NULL member, a value of the wrong type or out of the
/// member's range is a store_error naming the table, column and row.
template <class T, class Where>
void sqlite_read(const sqlite_statement& s, int i, T& v, const Where& where) {
    sqlite_read_value(s, i, v, [&](std::string_view why) {
        throw store_error(errc::store_failure, where() + ": " + std::string(why));
    });
}

inline constexpr std::string_view checkpoint_format = "concord-checkpoint v1";

/// Canonical text of the checkpoint's cursors: one "<hex of name> <decimal>\n" line per cursor,
/// in name order.
inline std::string format_cursors(const std::map<std::string, std::uint64_t>& cursors) {
    std::string out;
    for (const auto& [name, pos] : cursors) out += hex_text(name) + " " + std::to_string(pos) + "\n";
    return out;
}

inline bool parse_cursors(std::string_view text, std::map<std::string, std::uint64_t>& out) {
    out.clear();
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) return false;
        const auto line = text.substr(pos, nl - pos);
        pos = nl + 1;
        const auto sp = line.find(' ');
        if (sp == std::string_view::npos) return false;
        std::string name;
        std::uint64_t v = 0;
        if (!unhex_text(line.substr(0, sp), name)) return false;
        if (!parse_u64(line.substr(sp + 1), v)) return false;
        if (!out.emplace(std::move(name), v).second) return false;
    }
    return true;
}

/// XXH3-128 over the checkpoint's fields in a fixed text form (docs/restore-detection.md).
inline key128 checkpoint_checksum(std::string_view lineage, std::int64_t generation, std::string_view cursors) {
    std::string body = std::string(checkpoint_format) + "\nlineage " + std::string(lineage) + "\ngeneration " +
                       std::to_string(generation) + "\ncursors\n" + std::string(cursors);
    return xxh3_128(body);
}

} // namespace detail

/// The Store concept on SQLite. Not thread-safe (one connection, like the host's).
template <entity E>
class sqlite_store {
    using info = entity_info<E>;
    static_assert(detail::check_members<E>(std::make_index_sequence<info::size>{}));

public:
    using entity_type = E;

    /// A store on `table`, created if missing, columns named after the members.
    sqlite_store(sqlite_database& db, std::string table) : sqlite_store(db, sqlite_mapping{std::move(table), {}, true, {}}) {}

    /// A store with an explicit mapping (existing tables, other column names).
    sqlite_store(sqlite_database& db, sqlite_mapping m) : db_(&db), map_(std::move(m)) {
        if (map_.table.empty()) throw error(errc::invalid_argument, "sqlite_store needs a table name");
        if (map_.links_scope.empty()) map_.links_scope = map_.table;
        for (const auto& entry : map_.columns) {
            const std::string& member = entry.first;
            const std::string& column = entry.second;
            bool known = false;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                ((known = known || info::template name<I> == member), ...);
            }(std::make_index_sequence<info::size>{});
            if (!known)
                throw error(errc::invalid_argument, "sqlite_mapping for table '" + map_.table + "' names member '" +
                                                        member + "', which the entity does not have");
            if (column.empty()) throw error(errc::invalid_argument, "empty column name for member '" + member + "'");
        }
        build_sql();
        ensure_schema();
    }

    sqlite_database& database() noexcept { return *db_; }
    const sqlite_mapping& mapping() const noexcept { return map_; }

    /// The database's reconcile lock (see sqlite_database::lock_reconcile): held around a whole
    /// session so that a second reconcile of the same file reports errc::concurrent_reconcile.
    /// Nothing to hold for an in-memory database.
    sqlite_database::reconcile_lock lock_reconcile(std::string_view scope = "concord") { return db_->lock_reconcile(scope); }

    // ----------------------------------------------------------------------------- store concept

    /// Every entity, in local id (rowid) order.
    std::vector<E> scan() {
        ensure_schema();
        std::vector<E> out;
        auto s = db_->statement(select_all_);
        while (s.step()) out.push_back(read_row(s));
        return out;
    }

    /// Every link of this store's scope, in identity order.
    std::vector<link> links() {
        ensure_schema();
        std::vector<link> out;
        auto s = db_->statement("SELECT identity, remote_id, generation FROM concord_links WHERE scope = ?1 ORDER BY identity");
        s.bind_text(1, map_.links_scope);
        while (s.step()) {
            link l;
            const auto id = s.column_text(0);
            if (s.column_type(0) != SQLITE_TEXT || !l.identity.parse_hex(id) || s.column_type(1) != SQLITE_TEXT ||
                s.column_type(2) != SQLITE_INTEGER || s.column_int64(2) < 0)
                throw store_error(errc::checkpoint_corrupt, "concord_links row for scope '" + map_.links_scope +
                                                                "', identity '" + id + "' is not what concord wrote");
            l.remote_id = s.column_text(1);
            l.generation = static_cast<std::uint64_t>(s.column_int64(2));
            out.push_back(std::move(l));
        }
        return out;
    }

    /// The database's checkpoint, validated: nullopt before the first commit; errc::checkpoint_corrupt
    /// when the row fails its checksum or does not parse (edited by hand, damaged).
    std::optional<checkpoint> load_checkpoint() {
        ensure_schema();
        auto s = db_->statement("SELECT format, lineage, generation, cursors, checksum, typeof(generation) FROM concord_checkpoint");
        if (!s.step()) return std::nullopt;
        auto corrupt = [&](const std::string& why) -> std::optional<checkpoint> {
            throw store_error(errc::checkpoint_corrupt,
                              "the checkpoint in " + db_->path().string() + " is not what concord wrote: " + why);
        };
        for (int i = 0; i < 5; ++i)
            if (i != 2 && s.column_type(i) != SQLITE_TEXT) return corrupt("a field has the wrong type");
        if (s.column_text(5) != "integer") return corrupt("generation is not an integer");
        if (s.column_text(0) != detail::checkpoint_format)
            return corrupt("unknown format '" + s.column_text(0) + "'");
        checkpoint cp;
        cp.lineage = s.column_text(1);
        const auto gen = s.column_int64(2);
        const auto cursors = s.column_text(3);
        key128 sum;
        if (!sum.parse_hex(s.column_text(4))) return corrupt("checksum is not 32 hex digits");
        if (detail::checkpoint_checksum(cp.lineage, gen, cursors) != sum)
            return corrupt("checksum mismatch (edited by hand or damaged)");
        if (gen < 0) return corrupt("negative generation");
        if (!is_lineage_id(cp.lineage)) return corrupt("lineage " + detail::stored_lineage_problem(cp.lineage));
        cp.generation = static_cast<std::uint64_t>(gen);
        if (!detail::parse_cursors(cursors, cp.cursors)) return corrupt("cursors do not parse");
        if (s.step()) return corrupt("more than one checkpoint row");
        return cp;
    }

    /// Applies the batch in one BEGIN IMMEDIATE transaction: removals, upserts (local id 0 inserts),
    /// link removals, link upserts, then the checkpoint. On any failure nothing is written and a
    /// store_error says why (a removal of an unknown local id is a failure, as in memory_store).
    /// Refused before the transaction begins, with errc::invalid_argument: a checkpoint whose lineage
    /// is not is_lineage_id or whose generation exceeds SQLite's INTEGER, a NaN in a row.
    void commit(const change_batch<E>& b) {
        if (b.new_checkpoint) validate_checkpoint(*b.new_checkpoint);  // first: a refused batch writes nothing, schema included
        ensure_schema();
        for (const auto& e : b.upserts) check_values(e);  // before BEGIN: a refused batch writes nothing
        sqlite_transaction tx(*db_);
        for (auto id : b.removals) {
            auto s = db_->statement(delete_);
            s.bind_int64(1, id);
            s.run();
            if (db_->changes() == 0)
                throw store_error(errc::store_failure,
                                  "remove of unknown local id " + std::to_string(id) + " in table '" + map_.table + "'");
        }
        for (const auto& e : b.upserts) write(e);
        hook("entities written");
        for (const auto& k : b.link_removals) {
            auto s = db_->statement("DELETE FROM concord_links WHERE scope = ?1 AND identity = ?2");
            s.bind_text(1, map_.links_scope);
            s.bind_text(2, k.hex());
            s.run();
        }
        for (const auto& l : b.link_upserts) {
            check_generation(l.generation, "link generation");
            auto s = db_->statement(
                "INSERT INTO concord_links(scope, identity, remote_id, generation) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT(scope, identity) DO UPDATE SET remote_id = excluded.remote_id, generation = excluded.generation");
            s.bind_text(1, map_.links_scope);
            s.bind_text(2, l.identity.hex());
            s.bind_text(3, l.remote_id);
            s.bind_int64(4, static_cast<std::int64_t>(l.generation));
            s.run();
        }
        hook("links written");
        if (b.new_checkpoint) {
            const auto& cp = *b.new_checkpoint;
            const auto cursors = detail::format_cursors(cp.cursors);
            const auto gen = static_cast<std::int64_t>(cp.generation);
            auto s = db_->statement(
                "INSERT INTO concord_checkpoint(singleton, format, lineage, generation, cursors, checksum) "
                "VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT(singleton) DO UPDATE SET format = excluded.format, "
                "lineage = excluded.lineage, generation = excluded.generation, cursors = excluded.cursors, "
                "checksum = excluded.checksum");
            s.bind_text(1, detail::checkpoint_format);
            s.bind_text(2, cp.lineage);
            s.bind_int64(3, gen);
            s.bind_text(4, cursors);
            s.bind_text(5, detail::checkpoint_checksum(cp.lineage, gen, cursors).hex());
            s.run();
            hook("checkpoint written");
        }
        tx.commit();
        ++commits_;
    }

    // ----------------------------------------------------------------------------- host helpers

    /// Host-side write outside concord (autocommit). Local id 0 inserts; returns the local id.
    std::int64_t put(E e) {
        ensure_schema();
        check_values(e);
        return write(e);
    }
    /// Host-side delete outside concord; false if there was no such row.
    bool erase(std::int64_t id) {
        ensure_schema();
        auto s = db_->statement(delete_);
        s.bind_int64(1, id);
        s.run();
        return db_->changes() > 0;
    }
    std::optional<E> get(std::int64_t id) {
        ensure_schema();
        auto s = db_->statement(select_one_);
        s.bind_int64(1, id);
        if (!s.step()) return std::nullopt;
        return read_row(s);
    }
    std::size_t size() {
        ensure_schema();
        auto s = db_->statement(count_);
        s.step();
        return static_cast<std::size_t>(s.column_int64(0));
    }

    /// Crash injection for tests: called inside commit()'s transaction after each part is written
    /// ("entities written", "links written", "checkpoint written"); throwing rolls the batch back.
    void set_commit_hook(std::function<void(std::string_view)> h) { hook_ = std::move(h); }
    /// Transactions committed by commit() through this store object.
    std::size_t commits() const noexcept { return commits_; }

private:
    template <std::size_t I>
    std::string column_of() const {
        const std::string member(info::template name<I>);
        auto it = map_.columns.find(member);
        return it == map_.columns.end() ? member : it->second;
    }

    std::string id_column() const {
        if constexpr (info::has_local_id) return column_of<info::local_id_index>();
        else return "rowid";
    }

    void build_sql() {
        const auto t = detail::sql_ident(map_.table);
        std::string all, content, params, updates;
        int n = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    const auto c = detail::sql_ident(column_of<I>());
                    all += (I == 0 ? "" : ", ") + c;
                    if (I == info::local_id_index) return;
                    ++n;
                    content += (content.empty() ? "" : ", ") + c;
                    params += (params.empty() ? "?" : ", ?") + std::to_string(n);
                    updates += (updates.empty() ? "" : ", ") + c + " = excluded." + c;
                }(),
                ...);
        }(std::make_index_sequence<info::size>{});
        const auto id = detail::sql_ident(id_column());
        const auto order = info::has_local_id ? id : std::string("rowid");
        select_all_ = "SELECT " + all + " FROM " + t + " ORDER BY " + order;
        select_one_ = "SELECT " + all + " FROM " + t + " WHERE " + order + " = ?1";
        count_ = "SELECT count(*) FROM " + t;
        delete_ = "DELETE FROM " + t + " WHERE " + order + " = ?1";
        insert_ = content.empty() ? "INSERT INTO " + t + " DEFAULT VALUES"
                                  : "INSERT INTO " + t + " (" + content + ") VALUES (" + params + ")";
        if constexpr (info::has_local_id)
            upsert_ = "INSERT INTO " + t + " (" + (content.empty() ? id : content + ", " + id) + ") VALUES (" +
                      (content.empty() ? "" : params + ", ") + "?" + std::to_string(n + 1) + ") ON CONFLICT(" + id +
                      ") DO " + (updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
        content_params_ = n;
    }

    /// Creates missing tables and checks that mapped columns exist; runs once per connection epoch
    /// (a reopen or restore may have replaced the schema).
    void ensure_schema() {
        if (schema_epoch_ && *schema_epoch_ == db_->epoch()) return;
        db_->exec("CREATE TABLE IF NOT EXISTS concord_checkpoint (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), "
                  "format TEXT NOT NULL, lineage TEXT NOT NULL, generation INTEGER NOT NULL, cursors TEXT NOT NULL, "
                  "checksum TEXT NOT NULL)");
        db_->exec("CREATE TABLE IF NOT EXISTS concord_links (scope TEXT NOT NULL, identity TEXT NOT NULL, "
                  "remote_id TEXT NOT NULL, generation INTEGER NOT NULL, PRIMARY KEY (scope, identity)) WITHOUT ROWID");
        if (map_.create_table) {
            std::string cols;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (
                    [&] {
                        using col = detail::sqlite_column_at<E, I>;
                        cols += (I == 0 ? "" : ", ") + detail::sql_ident(column_of<I>()) + " ";
                        if (I == info::local_id_index) cols += "INTEGER PRIMARY KEY";
                        else cols += std::string(col::type) + (col::nullable ? "" : " NOT NULL");
                    }(),
                    ...);
            }(std::make_index_sequence<info::size>{});
            db_->exec("CREATE TABLE IF NOT EXISTS " + detail::sql_ident(map_.table) + " (" + cols + ")");
        }
        check_columns();
        schema_epoch_ = db_->epoch();
    }

    void check_columns() {
        struct col_info {
            std::string type;
            int pk;
        };
        std::map<std::string, col_info> cols;  // keyed by the ASCII-lower-cased name, as SQLite matches them
        int pk_columns = 0;
        {
            auto s = db_->statement("SELECT name, upper(type), pk FROM pragma_table_info(?1)");
            s.bind_text(1, map_.table);
            while (s.step()) {
                const auto pk = static_cast<int>(s.column_int64(2));
                if (pk > 0) ++pk_columns;
                cols[detail::ascii_lower(s.column_text(0))] = {s.column_text(1), pk};
            }
        }
        if (cols.empty())
            throw error(errc::invalid_argument, "table '" + map_.table + "' does not exist in " + db_->path().string() +
                                                    " (sqlite_mapping::create_table is false)");
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    const auto c = column_of<I>();
                    auto it = cols.find(detail::ascii_lower(c));
                    if (it == cols.end())
                        throw error(errc::invalid_argument, "table '" + map_.table + "' has no column '" + c +
                                                                "' for member '" + std::string(info::template name<I>) + "'");
                    if (I == info::local_id_index &&
                        (it->second.type != "INTEGER" || it->second.pk != 1 || pk_columns != 1 || !rowid_alias_table()))
                        throw error(errc::invalid_argument,
                                    "column '" + c + "' of table '" + map_.table +
                                        "' holds the local id and must be the table's rowid: declared `INTEGER PRIMARY "
                                        "KEY` as the only primary key column, not DESC, in a table that is not WITHOUT "
                                        "ROWID (otherwise new rows get no id)");
                }(),
                ...);
        }(std::make_index_sequence<info::size>{});
    }

    /// True unless the primary key has an index of its own: SQLite builds one for every primary key
    /// that is not the rowid (a composite key, `INTEGER PRIMARY KEY DESC`, a WITHOUT ROWID table).
    bool rowid_alias_table() {
        auto s = db_->statement("SELECT count(*) FROM pragma_index_list(?1) WHERE origin = 'pk'");
        s.bind_text(1, map_.table);
        return s.step() && s.column_int64(0) == 0;
    }

    /// Refuses values SQLite would not store as given: a NaN would be read back as NULL.
    void check_values(const E& e) const {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    if (!detail::holds_nan(detail::member_ref<const E, I>(e))) return;
                    const auto id = local_id_of(e);
                    throw error(errc::invalid_argument,
                                "member '" + std::string(info::template name<I>) + "' (column '" + column_of<I>() +
                                    "' of table '" + map_.table + "', " +
                                    (id == 0 ? std::string("a new row") : "local id " + std::to_string(id)) +
                                    ") is NaN, which SQLite would store as NULL: sqlite_store refuses NaN, nothing was "
                                    "written (use std::nullopt in a std::optional member for \"no value\", or "
                                    "postgres_store, which keeps NaN)");
                }(),
                ...);
        }(std::make_index_sequence<info::size>{});
    }

    std::int64_t write(E e) {
        auto id = local_id_of(e);
        if constexpr (info::has_local_id) {
            if (id != 0) {
                auto s = db_->statement(upsert_);
                bind_content(s, e);
                s.bind_int64(content_params_ + 1, id);
                s.run();
                return id;
            }
        }
        auto s = db_->statement(insert_);
        bind_content(s, e);
        s.run();
        return db_->last_insert_rowid();
    }

    void bind_content(sqlite_statement& s, const E& e) {
        int n = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((I != info::local_id_index ? (detail::sqlite_bind(s, ++n, detail::member_ref<const E, I>(e)), 0) : 0), ...);
        }(std::make_index_sequence<info::size>{});
    }

    E read_row(const sqlite_statement& s) {
        E e{};
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (detail::sqlite_read(s, static_cast<int>(I), detail::member_ref<E, I>(e),
                                 [&] { return "table '" + map_.table + "', column '" + column_of<I>() + "'"; }),
             ...);
        }(std::make_index_sequence<info::size>{});
        return e;
    }

    static void check_generation(std::uint64_t g, std::string_view what) {
        if (g > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw error(errc::invalid_argument, std::string(what) + " " + std::to_string(g) + " exceeds SQLite's INTEGER range");
    }

    void validate_checkpoint(const checkpoint& cp) const {
        detail::check_checkpoint_lineage(cp.lineage, "sqlite_store of table '" + map_.table + "'");
        check_generation(cp.generation, "checkpoint generation");
    }

    void hook(std::string_view what) {
        if (hook_) hook_(what);
    }

    sqlite_database* db_;
    sqlite_mapping map_;
    std::string select_all_, select_one_, count_, delete_, insert_, upsert_;
    int content_params_ = 0;
    std::optional<std::uint64_t> schema_epoch_;
    std::function<void(std::string_view)> hook_;
    std::size_t commits_ = 0;
};

} // namespace concord
