// Fifth review of backup.hpp: a restore refuses a backup whose pages are damaged or missing
// (errc::not_a_database, naming the backup) before it writes anything, where it used to copy them
// into the live database (sqlite_restore_file even replaced the file, then failed to reopen it);
// a backup path that SQLite would read as a URI or as an in-memory database ("file:...",
// ":memory:") names the file it spells, and an empty one is refused.

#include <cstddef>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include <concord/sqlite/backup.hpp>

#include "../support/error_capture.hpp"
#include "sqlite_fixture.hpp"

namespace {
namespace fs = std::filesystem;

/// Rows of table t, or minus SQLite's error code when they cannot be read.
long long rows(concord::sqlite_database& db) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db.handle(), "SELECT count(*) FROM t", -1, &s, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    const long long n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -static_cast<long long>(rc);
    sqlite3_finalize(s);
    return n;
}

/// A database of `n` rows of 200 bytes (about 100 pages for 2000).
void fill(concord::sqlite_database& db, int n) {
    db.exec("CREATE TABLE t(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < " +
            std::to_string(n) + ") INSERT INTO t SELECT randomblob(200) FROM c");
}

/// The backup with every page from the third on partly overwritten: the header still reads fine.
std::string damaged(std::string bytes) {
    for (std::size_t page = 2 * 4096; page + 100 <= bytes.size(); page += 4096)
        for (std::size_t k = 0; k < 100; ++k) bytes[page + k] = static_cast<char>(bytes[page + k] ^ 0x5a);
    return bytes;
}

/// Runs the test in `dir` (relative paths name files there), back where it was at scope exit.
struct cwd_guard {
    fs::path old = fs::current_path();
    explicit cwd_guard(const fs::path& dir) { fs::current_path(dir); }
    ~cwd_guard() {
        std::error_code ec;
        fs::current_path(old, ec);
    }
};
} // namespace

TEST_CASE("a restore refuses a backup with damaged or missing pages as not_a_database, the live database untouched",
          "[review5][sqlite][backup]") {
    concord::test::temp_dir dir;
    const auto live = dir / "live.db", backup = dir / "backup.db", bad = dir / "bad.db";
    {
        concord::sqlite_database db(live);
        fill(db, 2000);
        concord::sqlite_backup(db, backup);
        db.exec("INSERT INTO t VALUES (1)");  // 2001 rows: the live database is not the backup
    }
    const auto bytes = concord::test::read_file(backup);
    REQUIRE(bytes.size() > 40 * 4096);
    // Damaged pages, or a truncated file (the header promises pages that are not there).
    const bool truncated = GENERATE(false, true);
    CAPTURE(truncated);
    concord::test::write_file(bad, truncated ? bytes.substr(0, bytes.size() / 2) : damaged(bytes));
    const auto before = concord::test::read_file(live);

    SECTION("into the open connection") {
        concord::sqlite_database db(live);
        const auto e = concord::test::caught([&] { concord::sqlite_restore(db, bad); });
        CHECK(e.code() == concord::errc::not_a_database);
        CHECK_THAT(std::string(e.what()), Catch::Contains(bad.string()) && Catch::Contains("damaged"));
        CHECK(rows(db) == 2001);
    }
    SECTION("by replacing the file") {
        concord::sqlite_database db(live);
        const auto e = concord::test::caught([&] { concord::sqlite_restore_file(db, bad); });
        CHECK(e.code() == concord::errc::not_a_database);
        CHECK_THAT(std::string(e.what()), Catch::Contains(bad.string()) && Catch::Contains("damaged"));
        REQUIRE(db.is_open());
        CHECK(rows(db) == 2001);
        db.close();
        CHECK(concord::test::read_file(live) == before);
    }
    // The intact backup still restores both ways.
    {
        concord::sqlite_database db(live);
        concord::sqlite_restore(db, backup);
        CHECK(rows(db) == 2000);
        db.exec("INSERT INTO t VALUES (1)");
        concord::sqlite_restore_file(db, backup);
        CHECK(rows(db) == 2000);
    }
}

TEST_CASE("backup paths that SQLite would read as a URI or an in-memory database name the files they spell",
          "[review5][sqlite][backup]") {
    concord::test::temp_dir dir;
    cwd_guard here(dir.path());
    concord::sqlite_database other("other.db");  // another database, which "file:other.db" used to overwrite
    fill(other, 3);
    concord::sqlite_database db("live.db");
    fill(db, 1);

    concord::sqlite_backup(db, "file:other.db");
    CHECK(fs::is_regular_file("file:other.db"));
    CHECK(rows(other) == 3);

    concord::sqlite_backup(db, "file:monday.db?mode=memory");  // used to write no file at all
    CHECK(fs::is_regular_file("file:monday.db?mode=memory"));
    concord::sqlite_backup(db, ":memory:");
    CHECK(fs::is_regular_file(":memory:"));

    // Restoring from such a file reads that file, not the one its URI would name.
    fs::copy_file("other.db", "file:three.db");
    concord::sqlite_restore(db, "file:three.db");
    CHECK(rows(db) == 3);
    concord::sqlite_restore_file(db, "file:other.db");  // the backup of the 1-row database
    CHECK(rows(db) == 1);
    concord::sqlite_restore(db, ":memory:");
    CHECK(rows(db) == 1);

    const auto e = concord::test::caught([&] { concord::sqlite_backup(db, ""); });
    CHECK(e.code() == concord::errc::invalid_argument);
}

TEST_CASE("sqlite_restore_file checks a backup whose name has URI characters, leaving nothing beside it",
          "[review5][sqlite][backup]") {
    concord::test::temp_dir dir;
    const auto backup = dir / "mon day%20?#\xC3\xA9.db";  // percent-encoded in the URI that checks it
    {
        concord::sqlite_database b(backup);
        b.exec("PRAGMA journal_mode=WAL");
        fill(b, 2);
    }
    REQUIRE(!fs::exists(backup.string() + "-wal"));
    concord::sqlite_database db(dir / "live.db");
    fill(db, 5);
    concord::sqlite_restore_file(db, backup);
    CHECK(rows(db) == 2);
    CHECK(!fs::exists(backup.string() + "-wal"));
    CHECK(!fs::exists(backup.string() + "-shm"));
}

TEST_CASE("a restore into a database in WAL mode of a backup with another page size says why it fails",
          "[review5][sqlite][backup]") {
    concord::test::temp_dir dir;
    {
        concord::sqlite_database b(dir / "big.db");
        b.exec("PRAGMA page_size=8192");
        fill(b, 1);
    }
    concord::sqlite_database db(dir / "live.db");
    db.exec("PRAGMA journal_mode=WAL");
    fill(db, 5);
    const auto e = concord::test::caught([&] { concord::sqlite_restore(db, dir / "big.db"); });
    CHECK(e.code() == concord::errc::store_failure);
    CHECK_THAT(std::string(e.what()), Catch::Contains("page sizes are 8192 (source) and 4096 (destination)") &&
                                          !Catch::Contains("not an error"));
    CHECK(rows(db) == 5);
    concord::sqlite_restore_file(db, dir / "big.db");  // the other model takes it
    CHECK(rows(db) == 1);
}
