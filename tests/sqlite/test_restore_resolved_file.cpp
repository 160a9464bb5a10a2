// sqlite_restore_file must replace the file the connection really uses (SQLite resolves symbolic
// links and, in this build, "file:" URIs), never a name that only looks like it, and must not claim to
// restore a database that has no file.

#include <cstdint>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include "../support/lineages.hpp"
#include "sqlite_fixture.hpp"

namespace {

struct named {
    BOOST_HANA_DEFINE_STRUCT(named, (std::int64_t, id), (std::string, name));
};

/// Runs in `dir` until the end of the scope (the current directory is restored).
struct in_directory {
    std::filesystem::path old = std::filesystem::current_path();
    explicit in_directory(const std::filesystem::path& dir) { std::filesystem::current_path(dir); }
    in_directory(const in_directory&) = delete;
    in_directory& operator=(const in_directory&) = delete;
    ~in_directory() {
        std::error_code ec;
        std::filesystem::current_path(old, ec);
    }
};

} // namespace

using namespace concord;

TEST_CASE("sqlite restore: sqlite_restore_file through a symbolic link restores the database file, not the link",
          "[sqlite][backup]") {
    test::temp_dir dir;
    const auto real = dir / "real.db";
    const auto link = dir / "live.db";  // the host's configured name, a link to the data volume
    {
        sqlite_database create(real);
    }
    std::filesystem::create_symlink(real, link);

    sqlite_database db(link);
    sqlite_store<named> s(db, "names");
    s.put({0, "before-backup"});
    const auto lock_file = db.reconcile_lock_path();
    const auto backup = dir / "backup.db";
    sqlite_backup(db, backup);
    s.put({0, "after-backup"});

    sqlite_restore_file(db, backup);

    CHECK(s.size() == 1);                           // this connection sees the backup
    CHECK(std::filesystem::is_symlink(link));       // the host's link is still a link
    CHECK(db.reconcile_lock_path() == lock_file);   // and every connection still names one lock file
    sqlite_database other(real);                    // another process opening the file itself
    sqlite_store<named> o(other, "names");
    CHECK(o.size() == 1);                           // sees the restore, not the rows it undid
}

TEST_CASE("sqlite restore: sqlite_restore_file of a database opened by a file: URI replaces the file SQLite opened",
          "[sqlite][backup]") {
    REQUIRE(sqlite3_compileoption_used("USE_URI") == 1);
    test::temp_dir dir;
    in_directory cd(dir.path());
    sqlite_database db("file:shop.db");  // SQLite opens shop.db
    REQUIRE(db.reconcile_lock_path().filename() != "");
    sqlite_store<named> s(db, "names");
    s.put({0, "before-backup"});
    sqlite_backup(db, dir / "backup.db");
    s.put({0, "after-backup"});

    sqlite_restore_file(db, dir / "backup.db");

    CHECK(s.size() == 1);                                   // restored: the row after the backup is gone
    CHECK(!std::filesystem::exists(dir / "file:shop.db"));  // and no stray file named like the URI
    try {  // the database file itself, named plainly, is the database file
        sqlite_backup(db, dir / "shop.db");
        FAIL_CHECK("backed up onto itself");
    } catch (const error& e) {
        CHECK(e.code() == errc::invalid_argument);
    }
    CHECK(s.size() == 1);
}

TEST_CASE("sqlite restore: sqlite_restore_file of an in-memory database is refused, nothing written",
          "[sqlite][backup]") {
    test::temp_dir dir;
    in_directory cd(dir.path());
    sqlite_database db(":memory:");
    sqlite_store<named> s(db, "names");
    s.put({0, "kept"});
    sqlite_backup(db, dir / "backup.db");
    s.put({0, "also kept"});
    try {
        sqlite_restore_file(db, dir / "backup.db");
        FAIL_CHECK("an in-memory database was 'restored' by replacing a file it does not have");
    } catch (const error& e) {
        CHECK(e.code() == errc::invalid_argument);
    }
    CHECK(db.is_open());
    CHECK(s.size() == 2);                              // the in-memory rows are still there
    CHECK(!std::filesystem::exists(dir / ":memory:")); // no file named ":memory:" appeared
}
