// Fifth review, pg_dump / pg_restore: a failed dump destroyed the earlier backup of the same name
// (pg_dump truncates its output file before it connects), a file that is not a pg_dump archive was
// found out only after a new database had been made for it, and a relative backup name starting with
// '-' reached pg_restore as an option.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;
using concord::test::pg_unique_name;

namespace {
struct parcel {
    BOOST_HANA_DEFINE_STRUCT(parcel, (std::int64_t, id), (std::string, code));
};

struct scratch_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / pg_unique_name("r5dir");
    scratch_dir() { std::filesystem::create_directories(path); }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }
};

std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}
} // namespace

TEST_CASE("a pg_dump that fails leaves the earlier backup of that name as it was", "[postgres][restore][review5]") {
    scratch_dir bin, out;
    {  // pg_dump as it behaves when the server cannot be reached: its output file truncated, then exit 1
        std::ofstream script(bin.path / "pg_dump");
        script << "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --file=*) : > \"${a#--file=}\";; esac; done\n"
                  "echo 'stand-in: connection refused' >&2\nexit 1\n";
    }
    std::filesystem::permissions(bin.path / "pg_dump", std::filesystem::perms::owner_all);
    pg_fresh_database fresh("r5dump");
    postgres_database db(fresh.conninfo());
    const auto file = out.path / "monday.pgdump";
    std::ofstream(file) << "GOOD OLD BACKUP";
    try {
        postgres_dump(db, file, postgres_tools{bin.path});
        FAIL("the stand-in pg_dump failed, the dump did not");
    } catch (const store_error& e) {
        CHECK(std::string(e.what()).find("connection refused") != std::string::npos);
    }
    CHECK(read_all(file) == "GOOD OLD BACKUP");
    CHECK(out.names() == std::vector<std::string>{"monday.pgdump"});  // no temporary file left beside it

    // The real pg_dump replaces it, and the result restores.
    postgres_store<parcel> s(db, "parcels");
    s.put({0, "P-1"});
    postgres_dump(db, file);
    CHECK(read_all(file).rfind("PGDMP", 0) == 0);
    CHECK(out.names() == std::vector<std::string>{"monday.pgdump"});
    s.put({0, "P-2"});
    postgres_restore(db, file);
    CHECK(s.size() == 1);
}

TEST_CASE("postgres_restore refuses a file that is not a pg_dump archive before touching the server",
          "[postgres][restore][review5]") {
    scratch_dir out;
    pg_fresh_database fresh("r5notdump");
    postgres_database db(fresh.conninfo());
    postgres_store<parcel> s(db, "parcels");
    s.put({0, "P-1"});
    const std::string content = GENERATE(std::string("not a dump at all"), std::string(""), std::string("PGDM"),
                                         std::string("-- PostgreSQL database dump\nCREATE TABLE t (x int);\n"));
    INFO(content);
    const auto file = out.path / "plain.sql";
    std::ofstream(file) << content;
    try {
        postgres_restore(db, file);
        FAIL("restored from a file that is not a pg_dump archive");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::not_a_database);
        CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
    }
    CHECK(db.connected());  // never taken offline
    CHECK(s.size() == 1);
    CHECK(db.exec("SELECT count(*) FROM pg_database WHERE datname LIKE $1", {fresh.name() + "%"}).get(0, 0) ==
          std::optional<std::string_view>("1"));  // no incoming database was made for it
}

TEST_CASE("pg_restore is given a backup name that starts with '-' as a file, not an option", "[postgres][restore][review5]") {
    const detail::pg_tool_login login("host=127.0.0.1 dbname=x", "x");
    const auto args = detail::pg_restore_args({}, "-monday.pgdump", login);
    REQUIRE(args.size() >= 2);
    CHECK(args.back() == "-monday.pgdump");
    CHECK(args[args.size() - 2] == "--");
}
