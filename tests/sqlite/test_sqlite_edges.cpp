// SQLite adapter edge cases found by an audit, each once a silent data change, a hang or a crash:
// NaN members, restores under another connection or a held lock, failed restores, a locked file
// at open, host tables whose id is not the rowid, and statement borrows that outlive the cache.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <future>
#include <limits>
#include <optional>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include "../support/lineages.hpp"
#include "sqlite_fixture.hpp"

namespace {

struct reading {
    BOOST_HANA_DEFINE_STRUCT(reading, (std::int64_t, id), (double, value), (std::optional<double>, limit));
};

struct named {
    BOOST_HANA_DEFINE_STRUCT(named, (std::int64_t, id), (std::string, name));
};

/// Another connection of the host (a reader thread, a second process): a raw handle, closed at
/// scope exit.
struct other_connection {
    sqlite3* h = nullptr;
    explicit other_connection(const std::filesystem::path& p) { REQUIRE(sqlite3_open(p.c_str(), &h) == SQLITE_OK); }
    other_connection(const other_connection&) = delete;
    other_connection& operator=(const other_connection&) = delete;
    ~other_connection() { sqlite3_close_v2(h); }
    int exec(const char* sql) { return sqlite3_exec(h, sql, nullptr, nullptr, nullptr); }
};

std::string message_of(const std::exception& e) { return e.what(); }

/// Runs `f` on another thread; if it has not returned after `limit` (the bug: it would retry for
/// ever), fails the test, calls `unblock` so it can finish, then waits for it. Returns the exception
/// `f` threw, if any.
template <class F, class U>
std::exception_ptr bounded(F f, U unblock, std::chrono::seconds limit = std::chrono::seconds(20)) {
    auto fut = std::async(std::launch::async, [&]() -> std::exception_ptr {
        try {
            f();
            return nullptr;
        } catch (...) {
            return std::current_exception();
        }
    });
    if (fut.wait_for(limit) != std::future_status::ready) {
        FAIL_CHECK("still retrying after " << limit.count() << " s: the wait is not bounded");
        unblock();
    }
    return fut.get();
}

} // namespace

using concord::test::temp_dir;

// ------------------------------------------------------------------------------------------ NaN

TEST_CASE("sqlite_store: a NaN member is refused before anything is written, infinities round-trip") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<reading> store(db, "readings");
    const double nan = std::numeric_limits<double>::quiet_NaN();

    SECTION("put: an optional NaN would read back as nullopt") {
        try {
            store.put({0, 1.5, nan});
            FAIL("a NaN was stored");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(message_of(e).find("member 'limit'") != std::string::npos);
            CHECK(message_of(e).find("table 'readings'") != std::string::npos);
            CHECK(message_of(e).find("NaN") != std::string::npos);
        }
        CHECK_THROWS_AS(store.put({0, nan, 2.0}), concord::error);
        CHECK(store.size() == 0);
    }
    SECTION("commit: the whole batch is refused, the checkpoint does not move") {
        concord::change_batch<reading> b;
        b.upserts.push_back({0, 1.0, std::nullopt});  // a good row first: it must not be written either
        b.upserts.push_back({0, nan, 2.0});
        concord::checkpoint cp;
        cp.lineage = concord::test::lineage_id('1');
        cp.generation = 1;
        b.new_checkpoint = cp;
        try {
            store.commit(b);
            FAIL("a batch with a NaN was committed");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(message_of(e).find("member 'value'") != std::string::npos);
        }
        CHECK(store.size() == 0);
        CHECK(!store.load_checkpoint());
        CHECK(sqlite3_get_autocommit(db.handle()) == 1);
    }
    SECTION("infinities are values SQLite keeps") {
        const double inf = std::numeric_limits<double>::infinity();
        const auto id = store.put({0, inf, -inf});
        const auto got = store.get(id);
        REQUIRE(got);
        CHECK(got->value == inf);
        REQUIRE(got->limit);
        CHECK(*got->limit == -inf);
    }
}

// ------------------------------------------------------------------- restore under a connection

TEST_CASE("sqlite_restore_file: another connection is seen even when the log is empty, nothing is replaced") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    const bool wal = GENERATE(true, false);
    if (wal) db.exec("PRAGMA journal_mode=WAL");
    concord::sqlite_store<named> store(db, "t");
    store.put({0, "a"});
    concord::sqlite_backup(db, dir / "backup.db");
    store.put({0, "b"});
    sqlite3_busy_timeout(db.handle(), 50);  // the lock probe waits this long

    other_connection other(db.path());
    if (wal) {
        // An idle reader, and a checkpoint that leaves its log at 0 bytes: the old check's blind spot.
        REQUIRE(other.exec("SELECT count(*) FROM t") == SQLITE_OK);
        REQUIRE(sqlite3_wal_checkpoint_v2(db.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) == SQLITE_OK);
        auto log = db.path();
        log += "-wal";
        REQUIRE(std::filesystem::file_size(log) == 0);
    } else {
        REQUIRE(other.exec("BEGIN; SELECT count(*) FROM t") == SQLITE_OK);  // a read transaction
    }
    const auto file_before = concord::test::read_file(db.path());
    try {
        concord::sqlite_restore_file(db, dir / "backup.db");
        FAIL("the file was replaced while another connection had it open");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::store_failure);
        CHECK(message_of(e).find("close the other connections") != std::string::npos);
    }
    CHECK(db.is_open());
    CHECK(concord::test::read_file(db.path()) == file_before);
    if (!wal) REQUIRE(other.exec("COMMIT") == SQLITE_OK);
    // The other connection's writes land in this database, not on top of a restored one.
    REQUIRE(other.exec("INSERT INTO t (name) VALUES ('from other')") == SQLITE_OK);
    CHECK(store.size() == 3);
    sqlite3_close_v2(other.h);
    other.h = nullptr;
    concord::sqlite_restore_file(db, dir / "backup.db");  // alone now: it goes through
    CHECK(store.size() == 1);
    db.reopen();
    CHECK(store.size() == 1);
}

// ----------------------------------------------------------------------- failed restore_file

TEST_CASE("sqlite_restore_file: a failed restore leaves the connection open and the file as it was") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<named> store(db, "t");
    store.put({0, "a"});
    concord::sqlite_backup(db, dir / "backup.db");
    store.put({0, "b"});
    auto tmp = db.path();
    tmp += ".concord-restore.tmp";

    SECTION("the copy fails: the copy's path is taken by a directory") {
        std::filesystem::create_directories(tmp / "x");
        try {
            concord::sqlite_restore_file(db, dir / "backup.db");
            FAIL("expected the copy to fail");
        } catch (const concord::store_error& e) {
            CHECK(e.code() == concord::errc::store_failure);
            CHECK(message_of(e).find("cannot copy") != std::string::npos);
        }
        CHECK(db.is_open());
        CHECK(store.size() == 2);
        CHECK(std::filesystem::exists(tmp / "x"));  // not concord's to remove
        store.put({0, "c"});
        CHECK(store.size() == 3);
    }
    SECTION("the reopen fails too: the original cause is kept, nested, and named in the message") {
        other_connection other(db.path());
        REQUIRE(other.exec("BEGIN EXCLUSIVE") == SQLITE_OK);  // held through the restore and the reopen
        sqlite3_busy_timeout(db.handle(), 50);
        try {
            concord::sqlite_restore_file(db, dir / "backup.db");
            FAIL("expected the restore to be refused");
        } catch (const concord::store_error& e) {
            CHECK(e.code() == concord::errc::store_failure);
            CHECK(message_of(e).find("another connection holds a lock") != std::string::npos);
            CHECK(message_of(e).find("reopening") != std::string::npos);
            try {
                std::rethrow_if_nested(e);
                FAIL("the restore's own error is not nested");
            } catch (const concord::error& cause) {
                CHECK(message_of(cause).find("another connection holds a lock") != std::string::npos);
            }
        }
        CHECK(!db.is_open());
        CHECK(!std::filesystem::exists(tmp));
        REQUIRE(other.exec("COMMIT") == SQLITE_OK);
        db.reopen();
        CHECK(store.size() == 2);
    }
}

// --------------------------------------------------------------------------- busy databases

TEST_CASE("sqlite_backup / sqlite_restore: a lock held by another connection is waited for, then refused") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<named> store(db, "t");
    store.put({0, "a"});
    concord::sqlite_backup(db, dir / "backup.db");
    store.put({0, "b"});
    sqlite3_busy_timeout(db.handle(), 200);
    other_connection other(db.path());

    const bool restore = GENERATE(true, false);
    // A restore needs the write lock a reader blocks; a backup needs the read lock a writer blocks.
    REQUIRE(other.exec(restore ? "BEGIN; SELECT count(*) FROM t" : "BEGIN EXCLUSIVE") == SQLITE_OK);
    const auto t0 = std::chrono::steady_clock::now();
    const auto failure = bounded(
        [&] {
            if (restore) concord::sqlite_restore(db, dir / "backup.db");
            else concord::sqlite_backup(db, dir / "backup-2.db");
        },
        [&] { other.exec("COMMIT"); });
    const auto waited = std::chrono::steady_clock::now() - t0;
    REQUIRE(failure);
    try {
        std::rethrow_exception(failure);
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::store_failure);
        CHECK(message_of(e).find("busy") != std::string::npos);
    }
    CHECK(waited >= std::chrono::milliseconds(150));
    CHECK(waited < std::chrono::seconds(5));
    REQUIRE(other.exec("COMMIT") == SQLITE_OK);
    CHECK(store.size() == 2);
    concord::sqlite_restore(db, dir / "backup.db");  // the lock is gone: it goes through
    CHECK(store.size() == 1);
}

TEST_CASE("sqlite_backup / sqlite_restore: the database itself as the other file is refused") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<named> store(db, "t");
    store.put({0, "a"});
    std::filesystem::create_symlink(db.path(), dir / "link.db");
    const std::string other_name = GENERATE("app.db", "link.db");
    const auto other = dir / other_name;
    for (int which = 0; which < 3; ++which) {
        try {
            if (which == 0) concord::sqlite_backup(db, other);
            else if (which == 1) concord::sqlite_restore(db, other);
            else concord::sqlite_restore_file(db, other);
            FAIL("the database was copied onto itself (" << which << ")");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(message_of(e).find("itself") != std::string::npos);
        }
    }
    CHECK(db.is_open());
    CHECK(store.size() == 1);
}

// ------------------------------------------------------------------------- locked at open

TEST_CASE("sqlite_database: a file locked by another connection is store_failure, not not_a_database") {
    temp_dir dir;
    const auto path = dir / "app.db";
    {
        concord::sqlite_database db(path);
        db.exec("CREATE TABLE t (x)");
    }
    other_connection other(path);
    REQUIRE(other.exec("BEGIN EXCLUSIVE") == SQLITE_OK);
    try {
        concord::sqlite_database db(path);  // waits out the 5 s busy timeout
        FAIL("opened a database another connection holds exclusively");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::store_failure);
        CHECK(message_of(e).find("locked") != std::string::npos);
    }
    REQUIRE(other.exec("COMMIT") == SQLITE_OK);
    concord::sqlite_database db(path);
    CHECK(db.is_open());
}

// ------------------------------------------------------------------------ host tables' ids

TEST_CASE("sqlite_mapping: the local id column must be the rowid, names match case-insensitively") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_mapping m;
    m.table = "t";
    m.create_table = false;

    SECTION("a primary key that is not the rowid is refused, naming the table") {
        const char* ddl = GENERATE("CREATE TABLE t (id INTEGER, name TEXT, PRIMARY KEY (id, name))",
                                   "CREATE TABLE t (id INTEGER PRIMARY KEY DESC, name TEXT)",
                                   "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT) WITHOUT ROWID",
                                   "CREATE TABLE t (id INT PRIMARY KEY, name TEXT)");
        db.exec(ddl);
        try {
            concord::sqlite_store<named> store(db, m);
            FAIL("accepted: " << ddl);
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(message_of(e).find("table 't'") != std::string::npos);
            CHECK(message_of(e).find("rowid") != std::string::npos);
        }
    }
    SECTION("rowid aliases in other spellings and other letter cases are accepted and work") {
        const char* ddl = GENERATE("CREATE TABLE t (ID INTEGER PRIMARY KEY, Name TEXT NOT NULL)",
                                   "CREATE TABLE t (id integer, name TEXT NOT NULL, PRIMARY KEY (id DESC))");
        db.exec(ddl);
        concord::sqlite_store<named> store(db, m);
        const auto a = store.put({0, "a"});
        const auto b = store.put({0, "b"});
        CHECK(a == 1);
        CHECK(b == 2);
        store.put({a, "a2"});
        const auto rows = store.scan();
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].id == 1);
        CHECK(rows[0].name == "a2");
        CHECK(rows[1].id == 2);
    }
}

// -------------------------------------------------------------------- borrowed statements

TEST_CASE("sqlite_database: a borrow kept across close, reopen or a restore is safe and refuses to step") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    db.exec("CREATE TABLE n (v INTEGER)");
    db.exec("INSERT INTO n VALUES (1), (2)");
    concord::sqlite_backup(db, dir / "backup.db");
    const std::string sql = "SELECT v FROM n ORDER BY v";
    const char* event = GENERATE("close", "reopen", "contents_replaced", "sqlite_restore", "sqlite_restore_file");
    {
        auto cached = db.statement(sql);
        auto own = db.statement(sql);  // the cached one is lent: a statement of its own
        REQUIRE(cached.step());        // both mid-way, holding a read transaction
        REQUIRE(own.step());
        const std::string e = event;
        if (e == "close") db.close();
        else if (e == "reopen") db.reopen();
        else if (e == "contents_replaced") db.contents_replaced();
        else if (e == "sqlite_restore") concord::sqlite_restore(db, dir / "backup.db");
        else concord::sqlite_restore_file(db, dir / "backup.db");
        CHECK_THROWS_AS(cached.step(), concord::store_error);
        CHECK_THROWS_AS(own.bind_int64(1, 1), concord::store_error);
        if (e == "close") db.reopen();
    }  // the borrows end here, after the cache that lent them was dropped
    auto again = db.statement(sql);
    REQUIRE(again.step());
    CHECK(again.column_int64(0) == 1);
}
