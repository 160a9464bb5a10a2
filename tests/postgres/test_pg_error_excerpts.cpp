// Values read from the database were pasted raw into error messages: a column of the host's table
// that does not fit its member, a concord_links identity, a cursor of a concord_cursors table of
// another shape. Such a value may be megabytes long, or hold newlines and terminal escapes that make
// the message say something else (a forged second line in a log). They are quoted, escaped and cut
// now (detail::quoted_excerpt), as the checkpoint's lineage already was.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;

namespace {
struct bin {
    BOOST_HANA_DEFINE_STRUCT(bin, (std::int64_t, id), (std::int64_t, count));
};

// 10,000 bytes, a forged log line and a terminal escape among them.
const std::string hostile = "12\nERROR: payment 42 refunded\x1b[2J" + std::string(10000, 'x');

void check_clean(const std::string& what) {
    INFO(what.substr(0, 300));
    CHECK(what.size() < 600);
    CHECK(what.find('\n') == std::string::npos);
    CHECK(what.find('\x1b') == std::string::npos);
    CHECK(what.find("\\n") != std::string::npos);  // escaped, still there for whoever reads it
}
} // namespace

TEST_CASE("a column value that does not fit its member is shown escaped and cut in the error", "[postgres][store][errors]") {
    pg_fresh_database fresh("excerpt1");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE TABLE bins (id BIGINT PRIMARY KEY, count TEXT NOT NULL)");
    db.exec("INSERT INTO bins VALUES (1, $1)", {hostile});
    postgres_store<bin> s(db, postgres_mapping{"bins", {}, false, {}});
    try {
        (void)s.scan();
        FAIL("a count that is not a number was read");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::store_failure);
        CHECK_THAT(std::string(e.what()), Catch::Contains("member 'count'"));
        check_clean(e.what());
    }
}

TEST_CASE("a concord_links identity concord did not write is shown escaped and cut in the error", "[postgres][store][errors]") {
    pg_fresh_database fresh("excerpt2");
    postgres_database db(fresh.conninfo());
    postgres_store<bin> s(db, "bins");
    db.exec("INSERT INTO concord_links VALUES ('bins', $1, 'r1', 1)", {hostile});
    try {
        (void)s.links();
        FAIL("a link concord did not write was read");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::checkpoint_corrupt);
        check_clean(e.what());
    }
}

TEST_CASE("a cursor of a concord_cursors table of another shape is shown escaped and cut in the error",
          "[postgres][store][errors]") {
    pg_fresh_database fresh("excerpt3");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE TABLE concord_cursors (name TEXT, position TEXT)");
    db.exec("INSERT INTO concord_cursors VALUES ($1, $1)", {hostile});
    postgres_store<bin> s(db, "bins");
    db.exec("INSERT INTO concord_checkpoint (lineage, generation, checksum) VALUES "
            "('0123456789abcdef0123456789abcdef', 1, 'x')");
    try {
        (void)s.load_checkpoint();
        FAIL("a cursor concord did not write was read");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::checkpoint_corrupt);
        check_clean(e.what());
    }
}
