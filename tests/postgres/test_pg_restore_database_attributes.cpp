// A restore swaps a new database in under the original's name. The new one was made by the restoring
// role with the server's defaults: the original's owner, encoding and collation (postgres_restore
// made it from template0 in the server's default encoding and locale), its comment and its GRANTs
// (CONNECT revoked from PUBLIC and granted to one role) were lost. Losing a GRANT locks a role out or
// lets every role in; another encoding changes what text the database can hold.

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_admin;
using concord::test::pg_fresh_database;
using concord::test::pg_server_conninfo;
using concord::test::pg_unique_name;

namespace {
struct shelf {
    BOOST_HANA_DEFINE_STRUCT(shelf, (std::int64_t, id), (std::string, name));
};

/// Roles of the test's own (roles belong to the server, not to a database): dropped at the end,
/// after the databases that name them (declared before them).
struct test_roles {
    std::string owner = pg_unique_name("owner"), clerk = pg_unique_name("clerk"), stranger = pg_unique_name("stranger");
    test_roles() {
        for (const auto& r : {owner, clerk, stranger}) pg_admin("CREATE ROLE \"" + r + "\" LOGIN");
    }
    ~test_roles() {
        for (const auto& r : {owner, clerk, stranger}) {
            try {
                pg_admin("DROP ROLE IF EXISTS \"" + r + "\"");
            } catch (...) {
            }
        }
    }
};

struct attributes {
    std::string owner, encoding, collate, ctype, comment, connlimit;
    bool clerk_connects = false, stranger_connects = false;
};

attributes read_attributes(const std::string& db, const test_roles& roles) {
    postgres_database admin(pg_server_conninfo());
    auto r = admin.exec("SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, "
                        "coalesce(shobj_description(oid, 'pg_database'), '<none>'), datconnlimit::text, "
                        "has_database_privilege($2, oid, 'CONNECT'), has_database_privilege($3, oid, 'CONNECT') "
                        "FROM pg_database WHERE datname = $1",
                        {db, roles.clerk, roles.stranger});
    REQUIRE(r.size() == 1);
    attributes a;
    a.owner = *r.get(0, 0);
    a.encoding = *r.get(0, 1);
    a.collate = *r.get(0, 2);
    a.ctype = *r.get(0, 3);
    a.comment = *r.get(0, 4);
    a.connlimit = *r.get(0, 5);
    a.clerk_connects = *r.get(0, 6) == "t";
    a.stranger_connects = *r.get(0, 7) == "t";
    return a;
}

struct dump_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / pg_unique_name("attrdump");
    dump_dir() { std::filesystem::create_directories(path); }
    ~dump_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
} // namespace

TEST_CASE("a restore keeps the database's owner, encoding, collation, comment and grants", "[postgres][restore]") {
    const bool from_dump = GENERATE(true, false);
    INFO((from_dump ? "postgres_restore (pg_dump archive)" : "postgres_restore_snapshot"));
    test_roles roles;
    pg_fresh_database fresh("attrs");
    const auto q = pg_quote_name(fresh.name());
    // Not the server's defaults (UTF8, C.UTF-8, owned by the connecting role, CONNECT for PUBLIC).
    pg_admin("DROP DATABASE " + q);
    pg_admin("CREATE DATABASE " + q + " TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'POSIX' OWNER \"" +
             roles.owner + "\"");
    pg_admin("COMMENT ON DATABASE " + q + " IS 'the shop''s data \\ backslash'");
    pg_admin("REVOKE CONNECT ON DATABASE " + q + " FROM PUBLIC");
    pg_admin("GRANT CONNECT ON DATABASE " + q + " TO \"" + roles.clerk + "\"");
    pg_admin("ALTER DATABASE " + q + " CONNECTION LIMIT 50");
    const auto before = read_attributes(fresh.name(), roles);
    REQUIRE(before.encoding == "LATIN1");
    REQUIRE(before.clerk_connects);
    REQUIRE_FALSE(before.stranger_connects);

    dump_dir dir;
    const auto snap = pg_unique_name("attrsnap");
    {
        postgres_database db(fresh.conninfo());
        postgres_store<shelf> store(db, "shelves");
        store.put({0, "caf\xc3\xa9"});  // in LATIN1: one that the restored database must hold as it was
        if (from_dump) postgres_dump(db, dir.path / "shop.pgdump");
        else postgres_snapshot(db, snap);
        store.put({0, "after the backup"});
        if (from_dump) postgres_restore(db, dir.path / "shop.pgdump");
        else postgres_restore_snapshot(db, snap);
        CHECK(store.size() == 1);
        CHECK(store.scan().at(0).name == "caf\xc3\xa9");
        if (!from_dump) postgres_drop_snapshot(db, snap);
    }

    const auto after = read_attributes(fresh.name(), roles);
    CHECK(after.owner == before.owner);
    CHECK(after.encoding == before.encoding);
    CHECK(after.collate == before.collate);
    CHECK(after.ctype == before.ctype);
    CHECK(after.comment == "the shop's data \\ backslash");
    CHECK(after.connlimit == "50");
    CHECK(after.clerk_connects);
    CHECK_FALSE(after.stranger_connects);
}

TEST_CASE("a restore of a database with the default grants and no comment keeps them so", "[postgres][restore]") {
    test_roles roles;
    pg_fresh_database fresh("attrs_default");
    const auto snap = pg_unique_name("attrsnap_default");
    {
        postgres_database db(fresh.conninfo());
        postgres_snapshot(db, snap);
        postgres_restore_snapshot(db, snap);
        postgres_drop_snapshot(db, snap);
    }
    const auto after = read_attributes(fresh.name(), roles);
    CHECK(after.comment == "<none>");
    CHECK(after.stranger_connects);  // PUBLIC's CONNECT, as every new database has
    postgres_database admin(pg_server_conninfo());
    CHECK(admin.exec("SELECT datacl IS NULL FROM pg_database WHERE datname = $1", {fresh.name()}).get(0, 0) ==
          std::optional<std::string_view>("t"));
}
