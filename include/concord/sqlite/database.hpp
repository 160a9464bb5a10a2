#pragma once
// One SQLite connection to one database file, with the host's connection model in mind: a host
// restores a backup either by closing the connection, replacing the file and reopening
// (close()/reopen()), or by restoring into the open connection (sqlite_restore in backup.hpp).
//
// Prepared statements are cached here, keyed by their SQL text, and dropped whenever the
// connection's contents may have been replaced (close, reopen, restore): stores ask for a statement
// on every call instead of holding raw sqlite3_stmt pointers that a restore would invalidate.
//
// A file that exists and is not an SQLite database is refused with errc::not_a_database before
// SQLite is allowed to touch it, so nothing is ever written to it.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <sqlite3.h>

#include <concord/error.hpp>

namespace concord {

namespace detail {

/// The 16-byte magic every SQLite 3 database file starts with.
inline constexpr char sqlite_magic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

/// Throws errc::not_a_database unless `p` is absent, empty, or starts with the SQLite header.
/// Read-only: it never opens the file for writing.
inline void require_sqlite_file(const std::filesystem::path& p) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return;
    if (std::filesystem::is_directory(p, ec))
        throw error(errc::not_a_database, p.string() + " is a directory, not an SQLite database");
    const auto size = std::filesystem::file_size(p, ec);
    if (ec) throw error(errc::not_a_database, "cannot stat " + p.string() + ": " + ec.message());
    if (size == 0) return;  // SQLite treats an empty file as an empty database
    std::ifstream in(p, std::ios::binary);
    char head[16] = {};
    if (!in.read(head, sizeof head))
        throw error(errc::not_a_database,
                    p.string() + " is " + std::to_string(size) + " bytes, too short for an SQLite database header");
    if (std::memcmp(head, sqlite_magic, sizeof head) != 0)
        throw error(errc::not_a_database, p.string() + " does not start with the SQLite 3 header: not an SQLite database");
}

/// Message of the connection's last error, with the result code's name.
inline std::string sqlite_message(sqlite3* h, int rc) {
    std::string m = sqlite3_errstr(rc);
    if (h) {
        const char* e = sqlite3_errmsg(h);
        if (e && m != e) m += std::string(" (") + e + ")";
    }
    return m;
}

} // namespace detail

/// A prepared statement borrowed from a database's cache: reset and unbound when it goes out of
/// scope, so the next user finds it clean. While one borrow of an SQL text is alive, a second
/// borrow of the same text gets a statement of its own (finalized with it), so two borrows can be
/// stepped in turn without disturbing each other.
class sqlite_statement {
public:
    /// Wraps `s` without owning it: reset and unbound on destruction, never finalized.
    sqlite_statement(sqlite3* db, sqlite3_stmt* s) noexcept : db_(db), stmt_(s) {}
    sqlite_statement(const sqlite_statement&) = delete;
    sqlite_statement& operator=(const sqlite_statement&) = delete;
    sqlite_statement(sqlite_statement&& o) noexcept
        : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), in_use_(std::exchange(o.in_use_, nullptr)),
          owned_(std::exchange(o.owned_, false)) {}
    ~sqlite_statement() {
        if (!stmt_) return;
        if (owned_) {
            sqlite3_finalize(stmt_);
            return;
        }
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        if (in_use_) *in_use_ = false;
    }

    sqlite3_stmt* get() const noexcept { return stmt_; }

    void bind_null(int i) { check(sqlite3_bind_null(stmt_, i)); }
    void bind_int64(int i, std::int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
    void bind_double(int i, double v) { check(sqlite3_bind_double(stmt_, i, v)); }
    void bind_text(int i, std::string_view v) {
        check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }

    /// Steps once: true when a row is available, false when done; throws store_error otherwise.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw store_error(rc == SQLITE_NOTADB ? errc::not_a_database : errc::store_failure,
                          std::string("sqlite3_step of `") + sqlite3_sql(stmt_) + "`: " + detail::sqlite_message(db_, rc));
    }
    /// Steps to completion (statements without rows).
    void run() {
        while (step()) {
        }
    }

    int column_type(int i) const noexcept { return sqlite3_column_type(stmt_, i); }
    std::int64_t column_int64(int i) const noexcept { return sqlite3_column_int64(stmt_, i); }
    double column_double(int i) const noexcept { return sqlite3_column_double(stmt_, i); }
    std::string column_text(int i) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
        const int n = sqlite3_column_bytes(stmt_, i);
        return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
    }

private:
    void check(int rc) {
        if (rc != SQLITE_OK)
            throw store_error(errc::store_failure, "sqlite3_bind: " + detail::sqlite_message(db_, rc));
    }
    friend class sqlite_database;
    sqlite_statement(sqlite3* db, sqlite3_stmt* s, bool* in_use, bool owned) noexcept
        : db_(db), stmt_(s), in_use_(in_use), owned_(owned) {}

    sqlite3* db_;
    sqlite3_stmt* stmt_;
    bool* in_use_ = nullptr;  ///< the cache entry's "borrowed" flag, cleared on destruction
    bool owned_ = false;      ///< a statement of its own (the cached one was in use): finalized
};

/// One connection to one SQLite database file (the local, restorable side).
class sqlite_database {
public:
    /// Opens `path`, creating an empty database if it does not exist. A file that is not an SQLite
    /// database is refused with errc::not_a_database and left untouched.
    explicit sqlite_database(std::filesystem::path path) : path_(std::move(path)) { open(); }

    sqlite_database(const sqlite_database&) = delete;
    sqlite_database& operator=(const sqlite_database&) = delete;
    ~sqlite_database() { close(); }

    /// The raw connection, for the host's own SQL (nullptr while closed).
    sqlite3* handle() noexcept { return db_; }
    const std::filesystem::path& path() const noexcept { return path_; }
    bool is_open() const noexcept { return db_ != nullptr; }

    /// Closes the connection (the host is about to replace the file). Idempotent.
    void close() noexcept {
        drop_statements();
        if (db_) {
            sqlite3_close_v2(db_);
            db_ = nullptr;
        }
        ++epoch_;
    }

    /// Opens the file again after the host replaced it; the same checks as the constructor.
    void reopen() {
        close();
        open();
    }

    /// Changes whenever the connection's contents may have been replaced wholesale (reopen,
    /// restore): stores re-check their schema when it moves.
    std::uint64_t epoch() const noexcept { return epoch_; }

    /// Called by sqlite_restore after it replaced the contents of the open connection.
    void contents_replaced() noexcept {
        drop_statements();
        ++epoch_;
    }

    /// Runs SQL without results (schema, pragmas); throws store_error with SQLite's message.
    void exec(const std::string& sql) {
        require_open();
        char* msg = nullptr;
        const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
        if (rc != SQLITE_OK) {
            std::string m = msg ? msg : sqlite3_errstr(rc);
            sqlite3_free(msg);
            throw store_error(rc == SQLITE_NOTADB ? errc::not_a_database : errc::store_failure,
                              "`" + sql + "` on " + path_.string() + ": " + m);
        }
    }

    /// A cached prepared statement for `sql` (prepared once per connection epoch). While an earlier
    /// borrow of the same text is alive, a statement of its own, prepared for this borrow only.
    sqlite_statement statement(const std::string& sql) {
        require_open();
        auto it = cache_.find(sql);
        if (it == cache_.end()) {
            it = cache_.emplace(sql, cached{stmt_ptr(prepare(sql, SQLITE_PREPARE_PERSISTENT)), false}).first;
        } else if (it->second.in_use) {
            return sqlite_statement(db_, prepare(sql, 0), nullptr, true);
        }
        it->second.in_use = true;
        return sqlite_statement(db_, it->second.stmt.get(), &it->second.in_use, false);
    }

    /// Rows changed by the last statement.
    std::int64_t changes() noexcept { return db_ ? sqlite3_changes64(db_) : 0; }
    std::int64_t last_insert_rowid() noexcept { return db_ ? sqlite3_last_insert_rowid(db_) : 0; }
    /// Number of prepared statements currently cached (benchmarks, tests).
    std::size_t cached_statements() const noexcept { return cache_.size(); }

private:
    struct finalizer {
        void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
    };
    using stmt_ptr = std::unique_ptr<sqlite3_stmt, finalizer>;
    struct cached {
        stmt_ptr stmt;
        bool in_use = false;  ///< a sqlite_statement borrowing it is alive
    };

    sqlite3_stmt* prepare(const std::string& sql, unsigned flags) {
        sqlite3_stmt* s = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1), flags, &s, nullptr);
        if (rc != SQLITE_OK)
            throw store_error(rc == SQLITE_NOTADB ? errc::not_a_database : errc::store_failure,
                              "cannot prepare `" + sql + "`: " + detail::sqlite_message(db_, rc));
        return s;
    }

    void require_open() const {
        if (!db_) throw store_error(errc::store_failure, "the connection to " + path_.string() + " is closed");
    }

    void drop_statements() noexcept { cache_.clear(); }

    void open() {
        detail::require_sqlite_file(path_);
        sqlite3* h = nullptr;
        const int rc = sqlite3_open_v2(path_.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
        if (rc != SQLITE_OK) {
            std::string m = detail::sqlite_message(h, rc);
            sqlite3_close_v2(h);
            throw store_error(rc == SQLITE_NOTADB ? errc::not_a_database : errc::store_failure,
                              "cannot open " + path_.string() + ": " + m);
        }
        db_ = h;
        sqlite3_extended_result_codes(db_, 1);
        sqlite3_busy_timeout(db_, 5000);
        // Reading the schema makes SQLite validate the header now (a damaged file fails here, not
        // in the middle of a reconcile); it writes nothing.
        try {
            auto s = statement("SELECT count(*) FROM sqlite_schema");
            s.run();
        } catch (const error& e) {
            close();
            throw error(errc::not_a_database, path_.string() + " cannot be read as an SQLite database: " + e.what());
        }
        ++epoch_;
    }

    std::filesystem::path path_;
    sqlite3* db_ = nullptr;
    std::map<std::string, cached, std::less<>> cache_;
    std::uint64_t epoch_ = 0;
};

/// RAII transaction: BEGIN IMMEDIATE on construction (takes the write lock up front, so a commit
/// never fails half-way for a lock), ROLLBACK unless commit() was called.
class sqlite_transaction {
public:
    /// Refuses (errc::invalid_argument) when a transaction is already open on the connection: it
    /// does not nest, because concord's store commits must reach the file before the witness moves
    /// on, and a commit inside a transaction the host may still roll back would not.
    explicit sqlite_transaction(sqlite_database& db) : db_(&db) {
        if (db.handle() && !sqlite3_get_autocommit(db.handle()))
            throw store_error(errc::invalid_argument,
                              "a transaction is already open on " + db.path().string() +
                                  ": sqlite_transaction does not nest (commit or roll back the open one first; "
                                  "concord's store commits must reach the file before its witness moves on)");
        db_->exec("BEGIN IMMEDIATE");
    }
    sqlite_transaction(const sqlite_transaction&) = delete;
    sqlite_transaction& operator=(const sqlite_transaction&) = delete;
    ~sqlite_transaction() {
        if (db_ && db_->handle() && !sqlite3_get_autocommit(db_->handle()))
            sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        db_->exec("COMMIT");
        db_ = nullptr;
    }

private:
    sqlite_database* db_;
};

} // namespace concord
