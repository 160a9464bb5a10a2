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
//     1 removed), created_at INTEGER, h1 INTEGER, h2 INTEGER, meta TEXT, removals INTEGER,
//     "c_<member>"...)
//   T_keys(key PRIMARY KEY, params, remote_id)      idempotency keys, kept forever
//   T_state(name PRIMARY KEY, value)                last_seq, last_id, horizon
//   T_lineage(one PRIMARY KEY, lineage)             the host database this replica is the copy of
//   trigger T_edited                                marks a row whose content someone else edited
//                                                   (h1 = h2 = -1); checksums() rehashes it first
// `compact(s)` compacts the removals with seq <= s; a cursor below its horizon (s, or the head when s
// is past it) is refused with errc::cursor_rejected (a feed from there would miss removals): recover by
// a full scan. The counters in T_state are re-read at each write, listing and head(): another
// connection to the file may have written or compacted since.
// Compaction keeps an identity's removal count, which the reconciler's create keys are derived from
// (a row removed and re-created needs a key no earlier create used): tombstones without an identity
// are dropped; those of one identity and owner are folded into one row standing for all of them
// (`removals`), listed as that many removed records (seqs claimed when folding, so a listing's seqs
// stay increasing and unique).

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include <concord/cursor.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/mirror/checksum.hpp>
#include <concord/mirror/detail/sqlite_rows.hpp>
#include <concord/records.hpp>
#include <concord/sqlite/store.hpp>  // detail::holds_nan: what SQLite cannot store as given

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
        load_state();  // another connection may have written or compacted since
        if (horizon_ != page_horizon_) next_page_after_.reset();  // a listing that spans a compaction starts again
        const std::int64_t from = seq_after(after);
        // A listing's next page may start below the horizon: only a cursor kept from before is stale.
        if (after && from < horizon_ && after != next_page_after_)
            throw error(errc::cursor_rejected, "replica '" + table_ + "' compacted its removals up to seq " +
                                                   std::to_string(horizon_) + "; a feed after " +
                                                   std::to_string(*after) + " would miss removals");
        auto& s = *stmts_->list;
        detail::reset_guard g{s};
        s.bind(1, from);
        s.bind(2, row_limit(limit));
        auto p = read_page(s, limit, after);
        next_page_after_.reset();
        if (p.has_more) next_page_after_ = p.items.back().seq;
        page_horizon_ = horizon_;
        return p;
    }

    /// Rows created at or after `since` (replica clock), written after `after`, by increasing seq.
    page<E> list_created_since(std::int64_t since, std::optional<std::uint64_t> after, std::size_t limit) {
        count_call();
        ++c_.list_calls;
        const std::int64_t from = seq_after(after);
        auto& s = *stmts_->since;
        detail::reset_guard g{s};
        s.bind(1, since);
        s.bind(2, from);
        s.bind(3, row_limit(limit));
        return read_page(s, limit, after);
    }

    // ------------------------------------------------------------------- RemoteSource: writes

    /// Creates a row. A NaN member is refused (see check_values), like update().
    remote_record<E> create(const E& e, const metadata& m, const std::string& key) {
        check_values(e);
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
        check_values(e);
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

    /// The highest seq written so far: where a cursor stands after everything the replica did; 0
    /// while nothing was written, below every seq (they start at 1). The mirror commits head() as its
    /// cursor ("every change up to here is reconciled"), so a replica of your own that offers head()
    /// must number its seqs from 1: with seqs from 0 no head() value means "empty" (0 claims seq 0,
    /// and a change feed after that cursor never lists a record written at seq 0 later; only a full
    /// scan or checksums find it). Without head() the mirror leaves its cursor where it was.
    std::uint64_t head() {
        count_call();
        load_state();  // another connection may have written since
        return static_cast<std::uint64_t>(last_seq_);
    }

    /// Checksums of active rows in each range, in one round trip. Rows whose content was edited
    /// outside the replica's own writes (marked by the edited trigger, see init) are rehashed from
    /// what they hold first, so the sums describe the rows as they stand.
    std::vector<range_checksum> checksums(const std::vector<key_range>& ranges) {
        count_call();
        ++c_.checksum_calls;
        c_.ranges_checksummed += ranges.size();
        rehash_edited();
        std::vector<range_checksum> out;
        out.reserve(ranges.size());
        for (const auto& r : ranges) {
            auto& s = r.hi.empty() ? *stmts_->sum_open : *stmts_->sum;
            detail::reset_guard g{s};
            s.bind(1, std::string_view(r.lo));
            if (!r.hi.empty()) s.bind(2, std::string_view(r.hi));
            if (!s.step()) detail::fail(db_, "checksum");
            out.push_back({static_cast<std::uint64_t>(s.column_int64(0)), s.column_int64(1), s.column_int64(2)});
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
            while (s.step()) {
                out.push_back(read_row(s));
                expand(s, out, std::nullopt, std::numeric_limits<std::size_t>::max());
            }
        }
        c_.rows_sent += out.size();
        return out;
    }

    /// Compacts the removals with seq <= up_to; cursors below it are refused from then on.
    /// Tombstones without an identity are dropped. An identity's removal count survives: the
    /// reconciler derives a re-creation's idempotency key from it, and a count that went down would
    /// give the key of an earlier create (refused with idempotency_conflict on every sync). So the
    /// tombstones of one identity and owner are folded into their newest, which stands for all of
    /// them and moves to seqs claimed now (one per removal: a listing shows each as a removed record).
    void compact(std::uint64_t up_to) {
        const auto top =
            static_cast<std::int64_t>(std::min<std::uint64_t>(up_to, std::numeric_limits<std::int64_t>::max()));
        transaction t(*this);
        // Every removal compacted now was written at or below the head: a cursor there misses none of
        // them, so the horizon never passes it (compact(UINT64_MAX) refused every later feed).
        const std::int64_t bound = std::min(top, last_seq_);
        {
            detail::stmt s(db_, "DELETE FROM \"" + table_ + "\" WHERE state = 1 AND seq <= ?1 AND identity = ''");
            s.bind(1, top);
            s.step();
        }
        struct tomb {
            std::int64_t seq, removals;
            std::string owner;
        };
        std::vector<tomb> group;
        std::string group_id;
        auto fold = [&] {
            if (group.size() < 2) return;  // one row already stands for its removals
            std::stable_sort(group.begin(), group.end(),
                             [](const tomb& a, const tomb& b) { return a.owner < b.owner; });
            for (std::size_t i = 0; i < group.size();) {
                std::size_t j = i;
                std::int64_t n = 0;
                for (; j < group.size() && group[j].owner == group[i].owner; ++j) n += group[j].removals;
                if (j - i >= 2) {  // by seq within an owner: group[j - 1] is the newest, kept
                    for (std::size_t k = i; k + 1 < j; ++k) {
                        detail::stmt d(db_, "DELETE FROM \"" + table_ + "\" WHERE seq = ?1");
                        d.bind(1, group[k].seq);
                        d.step();
                    }
                    last_seq_ += n;
                    set_state("last_seq", last_seq_);
                    detail::stmt u(db_, "UPDATE \"" + table_ + "\" SET seq = ?1, removals = ?2 WHERE seq = ?3");
                    u.bind(1, last_seq_);
                    u.bind(2, n);
                    u.bind(3, group[j - 1].seq);
                    u.step();
                }
                i = j;
            }
        };
        {
            detail::stmt s(db_, "SELECT seq, removals, identity, meta FROM \"" + table_ +
                                    "\" WHERE state = 1 AND seq <= ?1 ORDER BY identity, seq");
            s.bind(1, top);
            std::vector<std::pair<std::string, tomb>> rows;  // read all first: fold() writes the table
            while (s.step()) {
                const auto meta = detail::decode_meta(s.column_text(3));
                const auto o = meta.find(std::string(meta_keys::owner));
                rows.push_back({s.column_text(2), {s.column_int64(0), s.column_int64(1), o == meta.end() ? std::string() : o->second}});
            }
            for (auto& [id, row] : rows) {
                if (id != group_id) {
                    fold();
                    group.clear();
                    group_id = id;
                }
                group.push_back(std::move(row));
            }
            fold();
        }
        if (bound > horizon_) set_state("horizon", horizon_ = bound);
        t.commit();
        next_page_after_.reset();  // a listing that spans a compaction starts again
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
        return static_cast<std::size_t>(s.column_int64(0));
    }
    /// Someone edits a row behind concord's back, in place: no new seq, so no feed shows it.
    void edit_external(std::string_view remote_id, const E& e) {
        check_values(e);
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

    // ------------------------------------------------------------------- the host it mirrors

    /// The lineage of the host database this replica is the copy of (set by the mirror's syncs), or
    /// none for a replica no sync has committed into yet. A mirror refuses, with errc::blocked, to
    /// sync a database of another lineage into it: every row here is that other database's.
    std::optional<std::string> lineage() {
        detail::stmt s(db_, "SELECT lineage FROM \"" + table_ + "_lineage\"");
        if (!s.step()) return std::nullopt;
        return s.column_text(0);
    }
    /// Records `l` as the lineage of the database this replica mirrors (the mirror does, after a sync).
    void set_lineage(std::string_view l) {
        detail::stmt s(db_, "INSERT OR REPLACE INTO \"" + table_ + "_lineage\" (one, lineage) VALUES (1, ?1)");
        s.bind(1, l);
        s.step();
    }
    /// Releases the replica from the database it mirrors: the next sync, of whatever database, makes
    /// it that database's copy (rows the mirror's owner tag marks and that database lacks are removed;
    /// by its next sync when that one is the database's first run, which removes nothing on its own word).
    void forget_lineage() { detail::exec(db_, "DELETE FROM \"" + table_ + "_lineage\""); }

    const counters& stats() const noexcept { return c_; }
    void reset_stats() noexcept { c_ = counters{}; }
    sqlite3* handle() const noexcept { return db_; }
    const std::string& table() const noexcept { return table_; }

private:
    struct statements {
        std::unique_ptr<detail::stmt> list, since, insert, update, remove, fetch, key_get, key_put, state_get,
            state_put, sum, sum_open, range, range_open, edited, edited_rows, rehash;
    };

    /// BEGIN IMMEDIATE unless a transaction is already open (inside the host's own, the counters are
    /// re-read); rolls back (and reloads the counters) when destroyed without commit().
    class transaction {
    public:
        explicit transaction(sqlite_replica& r) : r_(r), own_(sqlite3_get_autocommit(r.db_) != 0) {
            if (!own_) {
                // Inside a transaction of the host's own (not one of ours, which read them under its
                // write lock): another connection may have written since the counters were read, and
                // a seq handed out twice or below the head is a write no feed shows.
                if (!r_.in_own_transaction_) r_.load_state();
                return;
            }
            detail::exec(r_.db_, "BEGIN IMMEDIATE");
            // Another connection to the file (a second process, a maintenance job's compact()) may
            // have written since: seqs and ids are handed out from what the file holds now.
            try {
                r_.load_state();
            } catch (...) {
                sqlite3_exec(r_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
                throw;
            }
            r_.in_own_transaction_ = true;
        }
        void commit() {
            if (own_) detail::exec(r_.db_, "COMMIT");
            done_ = true;
            if (own_) r_.in_own_transaction_ = false;
        }
        ~transaction() {
            if (own_ && !done_) {
                r_.in_own_transaction_ = false;
                sqlite3_exec(r_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
                // A destructor must not throw (the caller's exception is in flight). Every later use
                // of the counters re-reads them first (a listing, head(), the next transaction).
                try {
                    r_.load_state();
                } catch (...) {
                }
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
    static std::string select_cols() {
        return "seq, remote_id, state, created_at, meta, removals, " + detail::content_columns<E>();
    }
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
                              "NOT NULL, meta TEXT NOT NULL, removals INTEGER NOT NULL DEFAULT 1" + cols + ")");
        {  // a replica written before removal counts were kept: every row stands for itself
            detail::stmt c(db_, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = 'removals'");
            c.bind(1, std::string_view(table_));
            if (c.step() && c.column_int64(0) == 0)
                detail::exec(db_, "ALTER TABLE " + t + " ADD COLUMN removals INTEGER NOT NULL DEFAULT 1");
        }
        detail::exec(db_, "CREATE INDEX IF NOT EXISTS \"" + table_ + "_identity\" ON " + t + " (identity, state, h1, h2)");
        detail::exec(db_, "CREATE INDEX IF NOT EXISTS \"" + table_ + "_created\" ON " + t + " (created_at)");
        // The checksums sum the row hashes stored when the replica wrote each row: a content column
        // edited by anyone else (the sqlite3 shell, another tool) would keep its old hash and no
        // checksum would see it. So such an edit (same seq, same hashes, other content) marks the row
        // with h1 = h2 = -1, which no row hash is, and checksums() rehashes the marked rows first.
        if (content_count() > 0) {
            std::string of, changed;
            entity_info<E>::for_each_content(sample, [&](std::string_view name, const auto&) {
                const std::string c = "\"c_" + std::string(name) + "\"";
                of += (of.empty() ? "" : ", ") + c;
                changed += (changed.empty() ? "" : " OR ") + ("NEW." + c + " IS NOT OLD." + c);
            });
            detail::exec(db_, "CREATE TRIGGER IF NOT EXISTS \"" + table_ + "_edited\" AFTER UPDATE OF " + of + " ON " + t +
                                  " WHEN NEW.seq = OLD.seq AND NEW.h1 IS OLD.h1 AND NEW.h2 IS OLD.h2 AND (" + changed +
                                  ") BEGIN UPDATE " + t + " SET h1 = -1, h2 = -1 WHERE seq = NEW.seq; END");
        }
        detail::exec(db_, "CREATE INDEX IF NOT EXISTS \"" + table_ + "_edited_rows\" ON " + t + " (seq) WHERE h1 < 0");
        detail::exec(db_, "CREATE TABLE IF NOT EXISTS \"" + table_ +
                              "_keys\" (key TEXT PRIMARY KEY, params TEXT NOT NULL, remote_id TEXT NOT NULL) WITHOUT ROWID");
        detail::exec(db_, "CREATE TABLE IF NOT EXISTS \"" + table_ +
                              "_state\" (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID");
        detail::exec(db_, "CREATE TABLE IF NOT EXISTS \"" + table_ +
                              "_lineage\" (one INTEGER PRIMARY KEY CHECK (one = 1), lineage TEXT NOT NULL)");
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
        stmts_->state_get = mk("SELECT name, value FROM \"" + table_ + "_state\"");
        stmts_->state_put = mk("INSERT OR REPLACE INTO \"" + table_ + "_state\" (name, value) VALUES (?1, ?2)");
        stmts_->sum = mk(sum + " AND identity < ?2");
        stmts_->sum_open = mk(sum);
        stmts_->range = mk(sel + " WHERE identity >= ?1 AND identity < ?2 ORDER BY seq");
        stmts_->range_open = mk(sel + " WHERE identity >= ?1 ORDER BY seq");
        stmts_->edited = mk("SELECT 1 FROM " + t + " WHERE h1 < 0 LIMIT 1");
        stmts_->edited_rows = mk("SELECT " + select_cols() + ", identity FROM " + t + " WHERE h1 < 0");
        stmts_->rehash = mk("UPDATE " + t + " SET h1 = ?1, h2 = ?2 WHERE seq = ?3");
        load_state();
    }

    void load_state() {
        auto& s = *stmts_->state_get;
        detail::reset_guard g{s};
        last_seq_ = last_id_ = horizon_ = 0;
        while (s.step()) {
            const auto n = s.column_text(0);
            if (n == "last_seq") last_seq_ = s.column_int64(1);
            else if (n == "last_id") last_id_ = s.column_int64(1);
            else if (n == "horizon") horizon_ = s.column_int64(1);
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
        r.seq = static_cast<std::uint64_t>(s.column_int64(0));
        r.remote_id = s.column_text(1);
        r.state = s.column_int64(2) == 0 ? remote_state::active : remote_state::cancelled;
        r.created_at = s.column_int64(3);
        r.meta = detail::decode_meta(s.column_text(4));
        detail::read_content(s, 6, r.value, [&] {
            return "mirror replica '" + table_ + "': row " + r.remote_id + " (seq " + std::to_string(r.seq) + ")";
        });
        return r;
    }

    /// Rehashes the rows the edited trigger marked (see init) from the identity and content they hold.
    /// A value the member cannot hold is errc::bad_page naming the row, as in a listing.
    void rehash_edited() {
        {
            auto& s = *stmts_->edited;
            detail::reset_guard g{s};
            if (!s.step()) return;  // the usual case: one look-up in a partial index
        }
        transaction t(*this);
        std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> fixed;  // seq, h1, h2
        {
            auto& s = *stmts_->edited_rows;
            detail::reset_guard g{s};
            while (s.step()) {
                const auto r = read_row(s);
                const auto [h1, h2] = row_hash_of(s.column_text(6 + static_cast<int>(content_count())), r.value);
                fixed.emplace_back(static_cast<std::int64_t>(r.seq), h1, h2);
            }
        }
        for (const auto& [seq, h1, h2] : fixed) {
            auto& s = *stmts_->rehash;
            detail::reset_guard g{s};
            s.bind(1, h1);
            s.bind(2, h2);
            s.bind(3, seq);
            s.step();
        }
        t.commit();
    }

    /// A folded tombstone (see compact) standing for n removals holds seqs (seq - n, seq]: after
    /// `out.back()` (the row as read), adds the removed records of the seqs above `after`, lowest
    /// first, up to `limit` records in all; returns false when the limit cut the row short.
    bool expand(const detail::stmt& s, std::vector<remote_record<E>>& out, std::optional<std::uint64_t> after,
                std::size_t limit) const {
        const auto n = static_cast<std::uint64_t>(s.column_int64(5));
        if (n <= 1 || out.back().state != remote_state::cancelled) return true;
        remote_record<E> row = std::move(out.back());
        out.pop_back();
        const std::uint64_t top = row.seq;
        for (std::uint64_t k = n; k-- > 0;) {
            const std::uint64_t seq = top - k;
            if (after && seq <= *after) continue;
            if (out.size() == limit) return false;
            if (k == 0) {
                out.push_back(std::move(row));
                break;
            }
            auto r = row;
            r.seq = seq;
            r.remote_id += "~" + std::to_string(k);  // unique in the listing, names no row
            out.push_back(std::move(r));
        }
        return true;
    }

    /// The seq a listing cursor stands for. Seqs are SQLite integers: a cursor above INT64_MAX was
    /// never handed out by this replica, and would wrap to a negative seq (the whole table again).
    std::int64_t seq_after(std::optional<std::uint64_t> after) const {
        if (after && *after > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw error(errc::cursor_rejected, "replica '" + table_ + "': cursor " + std::to_string(*after) +
                                                   " is above every seq it can hand out (at most " +
                                                   std::to_string(std::numeric_limits<std::int64_t>::max()) +
                                                   "): not a cursor of this replica");
        return static_cast<std::int64_t>(after.value_or(0));
    }

    /// SQL LIMIT for a page of `limit` records (one more row says whether more follow), clamped:
    /// a page size beyond int64 would overflow, and SIZE_MAX would wrap to LIMIT 0 (an empty page).
    static std::int64_t row_limit(std::size_t limit) {
        constexpr auto most = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - 1;
        return static_cast<std::int64_t>(std::min<std::uint64_t>(limit, most)) + 1;
    }

    page<E> read_page(detail::stmt& s, std::size_t limit, std::optional<std::uint64_t> after) {
        page<E> p;
        while (s.step()) {
            if (p.items.size() == limit) {
                p.has_more = true;
                break;
            }
            p.items.push_back(read_row(s));
            if (!expand(s, p.items, after, limit)) {
                p.has_more = true;
                break;
            }
        }
        c_.rows_sent += p.items.size();
        return p;
    }

    /// Refuses values SQLite would not store as given: a NaN is stored as NULL, read back as 0.0 (or
    /// nullopt) while the row hash keeps the NaN, so every sync would push the row again.
    void check_values(const E& e) const {
        entity_info<E>::for_each_content(e, [&](std::string_view name, const auto& v) {
            if (!concord::detail::holds_nan(v)) return;
            throw remote_error(errc::invalid_argument,
                               "mirror replica '" + table_ + "': member '" + std::string(name) + "' (column 'c_" +
                                   std::string(name) + "') is NaN, which SQLite would store as NULL: the replica "
                                   "refuses NaN, nothing was written (use std::nullopt in a std::optional member "
                                   "for \"no value\")");
        });
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
        return std::pair{s.column_text(0), s.column_text(1)};
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
    bool in_own_transaction_ = false;  ///< a transaction of ours is open: the counters are the file's
    std::optional<std::uint64_t> next_page_after_;  ///< where the last list() page said more follow
    std::int64_t page_horizon_ = 0;                  ///< the horizon when that page was listed
    counters c_;
};

} // namespace concord::mirror
