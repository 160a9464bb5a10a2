#pragma once
// One SQLite connection to one database file, with the host's connection model in mind: a host
// restores a backup either by closing the connection, replacing the file and reopening
// (close()/reopen()), or by restoring into the open connection (sqlite_restore in backup.hpp).
//
// Prepared statements are cached here, keyed by their SQL text, and dropped whenever the
// connection's contents may have been replaced (close, reopen, restore): stores ask for a statement
// on every call instead of holding raw sqlite3_stmt pointers that a restore would invalidate. A
// borrow shares ownership of its statement, so one kept across a drop is still safe to destroy (and
// its step() says it is stale instead of running on a connection that is gone).
//
// A file that exists and is not an SQLite database is refused with errc::not_a_database before
// SQLite is allowed to touch it, so nothing is ever written to it.
//
// lock_reconcile(scope) keeps two reconciles of one database file (two processes, or two
// connections in one process) from both acting: a non-blocking exclusive flock on a lock file
// beside the database, one per scope, held for the whole session; the second is refused with
// errc::concurrent_reconcile before it reads or changes anything.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include <sqlite3.h>

#include <concord/error.hpp>
#include <concord/hash.hpp>

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

/// How long a connection waits for another connection's lock before SQLITE_BUSY (sqlite3_busy_timeout),
/// and how long a backup or restore keeps retrying a busy database (backup.hpp).
inline constexpr int sqlite_default_busy_timeout_ms = 5000;

/// A prepared statement shared by the connection's cache and the borrows of it: finalized when the
/// last of them lets go, so a borrow that outlives close(), reopen() or a restore never touches
/// freed memory.
struct sqlite_stmt_slot {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;  ///< the cached statement is lent to a live borrow
    bool stale = false;   ///< the connection dropped it (already reset): no longer usable
    explicit sqlite_stmt_slot(sqlite3_stmt* s) noexcept : stmt(s) {}
    sqlite_stmt_slot(const sqlite_stmt_slot&) = delete;
    sqlite_stmt_slot& operator=(const sqlite_stmt_slot&) = delete;
    ~sqlite_stmt_slot() { sqlite3_finalize(stmt); }
};

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
/// stepped in turn without disturbing each other. A borrow kept across close(), reopen() or a
/// restore is stale: safe to destroy, and bind_*() and step() throw store_error instead of running.
class sqlite_statement {
public:
    /// Wraps `s` without owning it: reset and unbound on destruction, never finalized.
    sqlite_statement(sqlite3* db, sqlite3_stmt* s) noexcept : db_(db), stmt_(s) {}
    sqlite_statement(const sqlite_statement&) = delete;
    sqlite_statement& operator=(const sqlite_statement&) = delete;
    sqlite_statement(sqlite_statement&& o) noexcept
        : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), slot_(std::move(o.slot_)),
          lent_(std::exchange(o.lent_, false)) {}
    ~sqlite_statement() {
        if (!stmt_) return;
        // A stale statement was reset when the connection dropped it, and its connection may be
        // closed: leave it alone; slot_ finalizes it once the last owner lets go.
        if (slot_ && slot_->stale) return;
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        if (lent_) slot_->in_use = false;
    }

    sqlite3_stmt* get() const noexcept { return stmt_; }

    void bind_null(int i) { check(sqlite3_bind_null(usable(), i)); }
    void bind_int64(int i, std::int64_t v) { check(sqlite3_bind_int64(usable(), i, v)); }
    void bind_double(int i, double v) { check(sqlite3_bind_double(usable(), i, v)); }
    void bind_text(int i, std::string_view v) {
        check(sqlite3_bind_text64(usable(), i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }

    /// Steps once: true when a row is available, false when done; throws store_error otherwise.
    bool step() {
        const int rc = sqlite3_step(usable());
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
    /// The statement, unless the connection dropped it since it was borrowed.
    sqlite3_stmt* usable() const {
        if (slot_ && slot_->stale)
            throw store_error(errc::store_failure, std::string("the statement `") + sqlite3_sql(stmt_) +
                                                       "` was borrowed before its connection was closed, reopened or "
                                                       "restored: borrow it again with sqlite_database::statement()");
        return stmt_;
    }
    friend class sqlite_database;
    sqlite_statement(sqlite3* db, std::shared_ptr<detail::sqlite_stmt_slot> slot, bool lent) noexcept
        : db_(db), stmt_(slot->stmt), slot_(std::move(slot)), lent_(lent) {}

    sqlite3* db_;
    sqlite3_stmt* stmt_;
    std::shared_ptr<detail::sqlite_stmt_slot> slot_;  ///< null for a statement the host wrapped
    bool lent_ = false;  ///< the cache's statement (clear its in_use flag when done), not one of its own
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
    /// The database file as SQLite resolved it when the connection last opened (absolute, symbolic
    /// links followed, a "file:" URI read as SQLite reads it); empty for an in-memory (":memory:")
    /// or temporary ("") database. What a restore by file must replace.
    const std::filesystem::path& file() const noexcept { return file_; }
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
            it = cache_.emplace(sql, slot_of(prepare(sql, SQLITE_PREPARE_PERSISTENT))).first;
        } else if (it->second->in_use) {
            auto own = slot_of(prepare(sql, 0));
            std::erase_if(own_, [](const auto& w) { return w.expired(); });
            own_.push_back(own);  // so a drop can mark it stale too
            return sqlite_statement(db_, std::move(own), false);
        }
        it->second->in_use = true;
        return sqlite_statement(db_, it->second, true);
    }

    /// Holds the reconcile lock of one scope (an flock on its lock file) until destroyed or
    /// released; a lock of an in-memory or temporary database holds nothing. Move-only.
    class reconcile_lock {
    public:
        reconcile_lock(reconcile_lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
        reconcile_lock& operator=(reconcile_lock&& o) noexcept {
            if (this != &o) {
                release();
                fd_ = std::exchange(o.fd_, -1);
                path_ = std::move(o.path_);
            }
            return *this;
        }
        reconcile_lock(const reconcile_lock&) = delete;
        reconcile_lock& operator=(const reconcile_lock&) = delete;
        ~reconcile_lock() { release(); }
        /// Releases early (idempotent). The lock file stays: removing it while another process
        /// waits on it would let two processes lock two different files.
        void release() noexcept {
            if (fd_ >= 0) ::close(std::exchange(fd_, -1));  // closing the descriptor releases the flock
        }
        /// True while it holds a lock file (false after release(), and for in-memory databases).
        bool held() const noexcept { return fd_ >= 0; }
        /// The lock file (empty for an in-memory or temporary database).
        const std::filesystem::path& path() const noexcept { return path_; }

    private:
        friend class sqlite_database;
        reconcile_lock(int fd, std::filesystem::path p) noexcept : fd_(fd), path_(std::move(p)) {}
        int fd_ = -1;
        std::filesystem::path path_;
    };

    /// The lock file of a reconcile scope: "<database file>.concord-reconcile-<16 hex digits>.lock",
    /// the digits being the high 64 bits of XXH3-128("concord/reconcile/v1/<scope>") (the key
    /// postgres_database uses for the same scope). The database file is the full path SQLite
    /// resolved when the connection opened, so every connection to one file names the same lock
    /// file. Empty for an in-memory (":memory:") or temporary ("") database: no other connection
    /// can open it, so it needs no lock.
    std::filesystem::path reconcile_lock_path(std::string_view scope = "concord") const {
        if (file_.empty()) return {};
        static constexpr char digits[] = "0123456789abcdef";
        const auto hi = xxh3_128("concord/reconcile/v1/" + std::string(scope)).hi;
        std::string hex(16, '0');
        for (int i = 0; i < 16; ++i) hex[static_cast<std::size_t>(i)] = digits[(hi >> (60 - 4 * i)) & 0xf];
        auto p = file_;
        p += ".concord-reconcile-" + hex + ".lock";
        return p;
    }

    /// Takes the reconcile lock of `scope` without waiting: two reconciles of one database file (in
    /// any process, or on two connections of one process) must not both act. An exclusive flock on
    /// reconcile_lock_path(scope), created (mode 0644 less the umask) if missing and never removed.
    /// Throws errc::concurrent_reconcile, naming the database and the lock file, when another
    /// holder has it (another connection, another process, or an earlier lock of this connection
    /// still alive: it is not re-entrant); store_error (errc::store_failure) naming the lock file
    /// when it cannot be opened (permissions of the folder). Other scopes are independent. The
    /// operating system releases the lock when its process ends, so a crashed host never leaves
    /// it behind.
    reconcile_lock lock_reconcile(std::string_view scope = "concord") {
        auto p = reconcile_lock_path(scope);
        if (p.empty()) return reconcile_lock(-1, {});
        int fd = -1;
        do {
            fd = ::open(p.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);  // CLOEXEC: a child must not keep the lock
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            const int e = errno;
            throw store_error(errc::store_failure, "cannot open the reconcile lock file " + p.string() + " of " +
                                                       file_.string() + ": " + std::strerror(e) +
                                                       " (the folder must let this user create and read it)");
        }
        while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int e = errno;
            if (e == EINTR) continue;
            ::close(fd);
            if (e == EWOULDBLOCK)
                throw error(errc::concurrent_reconcile,
                            "another reconcile is running on SQLite database " + file_.string() + ", scope '" +
                                std::string(scope) + "' (it holds the lock file " + p.string() +
                                "): this one did nothing; try again when it has finished");
            throw store_error(errc::store_failure, "cannot lock " + p.string() + ": " + std::strerror(e));
        }
        return reconcile_lock(fd, std::move(p));
    }

    /// Rows changed by the last statement.
    std::int64_t changes() noexcept { return db_ ? sqlite3_changes64(db_) : 0; }
    std::int64_t last_insert_rowid() noexcept { return db_ ? sqlite3_last_insert_rowid(db_) : 0; }
    /// Number of prepared statements currently cached (benchmarks, tests).
    std::size_t cached_statements() const noexcept { return cache_.size(); }

private:
    using slot_ptr = std::shared_ptr<detail::sqlite_stmt_slot>;

    static slot_ptr slot_of(sqlite3_stmt* s) {
        try {
            return std::make_shared<detail::sqlite_stmt_slot>(s);
        } catch (...) {
            sqlite3_finalize(s);
            throw;
        }
    }

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

    /// Resets every statement still borrowed (so none keeps a read transaction open on a connection
    /// about to close or be restored into) and marks it stale; the last owner finalizes it.
    void drop_statements() noexcept {
        auto retire = [](detail::sqlite_stmt_slot& s) noexcept {
            sqlite3_reset(s.stmt);
            s.stale = true;
        };
        for (auto& entry : cache_) retire(*entry.second);
        for (auto& w : own_)
            if (auto s = w.lock()) retire(*s);
        cache_.clear();
        own_.clear();
    }

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
        const char* file = sqlite3_db_filename(db_, "main");
        file_ = file ? std::filesystem::path(file) : std::filesystem::path();  // "" for in-memory and temporary
        sqlite3_extended_result_codes(db_, 1);
        sqlite3_busy_timeout(db_, detail::sqlite_default_busy_timeout_ms);
        // Reading the schema makes SQLite validate the header now (a damaged file fails here, not
        // in the middle of a reconcile); it writes nothing. Only a file SQLite calls damaged or not
        // a database is not_a_database: a lock held too long by another connection is not.
        sqlite3_stmt* s = nullptr;
        int read = sqlite3_prepare_v2(db_, "SELECT count(*) FROM sqlite_schema", -1, &s, nullptr);
        if (read == SQLITE_OK) read = sqlite3_step(s);
        const std::string m = read == SQLITE_ROW ? std::string() : detail::sqlite_message(db_, read);
        sqlite3_finalize(s);
        if (read != SQLITE_ROW) {
            close();
            const int primary = read & 0xff;
            if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
                throw store_error(errc::not_a_database, path_.string() + " cannot be read as an SQLite database: " + m);
            throw store_error(errc::store_failure,
                              "cannot read the schema of " + path_.string() + ": " + m +
                                  (primary == SQLITE_BUSY || primary == SQLITE_LOCKED
                                       ? " (another connection held a lock on it for longer than the busy timeout; "
                                         "open it again once that connection's transaction is over)"
                                       : ""));
        }
        ++epoch_;
    }

    std::filesystem::path path_;
    std::filesystem::path file_;  ///< the database file as SQLite resolved it (absolute); empty: in memory
    sqlite3* db_ = nullptr;
    std::map<std::string, slot_ptr, std::less<>> cache_;
    std::vector<std::weak_ptr<detail::sqlite_stmt_slot>> own_;  ///< statements of their own still borrowed
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
