// sqlite_replica's content columns have no declared type, so another writer of the replica file (or
// a hand edit) can leave a value the entity's member cannot hold. It was read as it stood: NULL as 0
// or "", text in a number as 0, a number beyond an int32 member truncated, 2 in a bool as true. A
// listing then showed a record the replica never held, and a pull (trust_remote) copied the made-up
// value into the host. Such a row is errc::bad_page naming the column, as a malformed listing is.

#include <cstdint>
#include <optional>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <concord/error.hpp>
#include <concord/mirror/replica.hpp>

#include "fixture.hpp"

using shapes_test::temp_dir;

namespace {

struct gauge {
    BOOST_HANA_DEFINE_STRUCT(gauge, (std::int64_t, id), (std::string, code), (std::int32_t, level), (bool, on),
                             (std::optional<double>, reading));
};

using replica_t = concord::mirror::sqlite_replica<gauge>;

/// The code and message list() throws, or nothing.
std::optional<concord::error> list_error(replica_t& r) {
    try {
        (void)r.list(std::nullopt, 100);
        return std::nullopt;
    } catch (const concord::error& e) {
        return e;
    }
}

void edit(replica_t& r, const std::string& sql) {
    char* msg = nullptr;
    const int rc = sqlite3_exec(r.handle(), sql.c_str(), nullptr, nullptr, &msg);
    INFO((msg ? msg : ""));
    sqlite3_free(msg);
    REQUIRE(rc == SQLITE_OK);
}

} // namespace

TEST_CASE("replica: a content column holding what the member cannot hold is bad_page, not a made-up value",
          "[mirror][replica][bad_input]") {
    temp_dir dir;
    replica_t r(dir.path() / "replica.db", "gauges");
    r.create({0, "G-1", 7, true, 2.5}, {{"concord_identity", "G-1"}}, "k1");
    {
        const auto p = r.list(std::nullopt, 100);
        REQUIRE(p.items.size() == 1);
        CHECK(p.items[0].value.code == "G-1");
        CHECK(p.items[0].value.level == 7);
        CHECK(p.items[0].value.on);
        CHECK(p.items[0].value.reading == 2.5);
    }

    struct bad_edit {
        const char* sql;
        const char* column;
    };
    const bad_edit edits[] = {
        {"UPDATE gauges SET c_level = NULL", "c_level"},
        {"UPDATE gauges SET c_level = 'high'", "c_level"},
        {"UPDATE gauges SET c_level = 4294967303", "c_level"},  // 2^32 + 7: an int32 would read 7
        {"UPDATE gauges SET c_level = 7.5", "c_level"},
        {"UPDATE gauges SET c_on = 2", "c_on"},
        {"UPDATE gauges SET c_code = NULL", "c_code"},
        {"UPDATE gauges SET c_code = 42", "c_code"},
        {"UPDATE gauges SET c_reading = 'x'", "c_reading"},
    };
    for (const auto& e : edits) {
        DYNAMIC_SECTION(e.sql) {
            edit(r, e.sql);
            const auto err = list_error(r);
            REQUIRE(err);
            CHECK(err->code() == concord::errc::bad_page);
            const std::string what = err->what();
            CHECK(what.find(e.column) != std::string::npos);
            CHECK(what.find("gauges") != std::string::npos);
        }
    }
    SECTION("NULL in an optional member is an empty value, and in range values read as written") {
        edit(r, "UPDATE gauges SET c_reading = NULL, c_level = -2147483648, c_on = 0");
        const auto p = r.list(std::nullopt, 100);
        REQUIRE(p.items.size() == 1);
        CHECK_FALSE(p.items[0].value.reading);
        CHECK(p.items[0].value.level == INT32_MIN);
        CHECK_FALSE(p.items[0].value.on);
    }
}
