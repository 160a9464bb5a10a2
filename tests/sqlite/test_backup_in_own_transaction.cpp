// sqlite_backup() called while the host's own connection is inside a write transaction: SQLite's
// backup API cannot read a source its own connection is writing (SQLITE_LOCKED at every step), so
// the backup used to retry for the whole busy timeout (5 s) and then blame "another connection".
// It is now refused at once with errc::invalid_argument naming the open transaction, and the
// destination is not created.

#include <chrono>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include <concord/sqlite/backup.hpp>

#include "sqlite_fixture.hpp"

namespace {

concord::errc code_of_backup(concord::sqlite_database& db, const std::filesystem::path& dest, std::string& what) {
    try {
        concord::sqlite_backup(db, dest);
    } catch (const concord::error& e) {
        what = e.what();
        return e.code();
    }
    what.clear();
    return concord::errc::store_failure;  // no error at all: never what these cases expect
}

} // namespace

TEST_CASE("sqlite_backup inside the connection's own write transaction is refused at once", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    concord::sqlite_database db(dir / "live.db");
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    db.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (2)");

    std::string what;
    const auto start = std::chrono::steady_clock::now();
    const auto code = code_of_backup(db, dir / "copy.db", what);
    const auto waited = std::chrono::steady_clock::now() - start;

    CHECK(code == concord::errc::invalid_argument);
    CHECK(waited < std::chrono::seconds(1));  // not the busy timeout
    CHECK(what.find("transaction") != std::string::npos);
    CHECK(what.find("another connection") == std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "copy.db"));

    // After the host commits, the same backup works and holds the committed rows.
    db.exec("COMMIT");
    concord::sqlite_backup(db, dir / "copy.db");
    concord::sqlite_database copy(dir / "copy.db");
    auto s = copy.statement("SELECT count(*) FROM t");
    REQUIRE(s.step());
    CHECK(s.column_int64(0) == 2);
}

TEST_CASE("sqlite_backup inside the connection's own read transaction still copies", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    concord::sqlite_database db(dir / "live.db");
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    db.exec("BEGIN; SELECT count(*) FROM t");
    concord::sqlite_backup(db, dir / "copy.db");
    db.exec("COMMIT");
    concord::sqlite_database copy(dir / "copy.db");
    auto s = copy.statement("SELECT count(*) FROM t");
    REQUIRE(s.step());
    CHECK(s.column_int64(0) == 1);
}

TEST_CASE("sqlite_restore inside the connection's own transaction is refused and drops nothing", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    concord::sqlite_database db(dir / "live.db");
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    concord::sqlite_backup(db, dir / "backup.db");
    db.exec("INSERT INTO t VALUES (2)");

    auto borrowed = db.statement("SELECT count(*) FROM t");
    const auto epoch = db.epoch();
    db.exec("BEGIN; INSERT INTO t VALUES (3)");
    concord::errc code = concord::errc::store_failure;
    bool threw = false;
    try {
        concord::sqlite_restore(db, dir / "backup.db");
    } catch (const concord::error& e) {
        threw = true;
        code = e.code();
    }
    CHECK(threw);
    CHECK(code == concord::errc::invalid_argument);
    CHECK(db.epoch() == epoch);  // nothing was replaced: stores need not re-check their tables
    // The host's statement is still its own, inside its own transaction.
    bool row = false;
    long long n = -1;
    try {
        row = borrowed.step();
        n = borrowed.column_int64(0);
    } catch (const concord::error&) {
    }
    CHECK(row);
    CHECK(n == 3);
}
