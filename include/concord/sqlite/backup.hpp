#pragma once
// Backups and restores the way hosts do them, with SQLite's online backup API (sqlite3_backup_*):
//  * sqlite_backup(db, dest)        copies the live database to a file, consistent even while in use;
//  * sqlite_restore(db, src)        restores a backup *into the open connection* (the host keeps its
//                                   connection; every sqlite_store on it sees the restored contents);
//  * sqlite_restore_file(db, src)   the other connection model: close, replace the file, reopen.
// After either restore the store's checkpoint and links are the backup's: that is what makes the
// restore visible to concord's timeline check (docs/restore-detection.md).

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <sqlite3.h>

#include <concord/error.hpp>
#include <concord/sqlite/database.hpp>

namespace concord {

namespace detail {

/// Copies every page of `from` (schema "main") into `to` (schema "main") with sqlite3_backup_*.
inline void sqlite_copy_pages(sqlite3* to, sqlite3* from, const std::string& what) {
    sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) throw store_error(errc::store_failure, what + ": sqlite3_backup_init: " + sqlite3_errmsg(to));
    int rc;
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(5);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    const int fin = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || fin != SQLITE_OK)
        throw store_error(errc::store_failure, what + ": sqlite3_backup_step: " + sqlite3_errstr(rc != SQLITE_DONE ? rc : fin) +
                                                   " (" + sqlite3_errmsg(to) + ")");
}

/// An extra connection for the duration of a backup or restore.
struct sqlite_side_connection {
    sqlite3* h = nullptr;
    sqlite_side_connection(const std::filesystem::path& p, int flags) {
        const int rc = sqlite3_open_v2(p.c_str(), &h, flags, nullptr);
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

/// A backup to restore must exist and be an SQLite database: checked before anything is written.
inline void require_backup_file(const std::filesystem::path& src) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(src, ec))
        throw error(errc::invalid_argument, "backup " + src.string() + " does not exist or is not a file");
    if (std::filesystem::file_size(src, ec) == 0)
        throw error(errc::not_a_database, "backup " + src.string() + " is empty");
    require_sqlite_file(src);
}

} // namespace detail

/// Online backup of `db` to `dest` (created or overwritten; an existing file that is not an SQLite
/// database is refused with errc::not_a_database and left alone).
inline void sqlite_backup(sqlite_database& db, const std::filesystem::path& dest) {
    if (!db.is_open()) throw store_error(errc::store_failure, "cannot back up " + db.path().string() + ": connection closed");
    detail::require_sqlite_file(dest);
    detail::sqlite_side_connection out(dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    detail::sqlite_copy_pages(out.h, db.handle(), "backup of " + db.path().string() + " to " + dest.string());
}

/// Restores the backup `src` into the open connection `db` (its file is rewritten page by page,
/// atomically for other connections). The connection's statement cache is dropped; stores on it
/// re-check their tables on next use.
inline void sqlite_restore(sqlite_database& db, const std::filesystem::path& src) {
    if (!db.is_open()) throw store_error(errc::store_failure, "cannot restore into " + db.path().string() + ": connection closed");
    detail::require_backup_file(src);
    detail::sqlite_side_connection in(src, SQLITE_OPEN_READONLY);
    db.contents_replaced();  // finalize cached statements: the destination must have none pending
    detail::sqlite_copy_pages(db.handle(), in.h, "restore of " + src.string() + " into " + db.path().string());
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
} // namespace detail

/// The close / replace the file / reopen connection model: the file is copied beside the database,
/// fsync'ed and renamed over it, so a crash leaves either the old database or the backup.
/// Databases in WAL mode: closing the last connection checkpoints and removes the log; a log that
/// is still there (another connection has the database open) would be replayed onto the restored
/// file, so that is refused (the connection is reopened, nothing written). A backup file with a
/// non-empty log of its own is refused too: copy it with sqlite_backup(), or use sqlite_restore().
inline void sqlite_restore_file(sqlite_database& db, const std::filesystem::path& src) {
    detail::require_backup_file(src);
    if (detail::has_pending_wal(src))
        throw error(errc::invalid_argument, "backup " + src.string() + " has a write-ahead log (" + src.string() +
                                                "-wal) with commits the file does not hold; make backups with "
                                                "sqlite_backup() or restore with sqlite_restore()");
    db.close();
    if (detail::has_pending_wal(db.path())) {
        db.reopen();
        throw store_error(errc::store_failure, "cannot replace " + db.path().string() + ": its write-ahead log is still " +
                                                   "there after closing (another connection has it open); close the " +
                                                   "other connections or restore with sqlite_restore()");
    }
    auto tmp = db.path();
    tmp += ".concord-restore.tmp";
    std::error_code ec;
    std::filesystem::copy_file(src, tmp, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) throw store_error(errc::store_failure, "cannot copy " + src.string() + " to " + tmp.string() + ": " + ec.message());
    {
        int fd = ::open(tmp.c_str(), O_RDONLY);
        if (fd < 0 || ::fsync(fd) != 0) {
            const std::string why = std::strerror(errno);
            if (fd >= 0) ::close(fd);
            std::filesystem::remove(tmp, ec);
            throw store_error(errc::store_failure, "cannot fsync " + tmp.string() + ": " + why);
        }
        ::close(fd);
    }
    std::filesystem::rename(tmp, db.path(), ec);
    if (ec) throw store_error(errc::store_failure, "cannot move the restored file into place: " + ec.message());
    db.reopen();
}

} // namespace concord
