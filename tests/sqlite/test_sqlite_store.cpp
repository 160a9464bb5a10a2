// sqlite_store specifics on real files: column types, mappings onto existing tables, atomic commits,
// the checkpoint's validation, files that are not SQLite, and both restore connection models.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include "../support/lineages.hpp"
#include "sqlite_fixture.hpp"

namespace {

enum class tier : std::uint8_t { basic = 1, gold = 3 };

struct account {
    BOOST_HANA_DEFINE_STRUCT(account, (std::int64_t, id), (std::string, email), (std::int32_t, visits), (double, score),
                             (bool, verified), (tier, level), (std::optional<std::string>, nickname),
                             (std::optional<double>, limit), (std::uint64_t, big));
};

struct no_id {
    BOOST_HANA_DEFINE_STRUCT(no_id, (std::string, name), (std::int64_t, qty));
};

std::string column_decl(concord::sqlite_database& db, const std::string& table, const std::string& column) {
    auto s = db.statement("SELECT upper(type), \"notnull\", pk FROM pragma_table_info(?1) WHERE name = ?2");
    s.bind_text(1, table);
    s.bind_text(2, column);
    if (!s.step()) return "missing";
    return s.column_text(0) + (s.column_int64(1) ? " NOT NULL" : "") + (s.column_int64(2) ? " PK" : "");
}

concord::checkpoint make_cp(std::string lineage, std::uint64_t gen, std::map<std::string, std::uint64_t> cursors = {}) {
    concord::checkpoint cp;
    cp.lineage = std::move(lineage);
    cp.generation = gen;
    cp.cursors = std::move(cursors);
    return cp;
}

} // namespace

using concord::test::temp_dir;

TEST_CASE("sqlite_store: column types follow the member types") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<account> store(db, "accounts");
    CHECK(column_decl(db, "accounts", "id") == "INTEGER PK");
    CHECK(column_decl(db, "accounts", "email") == "TEXT NOT NULL");
    CHECK(column_decl(db, "accounts", "visits") == "INTEGER NOT NULL");
    CHECK(column_decl(db, "accounts", "score") == "REAL NOT NULL");
    CHECK(column_decl(db, "accounts", "verified") == "INTEGER NOT NULL");
    CHECK(column_decl(db, "accounts", "level") == "INTEGER NOT NULL");
    CHECK(column_decl(db, "accounts", "nickname") == "TEXT");
    CHECK(column_decl(db, "accounts", "limit") == "REAL");
    CHECK(column_decl(db, "accounts", "big") == "INTEGER NOT NULL");
}

TEST_CASE("sqlite_store: values round-trip through a reopened file") {
    temp_dir dir;
    const auto path = dir / "app.db";
    account a{0, "ada@example.com", -7, 2.5, true, tier::gold, std::string("ada"), std::nullopt, 0xFFFF'FFFF'FFFF'FFF0ULL};
    account b{0, "", 0, -0.125, false, tier::basic, std::nullopt, 12.75, 0};
    std::int64_t ida = 0, idb = 0;
    {
        concord::sqlite_database db(path);
        concord::sqlite_store<account> store(db, "accounts");
        ida = store.put(a);
        idb = store.put(b);
    }
    concord::sqlite_database db(path);
    concord::sqlite_store<account> store(db, "accounts");
    REQUIRE(store.size() == 2);
    a.id = ida;
    b.id = idb;
    auto ga = store.get(ida);
    auto gb = store.get(idb);
    REQUIRE(ga);
    REQUIRE(gb);
    CHECK(concord::fingerprint(*ga) == concord::fingerprint(a));
    CHECK(concord::fingerprint(*gb) == concord::fingerprint(b));
    CHECK(ga->id == ida);
    CHECK(ga->big == 0xFFFF'FFFF'FFFF'FFF0ULL);
    CHECK(!gb->nickname);
    CHECK(gb->limit == Approx(12.75));
}

TEST_CASE("sqlite_store: an entity without a local id uses the rowid") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    const auto r1 = store.put({"bolt", 3});
    const auto r2 = store.put({"nut", 5});
    CHECK(r1 == 1);
    CHECK(r2 == 2);
    REQUIRE(store.get(r2));
    CHECK(store.get(r2)->name == "nut");
    CHECK(store.erase(r1));
    CHECK(store.scan().size() == 1);
}

TEST_CASE("sqlite_store: a mapping onto a table the host already has") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    db.exec("CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, mail TEXT NOT NULL, visits INTEGER NOT NULL, "
            "score REAL NOT NULL, verified INTEGER NOT NULL, level INTEGER NOT NULL, nickname TEXT, \"limit\" REAL, "
            "big INTEGER NOT NULL, created_by_host TEXT DEFAULT 'host')");
    db.exec("INSERT INTO customer (customer_id, mail, visits, score, verified, level, big) "
            "VALUES (41, 'host@example.com', 2, 1.0, 1, 1, 9)");
    // Designated initialisers may leave members out (every member has a default): no
    // -Wmissing-field-initializers under -Wextra -Werror.
    const concord::sqlite_mapping m{.table = "customer", .columns = {{"id", "customer_id"}, {"email", "mail"}},
                                    .create_table = false};
    concord::sqlite_store<account> store(db, m);
    auto rows = store.scan();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].id == 41);
    CHECK(rows[0].email == "host@example.com");
    CHECK(rows[0].level == tier::basic);
    const auto id = store.put({0, "new@example.com", 1, 0.0, false, tier::gold, std::nullopt, std::nullopt, 1});
    CHECK(id == 42);
    auto s = db.statement("SELECT created_by_host FROM customer WHERE customer_id = 42");
    REQUIRE(s.step());
    CHECK(s.column_text(0) == "host");

    SECTION("a missing column is named") {
        concord::sqlite_mapping bad = m;
        bad.columns.erase("email");
        try {
            concord::sqlite_store<account> other(db, bad);
            FAIL("expected an error");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(std::string(e.what()).find("no column 'email' for member 'email'") != std::string::npos);
        }
    }
    SECTION("a missing table is refused, not created") {
        concord::sqlite_mapping bad = m;
        bad.table = "nope";
        CHECK_THROWS_AS(concord::sqlite_store<account>(db, bad), concord::error);
        auto q = db.statement("SELECT count(*) FROM sqlite_schema WHERE name = 'nope'");
        REQUIRE(q.step());
        CHECK(q.column_int64(0) == 0);
    }
    SECTION("a mapping naming an unknown member is refused") {
        concord::sqlite_mapping bad = m;
        bad.columns["mail"] = "mail";
        CHECK_THROWS_AS(concord::sqlite_store<account>(db, bad), concord::error);
    }
    SECTION("values of the wrong type in the host's table are reported with the column") {
        db.exec("UPDATE customer SET visits = 'many' WHERE customer_id = 41");
        try {
            (void)store.scan();
            FAIL("expected an error");
        } catch (const concord::store_error& e) {
            CHECK(std::string(e.what()).find("column 'visits'") != std::string::npos);
        }
    }
}

TEST_CASE("sqlite_store: commit is one transaction, rolled back on failure at any point") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"kept", 1});
    concord::change_batch<no_id> first;
    first.link_upserts.push_back({concord::key128{1, 2}, "r1", 1});
    first.new_checkpoint = make_cp(concord::test::lineage_id('a'), 1, {{"x/items", 5}});
    store.commit(first);

    const char* point = GENERATE("entities written", "links written", "checkpoint written");
    concord::change_batch<no_id> b;
    b.upserts.push_back({"new", 2});
    b.removals.push_back(1);
    b.link_upserts.push_back({concord::key128{3, 4}, "r2", 2});
    b.link_removals.push_back(concord::key128{1, 2});
    b.new_checkpoint = make_cp(concord::test::lineage_id('a'), 2, {{"x/items", 9}});
    store.set_commit_hook([&](std::string_view at) {
        if (at == point) throw std::runtime_error("crash");
    });
    CHECK_THROWS_AS(store.commit(b), std::runtime_error);
    CHECK(store.size() == 1);
    CHECK(store.scan()[0].name == "kept");
    REQUIRE(store.links().size() == 1);
    CHECK(store.links()[0].remote_id == "r1");
    REQUIRE(store.load_checkpoint());
    CHECK(*store.load_checkpoint() == make_cp(concord::test::lineage_id('a'), 1, {{"x/items", 5}}));
    CHECK(sqlite3_get_autocommit(db.handle()) == 1);

    store.set_commit_hook({});
    store.commit(b);
    CHECK(store.scan().size() == 1);
    CHECK(store.scan()[0].name == "new");
    CHECK(*store.load_checkpoint() == make_cp(concord::test::lineage_id('a'), 2, {{"x/items", 9}}));
}

TEST_CASE("sqlite_transaction does not nest: a store commit inside a host transaction is refused, nothing lost") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"kept", 1});
    concord::sqlite_transaction host(db);
    store.put({"host row", 7});  // written inside the host's transaction
    concord::change_batch<no_id> b;
    b.upserts.push_back({"from concord", 2});
    try {
        store.commit(b);
        FAIL("expected invalid_argument");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::invalid_argument);
        CHECK(std::string(e.what()).find("does not nest") != std::string::npos);
    }
    CHECK_THROWS_AS(concord::sqlite_transaction(db), concord::store_error);
    // The host's transaction is still open and its row still there: the refusal touched nothing.
    CHECK(sqlite3_get_autocommit(db.handle()) == 0);
    host.commit();
    CHECK(store.size() == 2);
    store.commit(b);  // outside any transaction it goes through
    CHECK(store.size() == 3);
}

TEST_CASE("sqlite_database: two live borrows of one SQL text step independently") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    db.exec("CREATE TABLE n (v INTEGER)");
    db.exec("INSERT INTO n VALUES (1), (2), (3)");
    const std::string sql = "SELECT v FROM n WHERE v >= ?1 ORDER BY v";
    const std::size_t cached_before = db.cached_statements();
    std::string seen;
    {
        auto outer = db.statement(sql);
        outer.bind_int64(1, 1);
        while (outer.step()) {
            auto inner = db.statement(sql);  // the same text while `outer` is mid-way
            inner.bind_int64(1, outer.column_int64(0));
            seen += std::to_string(outer.column_int64(0)) + ":";
            while (inner.step()) seen += std::to_string(inner.column_int64(0));
            seen += ' ';
        }
    }
    CHECK(seen == "1:123 2:23 3:3 ");
    CHECK(db.cached_statements() == cached_before + 1);  // the inner borrows' statements were their own
    auto again = db.statement(sql);      // the cached one is free again, reset and unbound
    again.bind_int64(1, 3);
    REQUIRE(again.step());
    CHECK(again.column_int64(0) == 3);
    CHECK_FALSE(again.step());
}

TEST_CASE("sqlite_store: a checkpoint edited by hand is refused with checkpoint_corrupt") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    concord::change_batch<no_id> b;
    b.new_checkpoint = make_cp("0123456789abcdef0123456789abcdef", 5, {{"pay/plan", 77}});
    store.commit(b);
    REQUIRE(store.load_checkpoint() == b.new_checkpoint);

    const char* edit = GENERATE("UPDATE concord_checkpoint SET generation = 3",
                                "UPDATE concord_checkpoint SET lineage = 'ffffffffffffffffffffffffffffffff'",
                                "UPDATE concord_checkpoint SET cursors = ''",
                                "UPDATE concord_checkpoint SET checksum = 'zz'",
                                "UPDATE concord_checkpoint SET generation = 5.5",
                                "UPDATE concord_checkpoint SET format = 'v0'");
    db.exec(edit);
    const auto before = concord::test::read_file(db.path());
    try {
        (void)store.load_checkpoint();
        FAIL("expected checkpoint_corrupt after: " << edit);
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::checkpoint_corrupt);
    }
    CHECK(concord::test::read_file(db.path()) == before);
}

TEST_CASE("sqlite_store: a checkpoint whose lineage is not a lineage id is refused before anything is written") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"kept", 1});
    concord::change_batch<no_id> first;
    first.link_upserts.push_back({concord::key128{1, 2}, "r1", 1});
    first.new_checkpoint = make_cp(concord::test::lineage_id('a'), 1, {{"x/items", 5}});
    store.commit(first);
    const auto before = concord::test::read_file(db.path());

    std::vector<std::string> bad = concord::test::bad_lineages();
    bad.push_back("");  // refused before too, now for the same reason
    for (const auto& lineage : bad) {
        INFO("lineage '" << lineage << "'");
        concord::change_batch<no_id> b;
        b.upserts.push_back({"new", 2});
        b.removals.push_back(1);
        b.link_upserts.push_back({concord::key128{3, 4}, "r2", 2});
        b.link_removals.push_back(concord::key128{1, 2});
        b.new_checkpoint = make_cp(lineage, 2, {{"x/items", 9}});
        bool refused = false;
        try {
            store.commit(b);
        } catch (const concord::error& e) {
            refused = true;
            CHECK(e.code() == concord::errc::invalid_argument);
            const std::string what = e.what();
            CHECK(what.find("\"" + lineage + "\"") != std::string::npos);
            CHECK(what.find("table 'items'") != std::string::npos);
        }
        CHECK(refused);
        CHECK(store.commits() == 1);
        CHECK(sqlite3_get_autocommit(db.handle()) == 1);       // no transaction left open
        CHECK(concord::test::read_file(db.path()) == before);  // not a byte written
        CHECK(store.load_checkpoint() == first.new_checkpoint);
    }
}

TEST_CASE("sqlite_store: a refused lineage is named escaped and shortened, and a fresh database gets no checkpoint") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    const std::string lineage = "lin\n\x1b[31mforged line " + std::string(100, 'x');
    concord::change_batch<no_id> b;
    b.upserts.push_back({"new", 2});
    b.new_checkpoint = make_cp(lineage, 1);
    bool refused = false;
    try {
        store.commit(b);
    } catch (const concord::error& e) {
        refused = true;
        CHECK(e.code() == concord::errc::invalid_argument);
        const std::string what = e.what();
        CHECK(what.find("\"lin\\n\\u001b[31mforged line xxx") != std::string::npos);  // quoted and escaped
        CHECK(what.find('\n') == std::string::npos);
        CHECK(what.find('\x1b') == std::string::npos);
        CHECK(what.find(std::string(50, 'x')) == std::string::npos);                                 // shortened,
        CHECK(what.find("(" + std::to_string(lineage.size()) + " bytes)") != std::string::npos);  // saying so
    }
    CHECK(refused);
    CHECK(store.size() == 0);
    CHECK(!store.load_checkpoint());
}

TEST_CASE("sqlite_store: an older database's lineage that is not a lineage id is checkpoint_corrupt and kept") {
    // A database written before stores refused such lineages: the row is what concord wrote then,
    // checksum included. Reading it is refused before a session writes anything, and the row stays.
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"kept", 1});
    concord::change_batch<no_id> b;
    b.new_checkpoint = make_cp(concord::test::lineage_id('a'), 3, {{"x/items", 5}});
    store.commit(b);
    const std::string old_lineage = GENERATE(std::string("lin"), std::string("0123456789ABCDEF0123456789ABCDEF"),
                                             std::string("0123456789abcdef0123456789abcde"));
    {
        auto s = db.statement("UPDATE concord_checkpoint SET lineage = ?1, checksum = ?2");
        s.bind_text(1, old_lineage);
        s.bind_text(2, concord::detail::checkpoint_checksum(old_lineage, 3, concord::detail::format_cursors({{"x/items", 5}})).hex());
        s.run();
    }
    const auto before = concord::test::read_file(db.path());
    try {
        (void)store.load_checkpoint();
        FAIL("an older database's lineage '" << old_lineage << "' was read as a checkpoint");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::checkpoint_corrupt);
        CHECK(std::string(e.what()).find("\"" + old_lineage + "\"") != std::string::npos);
    }
    concord::memory_witness w;
    CHECK_THROWS_AS(concord::begin_session(w, store), concord::store_error);
    CHECK(w.saves() == 0);
    CHECK(concord::test::read_file(db.path()) == before);
    auto s = db.statement("SELECT lineage, generation FROM concord_checkpoint");
    REQUIRE(s.step());
    CHECK(s.column_text(0) == old_lineage);  // kept as it was: nothing lost
    CHECK(s.column_int64(1) == 3);
    CHECK(store.size() == 1);
}

TEST_CASE("sqlite_database: a file that is not SQLite is refused and left untouched") {
    temp_dir dir;
    const auto path = dir / "notes.txt";
    const std::string content = GENERATE(std::string("hello, this is a text file and not a database at all\n"),
                                         std::string("SQLite"),  // truncated header
                                         std::string("SQLite format 3") + std::string(1, '\0') + std::string(200, 'x'));
    concord::test::write_file(path, content);
    try {
        concord::sqlite_database db(path);
        FAIL("expected not_a_database");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::not_a_database);
    }
    CHECK(concord::test::read_file(path) == content);
    CHECK(!std::filesystem::exists(dir / "notes.txt-journal"));
}

TEST_CASE("sqlite_backup / sqlite_restore: both connection models rewind data, links and checkpoint") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"a", 1});
    concord::change_batch<no_id> b;
    b.link_upserts.push_back({concord::key128{0, 1}, "r1", 1});
    b.new_checkpoint = make_cp(concord::test::lineage_id('1'), 1, {{"c", 10}});
    store.commit(b);
    concord::sqlite_backup(db, dir / "backup-1.db");

    store.put({"b", 2});
    concord::change_batch<no_id> b2;
    b2.link_upserts.push_back({concord::key128{0, 2}, "r2", 2});
    b2.new_checkpoint = make_cp(concord::test::lineage_id('1'), 2, {{"c", 20}});
    store.commit(b2);
    REQUIRE(store.size() == 2);

    const bool in_place = GENERATE(true, false);
    if (in_place) concord::sqlite_restore(db, dir / "backup-1.db");
    else concord::sqlite_restore_file(db, dir / "backup-1.db");
    CHECK(store.size() == 1);
    CHECK(store.links().size() == 1);
    CHECK(*store.load_checkpoint() == make_cp(concord::test::lineage_id('1'), 1, {{"c", 10}}));

    SECTION("restoring a file that is not a database writes nothing") {
        concord::test::write_file(dir / "junk.db", "definitely not sqlite, but long enough to have a header");
        const auto before = concord::test::read_file(db.path());
        CHECK_THROWS_AS(concord::sqlite_restore(db, dir / "junk.db"), concord::error);
        CHECK_THROWS_AS(concord::sqlite_restore_file(db, dir / "junk.db"), concord::error);
        CHECK(concord::test::read_file(db.path()) == before);
        CHECK(store.size() == 1);
    }
}

TEST_CASE("sqlite_store: a restore to before the store existed re-creates its tables") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    db.exec("CREATE TABLE host_only (x INTEGER)");
    concord::sqlite_backup(db, dir / "empty.db");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"a", 1});
    concord::sqlite_restore(db, dir / "empty.db");
    CHECK(store.size() == 0);
    CHECK(!store.load_checkpoint());
    CHECK(store.put({"b", 1}) == 1);
}

TEST_CASE("sqlite restores in WAL mode: both models rewind, a log the file does not hold is refused") {
    temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    db.exec("PRAGMA journal_mode=WAL");
    concord::sqlite_store<no_id> store(db, "items");
    store.put({"a", 1});
    concord::sqlite_backup(db, dir / "backup-1.db");
    store.put({"b", 2});
    REQUIRE(store.size() == 2);
    auto wal_of = [](std::filesystem::path p) { return p += "-wal"; };
    REQUIRE(std::filesystem::exists(wal_of(db.path())));  // recent commits live in the log

    SECTION("restored in place or by file, the log's commits do not come back") {
        const bool in_place = GENERATE(true, false);
        if (in_place) concord::sqlite_restore(db, dir / "backup-1.db");
        else concord::sqlite_restore_file(db, dir / "backup-1.db");
        CHECK(store.size() == 1);
        db.reopen();
        CHECK(store.size() == 1);
    }
    SECTION("another connection holds the log: the file is not replaced, the connection still works") {
        sqlite3* other = nullptr;
        REQUIRE(sqlite3_open(db.path().c_str(), &other) == SQLITE_OK);
        REQUIRE(sqlite3_exec(other, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) == SQLITE_OK);
        const auto file_before = concord::test::read_file(db.path());
        try {
            concord::sqlite_restore_file(db, dir / "backup-1.db");
            FAIL("a database whose log another connection holds was replaced");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::store_failure);
            CHECK(std::string(e.what()).find("write-ahead log") != std::string::npos);
        }
        sqlite3_close(other);
        CHECK(concord::test::read_file(db.path()) == file_before);
        CHECK(store.size() == 2);
        store.put({"c", 3});
        CHECK(store.size() == 3);
    }
    SECTION("a backup with a log of its own is refused by file; restored in place it is read whole") {
        concord::sqlite_database src(dir / "live-copy.db");
        src.exec("PRAGMA journal_mode=WAL");
        concord::sqlite_store<no_id> src_store(src, "items");
        src_store.put({"x", 1});
        src_store.put({"y", 2});
        src_store.put({"z", 3});
        REQUIRE(std::filesystem::file_size(wal_of(src.path())) > 0);  // src stays open: its log stays
        try {
            concord::sqlite_restore_file(db, src.path());
            FAIL("a backup whose log holds commits was restored from its file alone");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
        }
        CHECK(store.size() == 2);
        concord::sqlite_restore(db, src.path());
        CHECK(store.size() == 3);
    }
}
