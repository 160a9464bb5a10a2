// A char member is stored as the integer of its value, which depends on the machine: char is signed
// on x86 ('\xff' is -1) and unsigned on ARM (255). A database file written on one and read on the
// other held a value "out of the member type's range", and every read of that row failed. Both
// ranges are now read as the same byte (sqlite_store and the mirror replica share the reader).

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/sqlite/store.hpp>

#include "sqlite_fixture.hpp"

namespace {
struct glyph {
    BOOST_HANA_DEFINE_STRUCT(glyph, (std::int64_t, id), (char, mark), (std::string, name));
};
} // namespace

TEST_CASE("sqlite_store reads a char member written where char has the other signedness", "[sqlite]") {
    concord::test::temp_dir dir;
    concord::sqlite_database db(dir / "app.db");
    concord::sqlite_store<glyph> store(db, "glyphs");
    const auto id = store.put({0, '\xff', "ff"});
    REQUIRE(store.get(id));
    CHECK(store.get(id)->mark == '\xff');

    const auto set_mark = [&](std::int64_t v) {
        const std::string sql = "UPDATE glyphs SET mark = " + std::to_string(v);
        REQUIRE(sqlite3_exec(db.handle(), sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    };
    SECTION("255, as a machine with an unsigned char writes '\\xff'") {
        set_mark(255);
        const auto got = store.get(id);
        REQUIRE(got);
        CHECK(got->mark == '\xff');
        CHECK(got->name == "ff");
    }
    SECTION("-1, as a machine with a signed char writes it") {
        set_mark(-1);
        const auto got = store.get(id);
        REQUIRE(got);
        CHECK(got->mark == '\xff');
    }
    SECTION("-128 and 128 are one byte too; beyond either range is refused") {
        set_mark(128);
        CHECK(store.get(id)->mark == '\x80');
        set_mark(-128);
        CHECK(store.get(id)->mark == '\x80');
        set_mark(256);
        CHECK_THROWS_AS(store.get(id), concord::store_error);
        set_mark(-129);
        CHECK_THROWS_AS(store.get(id), concord::store_error);
    }
}
