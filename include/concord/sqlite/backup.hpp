#pragma once
// Backups and restores the way hosts do them, with SQLite's online backup API (sqlite3_backup_*):
//  * sqlite_backup(db, dest)        copies the live database to a file, consistent even while in use;
//  * sqlite_restore(db, src)        restores a backup *into the open connection* (the host keeps its
//                                   connection; every sqlite_store on it sees the restored contents);
//  * sqlite_restore_file(db, src)   the other connection model: close, replace the file, reopen.
// After either restore the store's checkpoint and links are the backup's: that is what makes the
// restore visible to concord's timeline check (docs/restore-detection.md).
//
// A busy database (another connection holds a lock) is retried for the host connection's busy
// timeout (PRAGMA busy_timeout; sqlite_database sets 5 s), then refused with errc::store_failure.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <concord/error.hpp>
#include <concord/sqlite/database.hpp>

namespace concord {

namespace detail {

/// The integer a one-value PRAGMA query on connection `h` returns (0 when it cannot be read).
inline int sqlite_pragma_int(sqlite3* h, const char* pragma) {
    sqlite3_stmt* s = nullptr;
    int v = 0;
    if (sqlite3_prepare_v2(h, pragma, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/// The busy timeout of connection `h` in milliseconds (0 when none is set or it cannot be read).
inline int sqlite_busy_timeout_ms(sqlite3* h) { return std::max(sqlite_pragma_int(h, "PRAGMA busy_timeout"), 0); }

/// The page size of connection `h`'s main database (0 when it cannot be read).
inline int sqlite_page_size(sqlite3* h) { return sqlite_pragma_int(h, "PRAGMA page_size"); }

/// Copies every page of `from` (schema "main") into `to` (schema "main") with sqlite3_backup_*.
/// SQLITE_BUSY / SQLITE_LOCKED (another connection holds a lock) is retried for `timeout_ms`, then
/// refused: a lock that is never released must not hang the host.
inline void sqlite_copy_pages(sqlite3* to, sqlite3* from, const std::string& what, int timeout_ms) {
    sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) throw store_error(errc::store_failure, what + ": sqlite3_backup_init: " + sqlite3_errmsg(to));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    int rc;
    bool busy = false;
    for (;;) {
        rc = sqlite3_backup_step(b, -1);
        busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
        if (rc == SQLITE_OK) continue;
        if (!busy || std::chrono::steady_clock::now() >= deadline) break;
        sqlite3_sleep(5);
    }
    const std::string to_message = sqlite3_errmsg(to);
    const int fin = sqlite3_backup_finish(b);
    if (busy)
        throw store_error(errc::store_failure,
                          what + ": the database stayed busy (" + sqlite3_errstr(rc) + ") for " + std::to_string(timeout_ms) +
                              " ms, the connection's busy timeout: another connection holds a lock on it; retry once "
                              "its transaction is over, or raise the timeout with sqlite3_busy_timeout()");
    if (rc != SQLITE_DONE || fin != SQLITE_OK) {
        const int failed = rc != SQLITE_DONE ? rc : fin;
        std::string m = what + ": sqlite3_backup_step: " + sqlite3_errstr(failed);
        if (to_message != sqlite3_errstr(SQLITE_OK) && to_message != sqlite3_errstr(failed)) m += " (" + to_message + ")";
        // SQLite says only "readonly" when a destination in WAL mode would have to change its page size.
        const int from_size = sqlite_page_size(from), to_size = sqlite_page_size(to);
        if ((failed & 0xff) == SQLITE_READONLY && from_size != to_size)
            m += "; a database in WAL mode (PRAGMA journal_mode=WAL) cannot take the pages of one whose page size "
                 "differs: the page sizes are " + std::to_string(from_size) + " (source) and " +
                 std::to_string(to_size) + " (destination)";
        throw store_error(errc::store_failure, m);
    }
}

/// True when `a` and `b` name the same existing file (through links too).
inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
    std::error_code ec;
    return std::filesystem::equivalent(a, b, ec) && !ec;
}

/// True when `p` is db's database file: the file SQLite opened (its name may be a "file:" URI).
inline bool is_database_file(const sqlite_database& db, const std::filesystem::path& p) {
    return same_file(p, db.file().empty() ? db.path() : db.file());
}

/// The name to give sqlite3_open_v2 for the file `p`. SQLite reads a name starting with "file:" as
/// a URI (this build's SQLITE_USE_URI: "file:monday.db" opens monday.db, "?mode=memory" no file at
/// all) and ":memory:" as no file: "./" keeps a relative backup path the file it names.
inline std::string sqlite_file_name(const std::filesystem::path& p) {
    const std::string s = p.string();
    if (p.is_relative() && (s.rfind("file:", 0) == 0 || s == ":memory:")) return "./" + s;
    return s;
}

/// A URI that opens the file `p` read-only as immutable: no locks, and no "-wal" / "-shm" left beside
/// it (a read-only connection to a database in WAL mode otherwise creates both and cannot remove them).
inline std::string sqlite_immutable_uri(const std::filesystem::path& p) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string uri = "file:";
    for (const unsigned char c : std::filesystem::absolute(p).string()) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
            uri += static_cast<char>(c);
        } else {  // '%', '?', '#' and the rest percent-encoded, so the URI names exactly this file
            uri += '%';
            uri += digits[c >> 4];
            uri += digits[c & 0xf];
        }
    }
    return uri + "?immutable=1";
}

/// An extra connection for the duration of a backup or restore (`immutable`: see sqlite_immutable_uri).
struct sqlite_side_connection {
    sqlite3* h = nullptr;
    sqlite_side_connection(const std::filesystem::path& p, int flags, bool immutable = false) {
        const std::string name = immutable ? sqlite_immutable_uri(p) : sqlite_file_name(p);
        const int rc = sqlite3_open_v2(name.c_str(), &h, immutable ? flags | SQLITE_OPEN_URI : flags, nullptr);
        if (rc != SQLITE_OK) {
            std::string m = sqlite_message(h, rc);
            sqlite3_close_v2(h);
            h = nullptr;
            throw store_error(errc::store_failure, "cannot open " + p.string() + ": " + m);
        }
    }
    sqlite_side_connection(const sqlite_side_connection&) = delete;
    sqlite_side_connection& operator=(const sqlite_side_connection&) = delete;
    ~sqlite_side_connection() { sqlite3_close_v2(h); }
};

/// A backup copied while a transaction was writing it (a file copy of a live database in
/// rollback-journal mode, with its "-journal") holds pages of that transaction, which SQLite rolls
/// back from the journal when it opens the file for writing. Copying the file alone would restore
/// them as if committed (PRAGMA quick_check does not see it): refused with errc::invalid_argument.
/// A journal is hot when it is not empty and starts with its header's magic (PERSIST mode zeroes it).
inline void require_no_hot_journal(const std::filesystem::path& src) {
    static constexpr unsigned char magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
    auto journal = src;
    journal += "-journal";
    unsigned char head[sizeof magic] = {};
    const int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);  // POSIX, not <fstream>: see witness.hpp
    if (fd < 0) return;
    const auto got = ::read(fd, head, sizeof head);
    ::close(fd);
    if (got != static_cast<ssize_t>(sizeof head) || std::memcmp(head, magic, sizeof magic) != 0) return;
    throw error(errc::invalid_argument, "backup " + src.string() + " has a hot rollback journal (" + journal.string() +
                                            "): it was copied in the middle of a transaction, whose pages it holds; "
                                            "open it once with SQLite read-write (which rolls that transaction back), "
                                            "or make backups with sqlite_backup()");
}

/// A backup to restore must exist and be an SQLite database: checked before anything is written.
inline void require_backup_file(const std::filesystem::path& src) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(src, ec))
        throw error(errc::invalid_argument, "backup " + src.string() + " does not exist or is not a file");
    if (std::filesystem::file_size(src, ec) == 0)
        throw error(errc::not_a_database, "backup " + src.string() + " is empty");
    require_sqlite_file(src);
    require_no_hot_journal(src);
}

/// Throws errc::not_a_database unless the backup open on `h` reads as an intact database (PRAGMA
/// quick_check). The header alone does not say so: the backup API and a file copy move damaged or
/// missing pages as they are, which would leave the live database unreadable.
inline void require_intact_backup(sqlite3* h, const std::filesystem::path& src, int timeout_ms) {
    sqlite3_busy_timeout(h, timeout_ms);
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(h, "PRAGMA quick_check(1)", -1, &s, nullptr);  // (1): the first problem only
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    std::string first = rc == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0))
                                         : sqlite_message(h, rc);
    sqlite3_finalize(s);
    std::replace(first.begin(), first.end(), '\n', ' ');  // "*** in database main ***\nPage 9: ..." on one line
    if (rc == SQLITE_ROW && first == "ok") return;
    const int primary = rc & 0xff;
    if (rc == SQLITE_ROW || primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
        throw error(errc::not_a_database, "backup " + src.string() + " is damaged (" + first +
                                              "): not restored, the live database is untouched");
    throw store_error(errc::store_failure, "cannot check backup " + src.string() + ": " + first);
}

} // namespace detail

/// Online backup of `db` to `dest` (created or overwritten; an existing file that is not an SQLite
/// database is refused with errc::not_a_database and left alone).
/// A destination that is the database itself, or an empty path, is refused with
/// errc::invalid_argument (the copy would wait on its own lock / go to a temporary database).
/// `dest` always names a file: "file:..." and ":memory:" are not read as a URI or in-memory database.
inline void sqlite_backup(sqlite_database& db, const std::filesystem::path& dest) {
    if (!db.is_open()) throw store_error(errc::store_failure, "cannot back up " + db.path().string() + ": connection closed");
    if (detail::is_database_file(db, dest))
        throw error(errc::invalid_argument, "cannot back up " + db.path().string() + " onto itself (" + dest.string() +
                                                "): give sqlite_backup() another destination file");
    if (dest.empty()) throw error(errc::invalid_argument, "sqlite_backup() needs a destination file, not an empty path");
    // The backup API cannot read a database its own connection is writing: every step would be
    // SQLITE_LOCKED until the busy timeout, then blamed on another connection.
    if (sqlite3_txn_state(db.handle(), "main") == SQLITE_TXN_WRITE)
        throw error(errc::invalid_argument, "cannot back up " + db.path().string() +
                                                ": this connection is inside a write transaction; commit or roll it "
                                                "back first (the backup would copy the database without it)");
    detail::require_sqlite_file(dest);
    detail::sqlite_side_connection out(dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    detail::sqlite_copy_pages(out.h, db.handle(), "backup of " + db.path().string() + " to " + dest.string(),
                              detail::sqlite_busy_timeout_ms(db.handle()));
}

/// Restores the backup `src` into the open connection `db` (its file is rewritten page by page,
/// atomically for other connections). The connection's statement cache is dropped; stores on it
/// re-check their tables on next use. A backup that is the database itself is refused with
/// errc::invalid_argument; one with damaged or missing pages (PRAGMA quick_check) with
/// errc::not_a_database, before anything is written.
inline void sqlite_restore(sqlite_database& db, const std::filesystem::path& src) {
    if (!db.is_open()) throw store_error(errc::store_failure, "cannot restore into " + db.path().string() + ": connection closed");
    detail::require_backup_file(src);
    if (detail::is_database_file(db, src))
        throw error(errc::invalid_argument,
                    "cannot restore " + db.path().string() + " from itself (" + src.string() + "): name a backup file");
    // SQLite refuses to overwrite a database its own connection has a transaction open on; refused
    // before the statement cache is dropped, so the host's borrowed statements stay usable.
    if (!sqlite3_get_autocommit(db.handle()))
        throw error(errc::invalid_argument, "cannot restore into " + db.path().string() +
                                                ": this connection is inside a transaction; commit or roll it back first");
    const int timeout_ms = detail::sqlite_busy_timeout_ms(db.handle());
    detail::sqlite_side_connection in(src, SQLITE_OPEN_READONLY);
    detail::require_intact_backup(in.h, src, timeout_ms);
    db.contents_replaced();  // reset cached statements: the destination must have none pending
    detail::sqlite_copy_pages(db.handle(), in.h, "restore of " + src.string() + " into " + db.path().string(),
                              timeout_ms);
    db.contents_replaced();
}

namespace detail {
/// A database in WAL mode keeps its latest commits in "<file>-wal" until a checkpoint: a non-empty
/// log beside a file means the file alone is not the database.
inline bool has_pending_wal(const std::filesystem::path& file) {
    auto wal = file;
    wal += "-wal";
    std::error_code ec;
    const auto size = std::filesystem::file_size(wal, ec);
    return !ec && size > 0;
}

/// Throws store_failure unless the closed database `file` has no other connection that SQLite can
/// see. Replacing the file under one is not safe: in WAL mode its later commits go to the log,
/// which SQLite then replays onto the restored file (rows the restore removed come back).
///  * In WAL mode the last connection to close removes "-wal" and "-shm"; either one still there
///    (even an empty, checkpointed log) means another connection has the database open.
///  * An exclusive lock taken in exclusive locking mode proves the rest: it is refused while any
///    connection of this or another process holds a lock (a WAL connection always holds one; a
///    rollback-journal connection inside a transaction does). An idle rollback-journal connection
///    holds none and cannot be seen; SQLite refuses its writes after the file is replaced
///    (SQLITE_READONLY_DBMOVED).
inline void require_sole_connection(const std::filesystem::path& file, int timeout_ms) {
    const auto refuse = [&](const std::string& why) {
        throw store_error(errc::store_failure, "cannot replace " + file.string() + ": " + why +
                                                   "; close the other connections first, or restore with "
                                                   "sqlite_restore() into the open connection");
    };
    std::error_code ec;
    for (const char* suffix : {"-wal", "-shm"}) {
        auto side = file;
        side += suffix;
        if (std::filesystem::exists(side, ec))
            refuse("a file of its write-ahead log (" + side.string() +
                   ") is still there after closing, so another connection has it open (or a statement borrowed from "
                   "this one is still alive)");
    }
    if (!std::filesystem::exists(file, ec)) return;
    sqlite_side_connection probe(file, SQLITE_OPEN_READWRITE);
    sqlite3_busy_timeout(probe.h, timeout_ms);
    char* msg = nullptr;
    const int rc = sqlite3_exec(probe.h, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; ROLLBACK", nullptr, nullptr, &msg);
    const std::string m = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    if (rc != SQLITE_OK) refuse("another connection holds a lock on it (" + m + ")");
}

/// After a failed restore_file (the file untouched): reopen the connection and rethrow `cause`. When
/// the reopen fails too, a store_error with `cause`'s code says both, with `cause` nested.
[[noreturn]] inline void reopen_after_failed_restore(sqlite_database& db, std::exception_ptr cause) {
    try {
        db.reopen();
    } catch (const std::exception& again) {
        try {
            std::rethrow_exception(cause);
        } catch (const error& e) {
            std::throw_with_nested(store_error(e.code(), std::string(e.what()) + "; reopening " + db.path().string() +
                                                             " afterwards failed too (" + again.what() +
                                                             "): the connection is closed, call reopen()"));
        } catch (const std::exception& e) {
            std::throw_with_nested(store_error(errc::store_failure, std::string(e.what()) + "; reopening " +
                                                                        db.path().string() + " afterwards failed too (" +
                                                                        again.what() + "): the connection is closed, call reopen()"));
        }
    }
    std::rethrow_exception(cause);
}
} // namespace detail

/// The close / replace the file / reopen connection model: the file is copied beside the database,
/// fsync'ed and renamed over it, then the folder is fsync'ed, so a crash leaves either the old
/// database or the backup, and a restore that returned stays restored. A folder that cannot be
/// opened (to fsync it) is errc::store_failure before anything is written.
/// Replacing the file under another connection is refused (detail::require_sole_connection): in WAL
/// mode its later commits would be replayed onto the restored file. A backup file with a non-empty
/// log of its own is refused too: copy it with sqlite_backup(), or use sqlite_restore(). A backup with
/// damaged or missing pages is errc::not_a_database before the connection is closed. Whenever
/// the file is not replaced, the temporary copy is removed, the connection reopened and the error
/// that stopped the restore is what propagates.
inline void sqlite_restore_file(sqlite_database& db, const std::filesystem::path& src) {
    // The file SQLite opened, not the name the connection was given: a symbolic link must stay a
    // link to the restored file, and a "file:" URI is not a file name.
    const std::filesystem::path file = db.file();
    if (file.empty())
        throw error(errc::invalid_argument, "cannot restore " + db.path().string() +
                                                " by replacing its file: an in-memory or temporary database has none; "
                                                "restore it with sqlite_restore()");
    detail::require_backup_file(src);
    if (detail::same_file(src, file))
        throw error(errc::invalid_argument,
                    "cannot restore " + db.path().string() + " from itself (" + src.string() + "): name a backup file");
    if (detail::has_pending_wal(src))
        throw error(errc::invalid_argument, "backup " + src.string() + " has a write-ahead log (" + src.string() +
                                                "-wal) with commits the file does not hold; make backups with "
                                                "sqlite_backup() or restore with sqlite_restore()");
    const int timeout_ms =
        db.is_open() ? detail::sqlite_busy_timeout_ms(db.handle()) : detail::sqlite_default_busy_timeout_ms;
    {  // before the file is replaced: a damaged backup would leave neither database readable
        // Immutable: the file is what gets copied (a pending log was refused above), and checking it
        // must leave nothing beside it.
        detail::sqlite_side_connection in(src, SQLITE_OPEN_READONLY, true);
        detail::require_intact_backup(in.h, src, timeout_ms);
    }
    db.close();
    auto tmp = file;
    tmp += ".concord-restore.tmp";
    struct fd_closer {
        int fd = -1;
        ~fd_closer() {
            if (fd >= 0) ::close(fd);
        }
    } folder;
    try {
        detail::require_sole_connection(file, timeout_ms);
        // The rename is durable only once the folder is fsync'ed too: otherwise a power cut can bring
        // the old database back after the restore reported success. Opened before anything is
        // written, so a folder that cannot be opened leaves the database untouched.
        const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
        folder.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (folder.fd < 0) {
            const std::string why = std::strerror(errno);
            throw store_error(errc::store_failure, "cannot open the folder " + dir.string() + " of " + file.string() +
                                                       " to fsync the restore: " + why + "; the database was not replaced");
        }
        std::error_code ec;
        std::filesystem::copy_file(src, tmp, std::filesystem::copy_options::overwrite_existing, ec);
        if (ec)
            throw store_error(errc::store_failure, "cannot copy " + src.string() + " to " + tmp.string() + ": " + ec.message());
        int fd = ::open(tmp.c_str(), O_RDONLY);
        if (fd < 0 || ::fsync(fd) != 0) {
            const std::string why = std::strerror(errno);
            if (fd >= 0) ::close(fd);
            throw store_error(errc::store_failure, "cannot fsync " + tmp.string() + ": " + why);
        }
        // The copy has the backup's permissions and the restoring user as owner: the database keeps
        // its own, or a group-shared 0640 file owned by the service would come back 0600 and root's.
        struct ::stat live {}, copy {};
        if (::stat(file.c_str(), &live) == 0 && ::fstat(fd, &copy) == 0) {
            const bool owner_differs = copy.st_uid != live.st_uid || copy.st_gid != live.st_gid;
            if ((owner_differs && ::fchown(fd, live.st_uid, live.st_gid) != 0) ||
                ::fchmod(fd, live.st_mode & 07777) != 0) {
                const std::string why = std::strerror(errno);
                ::close(fd);
                throw store_error(errc::store_failure, "cannot give " + tmp.string() + " the owner and permissions of " +
                                                           file.string() + ": " + why + "; the database was not replaced");
            }
        }
        ::close(fd);
        std::filesystem::rename(tmp, file, ec);
        if (ec)
            throw store_error(errc::store_failure, "cannot move " + tmp.string() + " over " + file.string() + ": " +
                                                       ec.message());
        if (::fsync(folder.fd) != 0) {
            const std::string why = std::strerror(errno);
            throw store_error(errc::store_failure, "fsync of the folder " + dir.string() + " failed after " + file.string() +
                                                       " was replaced by " + src.string() + ": " + why +
                                                       "; a power cut may still bring the old database back");
        }
    } catch (...) {
        std::error_code ec;
        if (std::filesystem::is_regular_file(tmp, ec)) std::filesystem::remove(tmp, ec);  // ours; never a directory
        detail::reopen_after_failed_restore(db, std::current_exception());
    }
    db.reopen();
}

} // namespace concord
