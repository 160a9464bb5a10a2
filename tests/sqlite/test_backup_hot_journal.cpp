// A backup that is a file copy of a database in rollback-journal mode, taken while a transaction
// was writing it, comes with a hot journal ("<backup>-journal"): the file holds pages of that
// transaction, and SQLite rolls them back when it opens the file. sqlite_restore_file copied the
// file alone, so the restored database held the uncommitted rows as if committed (PRAGMA
// quick_check passes); sqlite_restore failed with an unexplained "readonly database". Both now
// refuse such a backup with errc::invalid_argument, naming the journal, before anything is written.
// A journal left by PERSIST mode (header zeroed: not hot) does not stop a restore.

#include <filesystem>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <concord/sqlite/backup.hpp>

#include "sqlite_fixture.hpp"

namespace {
namespace fs = std::filesystem;

/// "<v> <count>;" for each value of t.v, in order of v (what SELECT ... GROUP BY v returns).
std::string values(concord::sqlite_database& db) {
    std::string out;
    auto s = db.statement("SELECT v, count(*) FROM t GROUP BY v ORDER BY v");
    while (s.step()) out += s.column_text(0) + " " + std::to_string(s.column_int64(1)) + ";";
    return out;
}

/// 3000 committed rows "committed"; `backup` (with its journal) copied while a transaction that
/// sets every row to "uncommitted" had written part of its pages to the file (a small page cache
/// spills them), then rolled back.
void copy_mid_transaction(const fs::path& live, const fs::path& backup) {
    concord::sqlite_database src(live);
    src.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, pad BLOB); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
             "SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO t SELECT i, 'committed', randomblob(300) FROM c");
    src.exec("PRAGMA cache_size = 5; BEGIN; UPDATE t SET v = 'uncommitted'");
    auto journal = live;
    journal += "-journal";
    REQUIRE(fs::exists(journal));
    auto backup_journal = backup;
    backup_journal += "-journal";
    fs::copy_file(live, backup);
    fs::copy_file(journal, backup_journal);
    src.exec("ROLLBACK");
}

std::optional<concord::errc> code_of(auto&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    return std::nullopt;
}

} // namespace

TEST_CASE("sqlite_restore_file refuses a backup copied in the middle of a transaction", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    copy_mid_transaction(dir / "src.db", dir / "backup.db");
    concord::sqlite_database db(dir / "live.db");
    db.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, pad BLOB); INSERT INTO t VALUES (1, 'live', x'00')");

    const auto code = code_of([&] { concord::sqlite_restore_file(db, dir / "backup.db"); });
    CHECK(code == std::optional<concord::errc>(concord::errc::invalid_argument));
    REQUIRE(db.is_open());
    // Never rows of a transaction that did not commit: the live database is as it was.
    CHECK(values(db) == "live 1;");
}

TEST_CASE("sqlite_restore refuses a backup copied in the middle of a transaction, with the reason", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    copy_mid_transaction(dir / "src.db", dir / "backup.db");
    concord::sqlite_database db(dir / "live.db");
    db.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, pad BLOB); INSERT INTO t VALUES (1, 'live', x'00')");

    std::string what;
    try {
        concord::sqlite_restore(db, dir / "backup.db");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::invalid_argument);
        what = e.what();
    }
    CHECK(what.find("backup.db-journal") != std::string::npos);
    CHECK(values(db) == "live 1;");
}

TEST_CASE("a backup with a journal left by PERSIST mode is restored", "[sqlite][backup]") {
    concord::test::temp_dir dir;
    {
        concord::sqlite_database src(dir / "src.db");
        src.exec("PRAGMA journal_mode = PERSIST");
        src.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, pad BLOB); INSERT INTO t VALUES (1, 'kept', x'00')");
    }
    REQUIRE(fs::file_size(dir / "src.db-journal") > 0);  // left behind, its header zeroed
    fs::copy_file(dir / "src.db", dir / "backup.db");
    fs::copy_file(dir / "src.db-journal", dir / "backup.db-journal");
    concord::sqlite_database db(dir / "live.db");
    concord::sqlite_restore_file(db, dir / "backup.db");
    CHECK(values(db) == "kept 1;");
    concord::sqlite_database other(dir / "other.db");
    concord::sqlite_restore(other, dir / "backup.db");
    CHECK(values(other) == "kept 1;");
}
