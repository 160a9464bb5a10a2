// Fifth review: concord's tables made before concord ran, in another shape (nullable columns, no
// singleton key), holding NULLs or a second checkpoint row: checkpoint_corrupt, as the SQLite store
// reports a corrupt row, instead of dereferencing a NULL.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/memory/witness.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>
#include <concord/timeline.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;

namespace {
struct ticket {
    BOOST_HANA_DEFINE_STRUCT(ticket, (std::int64_t, id), (std::string, code));
};

const std::string lin = "0123456789abcdef0123456789abcdef";
} // namespace

TEST_CASE("a concord_checkpoint of another shape holding NULL or two rows is checkpoint_corrupt", "[postgres][store][review5]") {
    const std::string insert =
        GENERATE(std::string("INSERT INTO concord_checkpoint VALUES (NULL, 3, 'x')"),
                 std::string("INSERT INTO concord_checkpoint VALUES ('0123456789abcdef0123456789abcdef', NULL, 'x')"),
                 std::string("INSERT INTO concord_checkpoint VALUES ('0123456789abcdef0123456789abcdef', 3, NULL)"),
                 std::string("INSERT INTO concord_checkpoint VALUES ('0123456789abcdef0123456789abcdef', 3, 'x'), "
                             "('fedcba9876543210fedcba9876543210', 4, 'y')"));
    INFO(insert);
    pg_fresh_database fresh("nullcp");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE TABLE concord_checkpoint (lineage TEXT, generation BIGINT, checksum TEXT)");
    db.exec(insert);
    postgres_store<ticket> s(db, "tickets");
    try {
        (void)s.load_checkpoint();
        FAIL("a checkpoint concord did not write was read");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::checkpoint_corrupt);
        CHECK_THAT(std::string(e.what()), Catch::Contains("concord_checkpoint"));
    }
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
    memory_witness w;
    CHECK_THROWS_AS(begin_session(w, s), store_error);
    CHECK(w.saves() == 0);
}

TEST_CASE("concord_cursors or concord_links of another shape holding NULL are checkpoint_corrupt", "[postgres][store][review5]") {
    pg_fresh_database fresh("nullcur");
    postgres_database db(fresh.conninfo());
    SECTION("a cursor without a position") {
        db.exec("CREATE TABLE concord_cursors (name TEXT PRIMARY KEY, position NUMERIC(20,0))");
        postgres_store<ticket> s(db, "tickets");
        change_batch<ticket> b;
        b.new_checkpoint = checkpoint{lin, 2, {}};
        s.commit(b);
        db.exec("INSERT INTO concord_cursors VALUES ('shop/ticket', NULL)");
        try {
            (void)s.load_checkpoint();
            FAIL("a cursor without a position was read");
        } catch (const store_error& e) {
            CHECK(e.code() == errc::checkpoint_corrupt);
            CHECK_THAT(std::string(e.what()), Catch::Contains("concord_cursors"));
        }
        CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
    }
    SECTION("a link without a remote id") {
        db.exec("CREATE TABLE concord_links (scope TEXT, identity TEXT, remote_id TEXT, generation BIGINT)");
        db.exec("INSERT INTO concord_links VALUES ('tickets', '000000000000000100000000000000fe', NULL, 1)");
        postgres_store<ticket> s(db, "tickets");
        try {
            (void)s.links();
            FAIL("a link without a remote id was read");
        } catch (const store_error& e) {
            CHECK(e.code() == errc::checkpoint_corrupt);
            CHECK_THAT(std::string(e.what()), Catch::Contains("concord_links"));
        }
    }
}
