// A char member is stored as the integer of its value (a BIGINT column), which depends on the
// machine: char is signed on x86 ('\xff' is -1) and unsigned on ARM (255). A database written on
// one and read on the other held a value that did not fit the member, and every read of that row
// failed. Both ranges are now read as the same byte.

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
struct glyph {
    BOOST_HANA_DEFINE_STRUCT(glyph, (std::int64_t, id), (char, mark), (std::string, name));
};
} // namespace

TEST_CASE("postgres_store reads a char member written where char has the other signedness", "[postgres][store]") {
    pg_fresh_database fresh("charmembers");
    postgres_database db(fresh.conninfo());
    postgres_store<glyph> s(db, "glyphs");
    const auto id = s.put({0, '\xff', "ff"});
    REQUIRE(s.get(id));
    CHECK(s.get(id)->mark == '\xff');
    const auto set_mark = [&](std::int64_t v) { db.exec("UPDATE glyphs SET mark = $1", {std::to_string(v)}); };

    set_mark(255);  // as a machine with an unsigned char writes '\xff'
    REQUIRE(s.get(id));
    CHECK(s.get(id)->mark == '\xff');
    CHECK(s.get(id)->name == "ff");
    set_mark(-1);  // as a machine with a signed char writes it
    CHECK(s.get(id)->mark == '\xff');
    set_mark(128);
    CHECK(s.get(id)->mark == '\x80');
    set_mark(-128);
    CHECK(s.get(id)->mark == '\x80');
    set_mark(256);
    CHECK_THROWS_AS(s.get(id), store_error);
    set_mark(-129);
    CHECK_THROWS_AS(s.get(id), store_error);
}
