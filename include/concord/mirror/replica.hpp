#pragma once
// The mirror shape's remote: a replica of host entities in a second SQLite database, as a
// RemoteSource (create, update, cancel = remove, idempotency keys, metadata) that can also answer
// range queries, which is what makes a rewind after a restore cost what changed, not the table:
//
//  * a change feed: every write (create, update, removal) moves the row to a new, higher seq, and a
//    removal leaves a tombstone, so `list(after)` returns exactly the rows written since `after`.
//    The mirror keeps that seq as its cursor in the host's checkpoint; a restore rewinds it, and
//    re-pulling from the rewound cursor yields what the replica did since the restore point;
//  * range checksums over the identity key space (checksum.hpp), several ranges per round trip,
//    for the bisection in bisect.hpp: it also finds changes made behind concord's back, which no
//    feed shows;
//  * listing bounded by creation time, for orphan scans after a restore.
//
// Schema (table name T chosen by the caller):
//   T(seq INTEGER PRIMARY KEY, remote_id TEXT UNIQUE, identity TEXT, state INTEGER (0 active,
//     1 removed), created_at INTEGER, h1 INTEGER, h2 INTEGER, meta TEXT, "c_<member>"...)
//   T_keys(key PRIMARY KEY, params, remote_id)      idempotency keys, kept forever
//   T_state(name PRIMARY KEY, value)                last_seq, last_id, horizon
// `compact(s)` drops tombstones with seq <= s; a cursor below that horizon is refused with
// errc::cursor_rejected (a feed from there would miss removals): recover by a full scan.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include <concord/cursor.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/mirror/checksum.hpp>
#include <concord/mirror/detail/sqlite_rows.hpp>
#include <concord/records.hpp>

namespace concord::mirror {

/// A replica table in its own SQLite database file, usable as a concord RemoteSource.
template <entity E>
class sqlite_replica {
public:
    using entity_type = E;

    /// What the replica served: a benchmark's "remote calls" and "rows transferred".
    struct counters {
        std::size_t calls = 0;              ///< every remote call (list, write, checksum, look-up)
        std::size_t list_calls = 0;         ///< list / list_created_since / list_ranges calls
        std::size_t rows_sent = 0;          ///< records returned by any listing
        std::size_t checksum_calls = 0;     ///< checksums() round trips
        std::size_t ranges_checksummed = 0; ///< ranges answered by those round trips
        std::size_t writes = 0;             ///< rows created, updated or removed
    };

    /// Opens (or creates) `path` and the replica table `table`. `now` is the replica's clock
    /// (Unix seconds) for creation times. errc::not_a_database if the file is not SQLite,
    /// errc::store_failure if it cannot be opened or created at all.
    sqlite_replica(const std::filesystem::path& path, std::string table, std::function<std::int64_t()> now = unix_now)
        : table_(std::move(table)), now_(std::move(now)) {
        detail::check_table_name(table_);
        if (!now_) now_ = unix_now;
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
            std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            throw store_error(errc::store_failure, "mirror replica: cannot open " + path.string() + ": " + msg);
        }
        sqlite3_busy_timeout(db_, 5000);
        try {
            init();
        } catch (...) {
            stmts_.reset();
            sqlite3_close(db_);
            throw;
        }
    }
    sqlite_replica(const sqlite_replica&) = delete;
    sqlite_replica& operator=(const sqlite_replica&) = delete;
    ~sqlite_replica() {
        stmts_.reset();
        sqlite3_close(db_);
    }

    static metadata_limits limits() { return {}; }

    // ------------------------------------------------------------------- RemoteSource: listing

    /// Change feed: rows written after `after` (tombstones included), by increasing seq.
    page<E> list(std::optional<std::uint64_t> after, std::size_t limit) {
        count_call();
        ++c_.list_calls;
        if (after && static_cast<std::int64_t>(*after) < horizon_)
            throw error(errc::cursor_rejected, "replica '" + table_ + "' compacted its removals up to seq " +
                                                   std::to_string(horizon_) + "; a feed after " +
                                                   std::to_string(*after) + " would miss removals");
        auto& s = *stmts_->list;
        detail::reset_guard g{s};
        s.bind(1, static_cast<std::int64_t>(after.value_or(0)));
        s.bind(2, static_cast<std::int64_t>(limit) + 1);
        return read_page(s, limit);
    }

    /// Rows created at or after `since` (replica clock), written after `after`, by increasing seq.
    page<E> list_created_since(std::int64_t since, std::optional<std::uint64_t> after, std::size_t limit) {
        count_call();
        ++c_.list_calls;
        auto& s = *stmts_->since;
        detail::reset_guard g{s};
        s.bind(1, since);
        s.bind(2, static_cast<std::int64_t>(after.value_or(0)));
        s.bind(3, static_cast<std::int64_t>(limit) + 1);
        return read_page(s, limit);
    }

    // ------------------------------------------------------------------- RemoteSource: writes

    remote_record<E> create(const E& e, const metadata& m, const std::string& key) {
        return keyed(key, "create|" + fingerprint(e).hex() + "|" + detail::encode_meta(m), [&] {
            check_metadata(m, limits());
            E v = e;
            set_local_id(v, 0);
            auto idt = m.find(std::string(meta_keys::identity));
            const std::string ident = idt == m.end() ? std::string() : idt->second;
            const auto [h1, h2] = row_hash_of(ident, v);
            auto& s = *stmts_->insert;
            detail::reset_guard g{s};
            const auto seq = next_seq();
            const std::string rid = "m" + std::to_string(bump("last_id", last_id_));
            s.bind(1, seq);
            s.bind(2, std::string_view(rid));
            s.bind(3, std::string_view(ident));
            s.bind(4, now_());
            s.bind(5, h1);
            s.bind(6, h2);
            const std::string meta = detail::encode_meta(m);
            s.bind(7, std::string_view(meta));
            detail::bind_content(s, 8, v);
            s.step();
            ++c_.writes;
            return rid;
        });
    }

    remote_record<E> update(std::string_view remote_id, const E& e, const std::string& key) {
        return keyed(key, "update|" + std::string(remote_id) + "|" + fingerprint(e).hex(), [&] {
            auto cur = fetch(remote_id);
            if (!cur) throw remote_error(errc::remote_not_found, "no replica row " + std::string(remote_id));
            if (cur->state != remote_state::active)
                throw remote_error(errc::remote_permanent, "replica row " + std::string(remote_id) + " was removed");
            auto idt = cur->meta.find(std::string(meta_keys::identity));
            const std::string ident = idt == cur->meta.end() ? std::string() : idt->second;
            const auto [h1, h2] = row_hash_of(ident, e);
            auto& s = *stmts_->update;
            detail::reset_guard g{s};
            s.bind(1, next_seq());
            s.bind(2, h1);
            s.bind(3, h2);
            const int next = detail::bind_content(s, 4, e);
            s.bind(next, remote_id);
            s.step();
            ++c_.writes;
            return std::string(remote_id);
        });
    }

    /// Removes the row (a tombstone stays in the feed until compact()).
    remote_record<E> cancel(std::string_view remote_id, const std::string& key) {
        return keyed(key, "cancel|" + std::string(remote_id), [&] {
            auto cur = fetch(remote_id);
            if (!cur) throw remote_error(errc::remote_not_found, "no replica row " + std::string(remote_id));
            if (cur->state == remote_state::active) {
                auto& s = *stmts_->remove;
                detail::reset_guard g{s};
                s.bind(1, next_seq());
                s.bind(2, remote_id);
                s.step();
                ++c_.writes;
            }
            return std::string(remote_id);
        });
    }

    std::optional<remote_record<E>> find_by_key(const std::string& key) {
        count_call();
        auto k = key_entry(key);
        if (!k) return std::nullopt;
        return fetch(k->second);
    }

    // ------------------------------------------------------------------- range queries

    /// The highest seq written so far: where a cursor stands after everything the replica did.
    std::uint64_t head() {
        count_call();
        return static_cast<std::uint64_t>(last_seq_);
    }

    /// Checksums of active rows in each range, in one round trip.
    std::vector<range_checksum> checksums(const std::vector<key_range>& ranges) {
        count_call();
        ++c_.checksum_calls;
        c_.ranges_checksummed += ranges.size();
        std::vector<range_checksum> out;
        out.reserve(ranges.size());
        for (const auto& r : ranges) {
            auto& s = r.hi.empty() ? *stmts_->sum_open : *stmts_->sum;
            detail::reset_guard g{s};
            s.bind(1, std::string_view(r.lo));
            if (!r.hi.empty()) s.bind(2, std::string_view(r.hi));
            if (!s.step()) detail::fail(db_, "checksum");
            out.push_back({static_cast<std::uint64_t>(s.int64(0)), s.int64(1), s.int64(2)});
        }
        return out;
    }

    /// Every row (active and removed) whose identity lies in one of the ranges, in one round trip.
    std::vector<remote_record<E>> list_ranges(const std::vector<key_range>& ranges) {
        count_call();
        ++c_.list_calls;
        std::vector<remote_record<E>> out;
        for (const auto& r : ranges) {
            auto& s = r.hi.empty() ? *stmts_->range_open : *stmts_->range;
            detail::reset_guard g{s};
            s.bind(1, std::string_view(r.lo));
            if (!r.hi.empty()) s.bind(2, std::string_view(r.hi));
            while (s.step()) out.push_back(read_row(s));
        }
        c_.rows_sent += out.size();
        return out;
    }

    /// Drops tombstones with seq <= up_to; cursors below it are refused from then on.
    void compact(std::uint64_t up_to) {
        transaction t(*this);
        detail::stmt s(db_, "DELETE FROM \"" + table_ + "\" WHERE state = 1 AND seq <= ?1");
        s.bind(1, static_cast<std::int64_t>(up_to));
        s.step();
        if (static_cast<std::int64_t>(up_to) > horizon_) set_state("horizon", horizon_ = static_cast<std::int64_t>(up_to));
        t.commit();
    }

    /// Runs f() with every write inside one SQLite transaction (bulk loads); rolled back if f throws.
    template <class F>
    void in_transaction(F&& f) {
        transaction t(*this);
        f();
        t.commit();
    }

    // ------------------------------------------------------------------- inspection (not counted)

    /// Active rows by increasing seq, for tests and examples.
    std::vector<remote_record<E>> active() const {
        detail::stmt s(db_, "SELECT " + select_cols() + " FROM \"" + table_ + "\" WHERE state = 0 ORDER BY seq");
        std::vector<remote_record<E>> out;
        while (s.step()) out.push_back(read_row(s));
        return out;
    }
    std::size_t active_count() const {
        detail::stmt s(db_, "SELECT count(*) FROM \"" + table_ + "\" WHERE state = 0");
        s.step();
        return static_cast<std::size_t>(s.int64(0));
    }
    /// Someone edits a row behind concord's back, in place: no new seq, so no feed shows it.
    void edit_external(std::string_view remote_id, const E& e) {
        auto cur = fetch(remote_id);
        if (!cur) throw remote_error(errc::remote_not_found, "no replica row " + std::string(remote_id));
        auto idt = cur->meta.find(std::string(meta_keys::identity));
        const auto [h1, h2] = row_hash_of(idt == cur->meta.end() ? std::string() : idt->second, e);
        detail::stmt s(db_, "UPDATE \"" + table_ + "\" SET h1 = ?1, h2 = ?2, " + assign_cols(3) +
                                " WHERE remote_id = ?" + std::to_string(3 + content_count()));
        s.bind(1, h1);
        s.bind(2, h2);
        const int next = detail::bind_content(s, 3, e);
        s.bind(next, remote_id);
        s.step();
    }

    const counters& stats() const noexcept { return c_; }
    void reset_stats() noexcept { c_ = counters{}; }
    sqlite3* handle() const noexcept { return db_; }
    const std::string& table() const noexcept { return table_; }

private:
    struct statements {
        std::unique_ptr<detail::stmt> list, since, insert, update, remove, fetch, key_get, key_put, state_put, sum,
            sum_open, range, range_open;
    };

    /// BEGIN IMMEDIATE unless a transaction is already open; rolls back (and reloads the counters)
    /// when destroyed without commit().
    class transaction {
    public:
        explicit transaction(sqlite_replica& r) : r_(r), own_(sqlite3_get_autocommit(r.db_) != 0) {
            if (own_) detail::exec(r_.db_, "BEGIN IMMEDIATE");
        }
        void commit() {
            if (own_) detail::exec(r_.db_, "COMMIT");
            done_ = true;
        }
        ~transaction() {
            if (own_ && !done_) {
                sqlite3_exec(r_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
                r_.load_state();
            }
        }
        transaction(const transaction&) = delete;
        transaction& operator=(const transaction&) = delete;

    private:
        sqlite_replica& r_;
        bool own_;
        bool done_ = false;
    };

    static std::size_t content_count() {
        std::size_t n = 0;
        static const E sample{};
        entity_info<E>::for_each_content(sample, [&](std::string_view, const auto&) { ++n; });
        return n;
    }
    static std::string select_cols() { return "seq, remote_id, state, created_at, meta, " + detail::content_columns<E>(); }
    static std::string assign_cols(int first) {
        std::string out;
        int i = first;
        static const E sample{};
        entity_info<E>::for_each_content(sample, [&](std::string_view name, const auto&) {
            if (!out.empty()) out += ", ";
            out += "\"c_" + std::string(name) + "\" = ?" + std::to_string(i++);
        });
        return out;
    }

    void init() {
        const std::string t = "\"" + table_ + "\"";
        try {
            detail::exec(db_, "PRAGMA journal_mode=WAL");
        } catch (const store_error& e) {
            if (sqlite3_errcode(db_) == SQLITE_NOTADB)
                throw error(errc::not_a_database, "mirror replica: not an SQLite database: " + std::string(e.what()));
            throw;
        }
        detail::exec(db_, "PRAGMA synchronous=NORMAL");
        std::string cols;
        static const E sample{};
        entity_info<E>::for_each_content(sample, [&](std::string_view name, const auto&) {
            cols += ", \"c_" + std::string(name) + "\"";
        });
        detail::exec(db_, "CREATE TABLE IF NOT EXISTS " + t +
                              " (seq INTEGER PRIMARY KEY, remote_id TEXT NOT NULL UNIQUE, identity TEXT NOT NULL, "
                              "state INTEGER NOT NULL, created_at INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER "
                              "NOT NULL, meta TEXT NOT NULL" + cols + ")");
        detail::exec(db_, "CREATE INDEX IF NOT EXISTS \"" + table_ + "_identity\" ON " + t + " (identity, state, h1, h2)");
        detail::exec(db_, "CREATE INDEX IF NOT EXISTS \"" + table_ + "_created\" ON " + t + " (created_at)");
        detail::exec(db_, "CREATE TABLE IF NOT EXISTS \"" + table_ +
                              "_keys\" (key TEXT PRIMARY KEY, params TEXT NOT NULL, remote_id TEXT NOT NULL) WITHOUT ROWID");
        detail::exec(db_, "CREATE TABLE IF NOT EXISTS \"" + table_ +
                              "_state\" (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID");
        const std::string sel = "SELECT " + select_cols() + " FROM " + t;
        const std::string sum = "SELECT count(*), coalesce(sum(h1), 0), coalesce(sum(h2), 0) FROM " + t +
                                " WHERE identity >= ?1 AND state = 0";
        stmts_ = std::make_unique<statements>();
        auto mk = [&](const std::string& sql) { return std::make_unique<detail::stmt>(db_, sql); };
        stmts_->list = mk(sel + " WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        stmts_->since = mk(sel + " WHERE created_at >= ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
        stmts_->insert = mk("INSERT INTO " + t + " (seq, remote_id, identity, state, created_at, h1, h2, meta, " +
                            detail::content_columns<E>() + ") VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7" +
                            [] {
                                std::string q;
                                for (std::size_t i = 0; i < content_count(); ++i) q += ", ?" + std::to_string(8 + i);
                                return q;
                            }() +
                            ")");
        stmts_->update = mk("UPDATE " + t + " SET seq = ?1, h1 = ?2, h2 = ?3, " + assign_cols(4) +
                            " WHERE remote_id = ?" + std::to_string(4 + content_count()));
        stmts_->remove = mk("UPDATE " + t + " SET seq = ?1, state = 1 WHERE remote_id = ?2");
        stmts_->fetch = mk(sel + " WHERE remote_id = ?1");
        stmts_->key_get = mk("SELECT params, remote_id FROM \"" + table_ + "_keys\" WHERE key = ?1");
        stmts_->key_put = mk("INSERT INTO \"" + table_ + "_keys\" (key, params, remote_id) VALUES (?1, ?2, ?3)");
        stmts_->state_put = mk("INSERT OR REPLACE INTO \"" + table_ + "_state\" (name, value) VALUES (?1, ?2)");
        stmts_->sum = mk(sum + " AND identity < ?2");
        stmts_->sum_open = mk(sum);
        stmts_->range = mk(sel + " WHERE identity >= ?1 AND identity < ?2 ORDER BY seq");
        stmts_->range_open = mk(sel + " WHERE identity >= ?1 ORDER BY seq");
        load_state();
    }

    void load_state() {
        detail::stmt s(db_, "SELECT name, value FROM \"" + table_ + "_state\"");
        last_seq_ = last_id_ = horizon_ = 0;
        while (s.step()) {
            const auto n = s.text(0);
            if (n == "last_seq") last_seq_ = s.int64(1);
            else if (n == "last_id") last_id_ = s.int64(1);
            else if (n == "horizon") horizon_ = s.int64(1);
        }
    }
    void set_state(std::string_view name, std::int64_t v) {
        auto& s = *stmts_->state_put;
        detail::reset_guard g{s};
        s.bind(1, name);
        s.bind(2, v);
        s.step();
    }
    std::int64_t bump(std::string_view name, std::int64_t& v) {
        set_state(name, ++v);
        return v;
    }
    std::int64_t next_seq() { return bump("last_seq", last_seq_); }

    void count_call() { ++c_.calls; }

    remote_record<E> read_row(const detail::stmt& s) const {
        remote_record<E> r;
        r.seq = static_cast<std::uint64_t>(s.int64(0));
        r.remote_id = s.text(1);
        r.state = s.int64(2) == 0 ? remote_state::active : remote_state::cancelled;
        r.created_at = s.int64(3);
        r.meta = detail::decode_meta(s.text(4));
        detail::read_content(s, 5, r.value);
        return r;
    }

    page<E> read_page(detail::stmt& s, std::size_t limit) {
        page<E> p;
        while (s.step()) {
            if (p.items.size() == limit) {
                p.has_more = true;
                break;
            }
            p.items.push_back(read_row(s));
        }
        c_.rows_sent += p.items.size();
        return p;
    }

    std::optional<remote_record<E>> fetch(std::string_view remote_id) {
        auto& s = *stmts_->fetch;
        detail::reset_guard g{s};
        s.bind(1, remote_id);
        if (!s.step()) return std::nullopt;
        return read_row(s);
    }

    std::optional<std::pair<std::string, std::string>> key_entry(const std::string& key) {
        auto& s = *stmts_->key_get;
        detail::reset_guard g{s};
        s.bind(1, std::string_view(key));
        if (!s.step()) return std::nullopt;
        return std::pair{s.text(0), s.text(1)};
    }

    /// Applies `write` (returning the remote id) once per idempotency key: a repeat with the same
    /// parameters returns the current row, with other parameters it is errc::idempotency_conflict.
    template <class F>
    remote_record<E> keyed(const std::string& key, const std::string& request, F&& write) {
        count_call();
        if (key.empty()) throw remote_error(errc::remote_permanent, "an idempotency key is required");
        const std::string params = xxh3_128(request).hex();
        transaction t(*this);
        if (auto k = key_entry(key)) {
            if (k->first != params)
                throw remote_error(errc::idempotency_conflict, "idempotency key " + key + " was used with other parameters");
            auto r = fetch(k->second);
            t.commit();
            if (!r) throw remote_error(errc::remote_not_found, "the row of key " + key + " was compacted away");
            return *r;
        }
        const std::string rid = write();
        auto& s = *stmts_->key_put;
        {
            detail::reset_guard g{s};
            s.bind(1, std::string_view(key));
            s.bind(2, std::string_view(params));
            s.bind(3, std::string_view(rid));
            s.step();
        }
        auto r = fetch(rid);
        t.commit();
        return *r;
    }

    sqlite3* db_ = nullptr;
    std::string table_;
    std::function<std::int64_t()> now_;
    std::unique_ptr<statements> stmts_;
    std::int64_t last_seq_ = 0, last_id_ = 0, horizon_ = 0;
    counters c_;
};

} // namespace concord::mirror
