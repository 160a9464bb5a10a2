// sqlite_restore_file copies the backup beside the database and renames the copy over it. The copy
// used to keep the backup's permission bits and get the restoring user as owner, so a database the
// host shared with a group (0640, owned by the service) came back 0600 and, restored by root,
// owned by root: the service could no longer open its own database. The restored file now takes the
// owner and permissions of the file it replaces.

#include <filesystem>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <concord/sqlite/backup.hpp>

#include "sqlite_fixture.hpp"

namespace {
namespace fs = std::filesystem;

struct ::stat stat_of(const fs::path& p) {
    struct ::stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st;
}
} // namespace

TEST_CASE("sqlite_restore_file keeps the database file's permissions and owner", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    const auto live = dir / "live.db", backup = dir / "backup.db";
    {
        concord::sqlite_database db(live);
        db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
        concord::sqlite_backup(db, backup);
        db.exec("INSERT INTO t VALUES (2)");
    }
    REQUIRE(::chmod(backup.c_str(), 0600) == 0);
    REQUIRE(::chmod(live.c_str(), 0640) == 0);
    // As root the database is handed to "nobody", as a service's would be; a user keeps its own.
    const bool root = ::getuid() == 0;
    if (root) REQUIRE(::chown(live.c_str(), 65534, 65534) == 0);
    const auto before = stat_of(live);

    concord::sqlite_database db(live);
    concord::sqlite_restore_file(db, backup);

    const auto after = stat_of(live);
    CHECK(after.st_ino != before.st_ino);  // the file was replaced, not written in place
    CHECK((after.st_mode & 07777) == 0640);
    CHECK(after.st_uid == before.st_uid);
    CHECK(after.st_gid == before.st_gid);
    if (root) CHECK(after.st_uid == 65534);
    CHECK((stat_of(backup).st_mode & 07777) == 0600);  // the backup itself is left as it was
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db.handle(), "SELECT count(*) FROM t", -1, &s, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    CHECK(sqlite3_column_int64(s, 0) == 1);
    sqlite3_finalize(s);
}
