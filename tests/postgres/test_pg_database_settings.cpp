// A restore swaps a new database in under the live name. Settings kept on the database object itself
// (ALTER DATABASE ... SET, ALTER ROLE ... IN DATABASE ... SET) are in neither a pg_dump archive nor a
// template copy: a host whose tables live in a schema named by the database's search_path found them,
// and concord's own tables, gone after the restore, and concord made new, empty ones in public (no
// checkpoint: the restore looked like another database, every row deleted).

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
using concord::test::pg_unique_name;

namespace {
struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer));
};

const std::string lin = "0123456789abcdef0123456789abcdef";

std::string show(postgres_database& db, const std::string& setting) {
    return std::string(*db.exec("SELECT current_setting($1)", {setting}).get(0, 0));
}
} // namespace

TEST_CASE("a restore keeps the settings of the database and of roles in it", "[postgres][restore][settings]") {
    pg_fresh_database fresh("dbset");
    const auto q = pg_quote_name(fresh.name());
    {
        postgres_database setup(fresh.conninfo());
        setup.exec("CREATE SCHEMA app");
        setup.exec("CREATE SCHEMA \"odd, name\"");
    }
    pg_admin("ALTER DATABASE " + q + " SET search_path = app, \"odd, name\", \"$user\"");
    pg_admin("ALTER DATABASE " + q + " SET statement_timeout = '17s'");
    pg_admin("ALTER DATABASE " + q + " SET app.tenant = E'acme\\\\north, ''x'''");
    pg_admin("ALTER ROLE postgres IN DATABASE " + q + " SET application_name = 'it''s shop'");

    postgres_database db(fresh.conninfo());
    REQUIRE(show(db, "search_path") == "app, \"odd, name\", \"$user\"");
    postgres_store<invoice> s(db, "invoices");
    REQUIRE(s.put(invoice{0, "ada"}) == 1);
    change_batch<invoice> b;
    b.new_checkpoint = checkpoint{lin, 1, {}};
    s.commit(b);
    REQUIRE(db.exec("SELECT to_regclass('app.concord_checkpoint') IS NOT NULL").get(0, 0) == std::optional<std::string_view>("t"));

    const auto snap = pg_unique_name("dbsetsnap");
    const auto file = std::filesystem::temp_directory_path() / (pg_unique_name("dbsetdump") + ".dump");
    const bool from_dump = GENERATE(false, true);
    INFO((from_dump ? "pg_dump / pg_restore" : "snapshot"));
    if (from_dump) postgres_dump(db, file);
    else postgres_snapshot(db, snap);

    b.new_checkpoint = checkpoint{lin, 2, {}};
    s.commit(b);
    REQUIRE(s.put(invoice{0, "bob"}) == 2);

    if (from_dump) postgres_restore(db, file);
    else postgres_restore_snapshot(db, snap);

    CHECK(show(db, "search_path") == "app, \"odd, name\", \"$user\"");
    CHECK(show(db, "statement_timeout") == "17s");
    CHECK(show(db, "app.tenant") == "acme\\north, 'x'");
    CHECK(show(db, "application_name") == "it's shop");
    const auto cp = s.load_checkpoint();
    REQUIRE(cp.has_value());
    CHECK(cp->generation == 1);
    CHECK(s.size() == 1);
    CHECK(db.exec("SELECT to_regclass('public.concord_checkpoint') IS NULL").get(0, 0) == std::optional<std::string_view>("t"));

    std::error_code ec;
    std::filesystem::remove(file, ec);
    postgres_drop_snapshot(db, snap);
}
