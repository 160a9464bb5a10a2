// sqlite_restore_file renames the restored copy over the database: the rename is durable only once
// the folder holding it is fsync'ed, or a power cut can bring the old database back (or none) after
// the restore reported success. It used to fsync the copy but never the folder. A crash cannot be
// tested here; what can: the folder is opened to be fsync'ed, before anything is written, so a
// folder the host cannot open (no read permission) is refused with errc::store_failure and the
// database is left as it was, where the restore used to go ahead without ever fsync'ing it.

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concord/sqlite/backup.hpp>

#include "sqlite_fixture.hpp"

namespace {
namespace fs = std::filesystem;

/// Rows of table t, or -1 when they cannot be read.
long long rows(concord::sqlite_database& db) {
    sqlite3_stmt* s = nullptr;
    long long n = -1;
    if (sqlite3_prepare_v2(db.handle(), "SELECT count(*) FROM t", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/// What the child saw when it restored (its exit status).
enum outcome : int { refused_untouched = 0, not_refused = 10, other_code = 11, closed = 12, changed = 13,
                     unnamed_folder = 14, cannot_drop_root = 15, other_exception = 16 };

/// In a child process without root's right to open any folder (root drops to "nobody"; a user
/// already is one): restores `backup` into `live`, whose folder lets it create and rename files but
/// not list (open) the folder.
int restore_without_folder_read(const fs::path& live, const fs::path& backup) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::getuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
            ::_exit(cannot_drop_root);
        int status = not_refused;
        try {
            concord::sqlite_database db(live);
            try {
                concord::sqlite_restore_file(db, backup);
            } catch (const concord::error& e) {
                const std::string what = e.what();
                status = e.code() != concord::errc::store_failure ? other_code
                         : !db.is_open()                         ? closed
                         : rows(db) != 3                         ? changed
                         : what.find(live.parent_path().string()) == std::string::npos ? unnamed_folder
                                                                                      : refused_untouched;
            }
        } catch (...) {
            status = other_exception;
        }
        ::_exit(status);
    }
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}
} // namespace

TEST_CASE("sqlite_restore_file opens the database's folder to fsync the rename, before it writes anything",
          "[sqlite][backup]") {
    concord::test::temp_dir dir;
    const auto folder = dir / "shop";
    fs::create_directory(folder);
    const auto live = folder / "live.db", backup = folder / "backup.db";
    {
        concord::sqlite_database db(live);
        db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
        concord::sqlite_backup(db, backup);
        db.exec("INSERT INTO t VALUES (3)");  // 3 rows live, 2 in the backup
    }
    const auto before = concord::test::read_file(live);
    // "nobody" may reach the folder, create and rename files in it, but not open it.
    fs::permissions(dir.path(), fs::perms::all);
    if (::getuid() == 0)  // the child drops to nobody: hand it the files
        for (const auto& p : {folder, live, backup}) REQUIRE(::chown(p.c_str(), 65534, 65534) == 0);
    fs::permissions(folder, fs::perms::owner_write | fs::perms::owner_exec);

    CHECK(restore_without_folder_read(live, backup) == refused_untouched);

    fs::permissions(folder, fs::perms::owner_all);
    CHECK((concord::test::read_file(live) == before));  // (( )): no binary dump when it fails
    CHECK_FALSE(fs::exists(folder / "live.db.concord-restore.tmp"));
    // A folder it can open: restored, and still restored after reopening.
    concord::sqlite_database db(live);
    concord::sqlite_restore_file(db, backup);
    CHECK(rows(db) == 2);
    db.reopen();
    CHECK(rows(db) == 2);
}
