// Text that is not valid UTF-8 (an entity's string member, a link's remote id, a cursor name) on a
// connection whose client_encoding is UTF8: PostgreSQL refuses it, so concord refuses it first, with
// errc::invalid_argument naming the parameter, and nothing is written: not concord's batch, and not
// the host's own transaction, which is left usable.

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
struct memo {
    BOOST_HANA_DEFINE_STRUCT(memo, (std::int64_t, id), (std::string, customer), (std::string, note));
};

const std::string lin = "0123456789abcdef0123456789abcdef";
const std::string bad = std::string("caf") + '\xe9';  // Latin-1 "café": ill-formed as UTF-8
} // namespace

TEST_CASE("a string member holding ill-formed UTF-8 is invalid_argument and writes nothing", "[postgres][store][utf8]") {
    pg_fresh_database fresh("utf8put");
    postgres_database db(fresh.conninfo());
    postgres_store<memo> s(db, "memos");
    REQUIRE(s.put(memo{0, "ada", "ok"}) == 1);
    SECTION("put outside a transaction") {
        try {
            (void)s.put(memo{0, "bob", bad});
            FAIL("ill-formed UTF-8 was accepted");
        } catch (const store_error& e) {
            CHECK(e.code() == errc::invalid_argument);
            CHECK_THAT(std::string(e.what()), Catch::Contains("UTF-8") && Catch::Contains("$2"));
        }
        CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
        CHECK(s.size() == 1);
    }
    SECTION("put inside the host's transaction leaves that transaction usable") {
        db.exec("BEGIN");
        REQUIRE(s.put(memo{0, "cid", "first"}) == 2);
        try {
            (void)s.put(memo{0, bad, "second"});
            FAIL("ill-formed UTF-8 was accepted");
        } catch (const store_error& e) {
            CHECK(e.code() == errc::invalid_argument);
            CHECK_THAT(std::string(e.what()), Catch::Contains("$1"));
        }
        CHECK(PQtransactionStatus(db.handle()) == PQTRANS_INTRANS);
        CHECK_NOTHROW(db.exec("COMMIT"));
        CHECK(s.size() == 2);
        CHECK(s.get(2).has_value());
    }
}

TEST_CASE("a remote id or cursor name holding ill-formed UTF-8 makes commit write nothing", "[postgres][store][utf8]") {
    pg_fresh_database fresh("utf8commit");
    postgres_database db(fresh.conninfo());
    postgres_store<memo> s(db, "memos");
    change_batch<memo> first;
    first.new_checkpoint = checkpoint{lin, 1, {{"memos", 5}}};
    s.commit(first);

    change_batch<memo> b;
    b.upserts.push_back(memo{0, "ada", "ok"});
    concord::link l;
    l.identity = key128{1, 2};
    l.remote_id = "pi_1";
    l.generation = 2;
    b.link_upserts.push_back(l);
    b.new_checkpoint = checkpoint{lin, 2, {{"memos", 9}}};
    const bool remote_id = GENERATE(true, false);
    if (remote_id) b.link_upserts.back().remote_id = "pi_" + bad;
    else b.new_checkpoint->cursors[bad] = 3;
    INFO((remote_id ? "remote id" : "cursor name"));
    try {
        s.commit(b);
        FAIL("ill-formed UTF-8 was accepted");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK_THAT(std::string(e.what()), Catch::Contains("UTF-8") &&
                                              Catch::Contains(remote_id ? "concord_links" : "concord_cursors"));
    }
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
    CHECK(s.size() == 0);
    CHECK(s.links().empty());
    const auto cp = s.load_checkpoint();
    REQUIRE(cp.has_value());
    CHECK(cp->generation == 1);
    CHECK(cp->cursors == std::map<std::string, std::uint64_t>{{"memos", 5}});
}

TEST_CASE("well-formed UTF-8 and plain ASCII still travel unchanged", "[postgres][store][utf8]") {
    pg_fresh_database fresh("utf8ok");
    postgres_database db(fresh.conninfo());
    postgres_store<memo> s(db, "memos");
    const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    const auto id = s.put(memo{0, text, "plain"});
    const auto got = s.get(id);
    REQUIRE(got.has_value());
    CHECK(got->customer == text);
}

TEST_CASE("text the server cannot read in another client_encoding is invalid_argument", "[postgres][store][utf8]") {
    pg_fresh_database fresh("utf8euc");
    postgres_database db(fresh.conninfo());
    postgres_store<memo> s(db, "memos");
    db.exec("SET client_encoding = 'EUC_JP'");
    try {
        (void)s.put(memo{0, "ada", std::string("x") + '\xa4'});  // a lead byte without its trail byte
        FAIL("a broken EUC_JP sequence was accepted");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK_THAT(std::string(e.what()), Catch::Contains("22021"));
    }
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
    CHECK(s.size() == 0);
}
