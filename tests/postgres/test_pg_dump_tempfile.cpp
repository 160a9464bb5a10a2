// postgres_dump's temporary file had a predictable name in the backup's directory
// ("<file>.concord-dump-<pid>.tmp"), opened by pg_dump without O_EXCL: anyone who can write to that
// directory (a shared backup folder, /tmp) could plant a symbolic link there, and the dump then
// overwrote the file the link points to, with the dump renamed into place as a link to it.

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include <boost/hana/define_struct.hpp>

#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;
using concord::test::pg_unique_name;

namespace {
struct crate {
    BOOST_HANA_DEFINE_STRUCT(crate, (std::int64_t, id), (std::string, label));
};

struct dump_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / pg_unique_name("dumptmp");
    dump_dir() { std::filesystem::create_directories(path); }
    ~dump_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}
} // namespace

TEST_CASE("postgres_dump does not write through a link planted at its temporary file's name", "[postgres][restore][dump]") {
    pg_fresh_database fresh("dumptmp");
    postgres_database db(fresh.conninfo());
    postgres_store<crate> store(db, "crates");
    store.put({0, "fragile"});

    dump_dir dir;
    const auto victim = dir.path / "victim.txt";
    { std::ofstream(victim) << "not a backup\n"; }
    const auto file = dir.path / "shop.pgdump";
    auto planted = file;
    planted += ".concord-dump-" + std::to_string(::getpid()) + ".tmp";  // the old, predictable name
    std::filesystem::create_symlink(victim, planted);

    postgres_dump(db, file);

    CHECK((read_all(victim) == "not a backup\n"));  // (no expansion: it would print a dump)
    CHECK_FALSE(std::filesystem::is_symlink(file));
    CHECK(read_all(file).rfind("PGDMP", 0) == 0);
    CHECK(std::filesystem::is_symlink(planted));  // someone else's link: neither used nor removed

    SECTION("and the dump restores") {
        store.put({0, "after the dump"});
        postgres_restore(db, file);
        CHECK(store.size() == 1);
    }
}

TEST_CASE("postgres_dump leaves no temporary file behind, also when pg_dump fails", "[postgres][restore][dump]") {
    pg_fresh_database fresh("dumptmp2");
    postgres_database db(fresh.conninfo());
    dump_dir dir;
    postgres_dump(db, dir.path / "ok.pgdump");
    CHECK_THROWS_AS(postgres_dump(db, dir.path / "bad.pgdump", postgres_tools{dir.path / "no-such-bindir"}), store_error);
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
        INFO(e.path().string());
        CHECK(e.path().filename() == "ok.pgdump");
        ++files;
    }
    CHECK(files == 1);
}
