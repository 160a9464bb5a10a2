// postgres_store against a real PostgreSQL server: the store concept's behaviour (the reference is
// memory_store), type round trips, a mapping onto an existing table, atomic commits, restores with
// pg_dump/pg_restore and template copies, lost connections and the reconcile lock.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/memory/witness.hpp>
#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>
#include <concord/timeline.hpp>

#include "../support/lineages.hpp"
#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_admin;
using concord::test::pg_fresh_database;
using concord::test::pg_unique_name;

namespace {

struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents));
};

enum class tier : std::int16_t { free = 0, pro = 7 };

struct everything {
    BOOST_HANA_DEFINE_STRUCT(everything, (std::int64_t, id), (bool, flag), (std::int32_t, small), (std::uint64_t, big),
                             (double, ratio), (float, f), (std::optional<std::string>, note),
                             (std::optional<std::int64_t>, maybe), (tier, level), (std::string, text));
};

static_assert(store<postgres_store<order>>);

key128 key(std::uint64_t n) { return key128{n, ~n}; }

checkpoint cp(std::uint64_t gen, std::map<std::string, std::uint64_t> cursors = {}) {
    return checkpoint{"0123456789abcdef0123456789abcdef", gen, std::move(cursors)};
}

/// Drops a database (a snapshot) when the test ends, however it ends.
struct drop_at_end {
    std::string name;
    ~drop_at_end() {
        try {
            pg_admin("DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
        } catch (...) {
        }
    }
};

/// A directory of its own under the temp directory, removed when the test ends.
struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / pg_unique_name("dir");
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

bool has_database(const std::string& name) {
    postgres_database admin(concord::test::pg_server_conninfo());
    return admin.exec("SELECT 1 FROM pg_database WHERE datname = $1", {name}).size() == 1;
}

} // namespace

TEST_CASE("a new database has no entities, no links and no checkpoint", "[postgres][store]") {
    pg_fresh_database fresh("empty");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    CHECK(s.scan().empty());
    CHECK(s.links().empty());
    CHECK_FALSE(s.load_checkpoint());
    CHECK(s.size() == 0);
    CHECK(db.name() == fresh.name());
}

TEST_CASE("host helpers: put assigns ids, get, erase and scan in id order", "[postgres][store]") {
    pg_fresh_database fresh("host");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    const auto a = s.put({0, "acme", "A-1", 100});
    const auto b = s.put({0, "acme", "A-2", 250});
    CHECK(a != b);
    CHECK(s.size() == 2);
    REQUIRE(s.get(b));
    CHECK(s.get(b)->number == "A-2");
    CHECK(s.get(b)->id == b);
    s.put({b, "acme", "A-2", 300});  // an edit at the same id
    CHECK(s.get(b)->cents == 300);
    CHECK(s.size() == 2);
    s.put({40, "zeta", "Z-1", 1});  // an explicit id; later ids come after it
    const auto c = s.put({0, "zeta", "Z-2", 2});
    CHECK(c > 40);
    auto all = s.scan();
    REQUIRE(all.size() == 4);
    CHECK(all[0].id < all[1].id);
    CHECK(all[3].id == c);
    CHECK(s.erase(a));
    CHECK_FALSE(s.erase(a));
    CHECK_FALSE(s.get(a));
}

TEST_CASE("commit applies upserts, removals, links and the checkpoint together", "[postgres][store]") {
    pg_fresh_database fresh("commit");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    const auto gone = s.put({0, "acme", "old", 1});
    change_batch<order> b;
    b.upserts.push_back({0, "acme", "new", 5});
    b.removals.push_back(gone);
    b.link_upserts.push_back({key(1), "rem_1", 1});
    b.link_upserts.push_back({key(2), "rem_2", 1});
    b.new_checkpoint = cp(1, {{"int/order", 17}, {"big", std::numeric_limits<std::uint64_t>::max()}});
    s.commit(b);
    auto rows = s.scan();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].number == "new");
    CHECK(rows[0].id != 0);
    CHECK(s.links().size() == 2);
    CHECK(s.load_checkpoint() == b.new_checkpoint);

    change_batch<order> b2;  // link update and removal, checkpoint replaced (cursor dropped)
    b2.link_upserts.push_back({key(1), "rem_1b", 2});
    b2.link_removals.push_back(key(2));
    b2.new_checkpoint = cp(2, {{"int/order", 20}});
    s.commit(b2);
    auto links = s.links();
    REQUIRE(links.size() == 1);
    CHECK(links[0] == concord::link{key(1), "rem_1b", 2});
    CHECK(s.load_checkpoint() == b2.new_checkpoint);
}

TEST_CASE("a failing commit changes nothing", "[postgres][store]") {
    pg_fresh_database fresh("atomic");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    change_batch<order> first;
    first.link_upserts.push_back({key(1), "rem_1", 1});
    first.new_checkpoint = cp(1);
    s.commit(first);

    change_batch<order> bad;
    bad.upserts.push_back({0, "acme", "A-2", 2});
    bad.link_upserts.push_back({key(9), "rem_9", 2});
    bad.link_removals.push_back(key(1));
    bad.new_checkpoint = cp(2);
    bad.removals.push_back(9999);  // unknown: the whole batch is refused
    try {
        s.commit(bad);
        FAIL("commit of a bad batch succeeded");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::store_failure);
        CHECK(std::string(e.what()).find("9999") != std::string::npos);
    }
    CHECK(s.size() == 1);
    CHECK(s.links() == std::vector<concord::link>{{key(1), "rem_1", 1}});
    CHECK(s.load_checkpoint() == first.new_checkpoint);
    // The connection is usable after the rollback.
    s.commit(first);
}

TEST_CASE("every supported member type round-trips", "[postgres][store]") {
    pg_fresh_database fresh("types");
    postgres_database db(fresh.conninfo());
    postgres_store<everything> s(db, "everything");
    everything a{0, true, -2147483647 - 1, std::numeric_limits<std::uint64_t>::max(), 0.1, 1.5f, std::nullopt, -42,
                 tier::pro, "quote ' \" back\\slash, ünïcødé"};
    everything b{0, false, 7, 0, std::numeric_limits<double>::infinity(), -0.0f, std::string(""), std::nullopt,
                 tier::free, ""};
    everything c{0, false, 0, 1, std::nan(""), 0.f, std::string("x"), 0, tier::free, "\t\n"};
    a.id = s.put(a);
    b.id = s.put(b);
    c.id = s.put(c);
    auto rows = s.scan();
    REQUIRE(rows.size() == 3);
    CHECK(fingerprint(rows[0]) == fingerprint(a));
    CHECK(fingerprint(rows[1]) == fingerprint(b));
    CHECK(fingerprint(rows[2]) == fingerprint(c));
    CHECK(rows[0].note == std::nullopt);
    CHECK(rows[1].note == std::string(""));
    CHECK(rows[0].big == std::numeric_limits<std::uint64_t>::max());
    CHECK(std::isnan(rows[2].ratio));
    CHECK(rows[0].text == a.text);
}

TEST_CASE("doubles read back exactly when the database's default is extra_float_digits = 0", "[postgres][store]") {
    pg_fresh_database fresh("float0");
    // A role or database default of 0 makes PostgreSQL print 15 digits: 0.1 + 0.2 came back as 0.3.
    pg_admin("ALTER DATABASE \"" + fresh.name() + "\" SET extra_float_digits = 0");
    postgres_database db(fresh.conninfo());
    postgres_store<everything> s(db, "everything");
    everything a{0, true, 1, 2, 0.1 + 0.2, 0.1f, std::nullopt, std::nullopt, tier::pro, "x"};
    everything b{0, false, 1, 2, 1.0 / 3.0, 1.0f / 3.0f, std::nullopt, std::nullopt, tier::free, "y"};
    b.ratio = std::nextafter(1e300, 0.0);
    a.id = s.put(a);
    b.id = s.put(b);
    for (int round = 0; round < 2; ++round) {  // again on a new connection, where the default applies anew
        INFO("round " << round);
        REQUIRE(s.get(a.id));
        CHECK(s.get(a.id)->ratio == a.ratio);
        CHECK(s.get(a.id)->f == a.f);
        CHECK(s.get(b.id)->ratio == b.ratio);
        auto rows = s.scan();
        REQUIRE(rows.size() == 2);
        CHECK(fingerprint(rows[0]) == fingerprint(a));
        CHECK(fingerprint(rows[1]) == fingerprint(b));
        db.reopen();
    }
}

TEST_CASE("a store commit inside the host's own transaction is refused, the host's transaction left as it was",
          "[postgres][store]") {
    pg_fresh_database fresh("hosttx");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    db.exec("CREATE TABLE host_orders (x INT)");
    s.put({0, "acme", "kept", 1});
    change_batch<order> b;
    b.upserts.push_back({0, "acme", "from concord", 2});
    b.link_upserts.push_back({key(1), "rem_1", 1});
    b.new_checkpoint = cp(1);

    db.exec("BEGIN");  // the host's own transaction on the shared connection, half-way through its work
    db.exec("INSERT INTO host_orders VALUES (1)");
    try {
        s.commit(b);
        FAIL("a store commit went through inside the host's transaction");
    } catch (const error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(std::string(e.what()).find("does not nest") != std::string::npos);
    }
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_INTRANS);  // not committed, not rolled back
    CHECK_THROWS_AS(postgres_database::transaction(db), store_error);
    CHECK_THROWS_AS(s.load_checkpoint(), store_error);  // so a reconcile stops before any remote effect
    CHECK(s.put({0, "acme", "host row", 3}) > 0);      // a host-side write joins the host's transaction
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_INTRANS);
    db.exec("ROLLBACK");  // the host changes its mind: all of its work goes, nothing of concord's came
    CHECK(*db.exec("SELECT count(*) FROM host_orders").get(0, 0) == "0");
    CHECK(s.size() == 1);
    CHECK(s.links().empty());
    CHECK_FALSE(s.load_checkpoint());

    db.exec("BEGIN");  // a transaction a failed statement aborted is not ended by concord either
    CHECK_THROWS_AS(db.exec("SELECT 1 / 0"), store_error);
    CHECK_THROWS_AS(s.commit(b), store_error);
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_INERROR);
    db.exec("ROLLBACK");

    s.commit(b);  // outside any transaction it goes through
    CHECK(s.size() == 2);
    CHECK(s.load_checkpoint() == b.new_checkpoint);
}

TEST_CASE("links are kept per table, the checkpoint is one per database", "[postgres][store]") {
    pg_fresh_database fresh("scopes");
    postgres_database db(fresh.conninfo());
    postgres_store<order> orders(db, "orders");
    postgres_store<order> refunds(db, "refunds");
    change_batch<order> b;
    b.link_upserts.push_back({key(1), "ord_1", 1});
    b.new_checkpoint = cp(1, {{"orders", 3}});
    orders.commit(b);
    CHECK(orders.links().size() == 1);
    CHECK(refunds.links().empty());
    CHECK(refunds.load_checkpoint() == b.new_checkpoint);
    refunds.put({0, "acme", "R-1", -5});
    CHECK(orders.size() == 0);
    CHECK(refunds.size() == 1);
}

TEST_CASE("an entity mapped onto an existing table with other column names", "[postgres][store][mapping]") {
    pg_fresh_database fresh("mapping");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE SCHEMA legacy");
    db.exec("CREATE TABLE legacy.sales_orders (order_no SERIAL PRIMARY KEY, cust TEXT NOT NULL, ref TEXT NOT NULL, "
            "amount_cents BIGINT NOT NULL, created TIMESTAMPTZ NOT NULL DEFAULT now())");
    db.exec("INSERT INTO legacy.sales_orders (cust, ref, amount_cents) VALUES ('acme', 'L-1', 10), ('bolt', 'L-2', 20)");
    postgres_mapping m{"legacy.sales_orders", {{"id", "order_no"}, {"customer", "cust"}, {"number", "ref"}, {"cents", "amount_cents"}}, false, ""};
    postgres_store<order> s(db, m);
    auto rows = s.scan();
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].customer == "bolt");
    CHECK(rows[1].number == "L-2");
    CHECK(rows[1].cents == 20);
    const auto id = s.put({0, "cato", "L-3", 30});  // the table's own serial assigns the id
    CHECK(id == 3);
    s.put({10, "dion", "L-10", 40});
    CHECK(s.put({0, "eve", "L-11", 50}) == 11);  // the serial is kept ahead of explicit ids
    auto n = db.exec("SELECT count(*) FROM legacy.sales_orders WHERE created IS NOT NULL");
    CHECK(*n.get(0, 0) == "5");  // columns concord does not know keep their defaults
    CHECK(db.exec("SELECT 1 FROM information_schema.tables WHERE table_name = 'sales_orders'").size() == 1);
    CHECK(db.exec("SELECT 1 FROM information_schema.tables WHERE table_name IN ('order', 'orders')").size() == 0);

    SECTION("a missing column is a typed error naming the mapping") {
        postgres_mapping bad{"legacy.sales_orders", {{"customer", "customer_name"}}, false, ""};
        try {
            postgres_store<order> s2(db, bad);
            FAIL("mapping onto missing columns succeeded");
        } catch (const error& e) {
            CHECK(e.code() == errc::invalid_argument);
            CHECK(std::string(e.what()).find("customer_name") != std::string::npos);
        }
    }
    SECTION("a mapping naming a member the entity lacks is refused") {
        postgres_mapping bad{"legacy.sales_orders", {{"colour", "cust"}}, false, ""};
        CHECK_THROWS_AS(postgres_store<order>(db, bad), error);
    }
    SECTION("a NULL in a column of a non-optional member is reported, not defaulted") {
        db.exec("ALTER TABLE legacy.sales_orders ALTER COLUMN cust DROP NOT NULL");
        db.exec("UPDATE legacy.sales_orders SET cust = NULL WHERE order_no = 1");
        try {
            (void)s.scan();
            FAIL("NULL read into a std::string");
        } catch (const store_error& e) {
            CHECK(std::string(e.what()).find("cust") != std::string::npos);
            CHECK(std::string(e.what()).find("NULL") != std::string::npos);
        }
    }
}

TEST_CASE("a created table can use other column names and its own link scope", "[postgres][store][mapping]") {
    pg_fresh_database fresh("mapnew");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE SCHEMA crm");
    postgres_store<order> s(db, postgres_mapping{"crm.orders", {{"cents", "amount"}}, true, "orders-v2"});
    CHECK(s.put({0, "acme", "A-1", 5}) == 1);
    CHECK(*db.exec("SELECT amount FROM crm.orders").get(0, 0) == "5");
    change_batch<order> b;
    b.link_upserts.push_back({key(1), "r1", 1});
    s.commit(b);
    CHECK(*db.exec("SELECT scope FROM concord_links").get(0, 0) == "orders-v2");
}

TEST_CASE("an existing table with an identity id column: new ids from it, explicit ids written too",
          "[postgres][store][mapping]") {
    const std::string kind = GENERATE(std::string("ALWAYS"), std::string("BY DEFAULT"));
    INFO("GENERATED " << kind << " AS IDENTITY");
    pg_fresh_database fresh("identity");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE TABLE orders (id BIGINT GENERATED " + kind + " AS IDENTITY PRIMARY KEY, customer TEXT NOT NULL, "
            "number TEXT NOT NULL, cents BIGINT NOT NULL)");
    postgres_store<order> s(db, postgres_mapping{"orders", {}, false, ""});
    CHECK(s.put({0, "acme", "I-1", 1}) == 1);
    CHECK(s.put({42, "acme", "I-42", 42}) == 42);  // ALWAYS refuses this without OVERRIDING SYSTEM VALUE
    CHECK(s.put({0, "acme", "I-43", 43}) == 43);   // the identity is kept ahead of explicit ids
    s.put({42, "acme", "I-42b", 4200});            // an edit at an explicit id
    change_batch<order> b;
    b.upserts.push_back({50, "acme", "I-50", 50});
    b.upserts.push_back({0, "acme", "I-51", 51});
    s.commit(b);
    auto rows = s.scan();
    REQUIRE(rows.size() == 5);
    CHECK(rows[1].id == 42);
    CHECK(rows[1].cents == 4200);
    CHECK(rows[4].id == 51);
    CHECK(rows[4].number == "I-51");
}

TEST_CASE("a checkpoint concord did not write is checkpoint_corrupt", "[postgres][store]") {
    pg_fresh_database fresh("corrupt");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    change_batch<order> b;
    b.new_checkpoint = cp(4, {{"c", 10}});
    s.commit(b);
    REQUIRE(s.load_checkpoint() == b.new_checkpoint);
    const std::string edit = GENERATE(std::string("UPDATE concord_checkpoint SET generation = 9"),
                                      std::string("UPDATE concord_cursors SET position = 3"),
                                      std::string("UPDATE concord_checkpoint SET lineage = ''"),
                                      std::string("UPDATE concord_checkpoint SET checksum = 'junk'"));
    INFO(edit);
    db.exec(edit);
    try {
        (void)s.load_checkpoint();
        FAIL("a checkpoint edited by hand was accepted");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::checkpoint_corrupt);
    }
}

TEST_CASE("a checkpoint whose lineage is not a lineage id is refused before the transaction begins", "[postgres][store]") {
    pg_fresh_database fresh("badlin");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    s.put({0, "acme", "A-2", 2});
    change_batch<order> first;
    first.link_upserts.push_back({key(1), "rem_1", 1});
    first.new_checkpoint = cp(1, {{"c", 5}});
    s.commit(first);
    const auto numbers = [&] {
        std::vector<std::string> out;
        for (const auto& o : s.scan()) out.push_back(std::to_string(o.id) + ":" + o.number + ":" + std::to_string(o.cents));
        return out;
    };
    const auto rows = numbers();

    change_batch<order> b;
    b.upserts.push_back({0, "acme", "A-3", 3});
    b.upserts.push_back({1, "acme", "A-1 edited", 10});
    b.removals.push_back(2);
    b.link_upserts.push_back({key(2), "rem_2", 2});
    b.link_removals.push_back(key(1));
    for (const auto& lineage : concord::test::bad_lineages()) {
        INFO("lineage '" << lineage << "'");
        b.new_checkpoint = checkpoint{lineage, 2, {{"c", 9}}};
        bool refused = false;
        try {
            s.commit(b);
        } catch (const error& e) {
            refused = true;
            CHECK(e.code() == errc::invalid_argument);
            CHECK(std::string(e.what()).find("\"" + lineage + "\"") != std::string::npos);
            CHECK(std::string(e.what()).find("table 'orders'") != std::string::npos);
        }
        CHECK(refused);
        CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
        CHECK(numbers() == rows);
        CHECK(s.links() == std::vector<concord::link>{{key(1), "rem_1", 1}});
        CHECK(s.load_checkpoint() == first.new_checkpoint);
    }
    SECTION("inside the host's own transaction the refusal comes first and leaves it as it was") {
        db.exec("BEGIN");
        bool refused = false;
        try {
            s.commit(b);
        } catch (const error& e) {
            refused = true;
            CHECK(e.code() == errc::invalid_argument);
            CHECK(std::string(e.what()).find("\"" + b.new_checkpoint->lineage + "\"") != std::string::npos);
        }
        CHECK(refused);
        CHECK(PQtransactionStatus(db.handle()) == PQTRANS_INTRANS);
        db.exec("ROLLBACK");
    }
    SECTION("the same batch with a lineage id goes through") {
        b.new_checkpoint = cp(2, {{"c", 9}});
        s.commit(b);
        CHECK(numbers() == std::vector<std::string>{"1:A-1 edited:10", "2:A-3:3"});
        CHECK(s.load_checkpoint() == b.new_checkpoint);
    }
}

TEST_CASE("an older database's lineage that is not a lineage id is checkpoint_corrupt and kept", "[postgres][store]") {
    // Written before stores refused such lineages: the row is what concord wrote then, checksum included.
    pg_fresh_database fresh("oldlin");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    change_batch<order> b;
    b.new_checkpoint = cp(3, {{"c", 5}});
    s.commit(b);
    const std::string old_lineage = GENERATE(std::string("lin"), std::string("0123456789ABCDEF0123456789ABCDEF"),
                                             std::string("0123456789abcdef0123456789abcde"));
    INFO(old_lineage);
    db.exec("UPDATE concord_checkpoint SET lineage = $1, checksum = $2",
            {old_lineage, detail::pg_checkpoint_checksum(checkpoint{old_lineage, 3, {{"c", 5}}}).hex()});
    try {
        (void)s.load_checkpoint();
        FAIL("an older database's lineage was read as a checkpoint");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::checkpoint_corrupt);
        CHECK(std::string(e.what()).find("\"" + old_lineage + "\"") != std::string::npos);
    }
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_IDLE);
    memory_witness w;
    CHECK_THROWS_AS(begin_session(w, s), store_error);
    CHECK(w.saves() == 0);
    auto row = db.exec("SELECT lineage, generation FROM concord_checkpoint");
    REQUIRE(row.size() == 1);
    CHECK(*row.get(0, 0) == old_lineage);  // kept as it was: nothing lost
    CHECK(*row.get(0, 1) == "3");
    CHECK(s.size() == 1);
}

TEST_CASE("pg_dump / pg_restore rewinds the whole database: entities, links, checkpoint and ids", "[postgres][store][restore]") {
    pg_fresh_database fresh("dump");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    change_batch<order> b;
    b.link_upserts.push_back({key(1), "rem_1", 1});
    b.new_checkpoint = cp(1, {{"c", 5}});
    s.commit(b);
    const auto file = std::filesystem::temp_directory_path() / ("concord-dump-" + fresh.name() + ".pgdump");
    postgres_dump(db, file);

    const auto later = s.put({0, "acme", "A-2", 2});
    change_batch<order> b2;
    b2.link_upserts.push_back({key(2), "rem_2", 2});
    b2.new_checkpoint = cp(2, {{"c", 9}});
    s.commit(b2);
    db.exec("CREATE TABLE host_made_later (x INT)");

    postgres_restore(db, file);
    CHECK(s.size() == 1);
    CHECK(s.links() == std::vector<concord::link>{{key(1), "rem_1", 1}});
    CHECK(s.load_checkpoint() == b.new_checkpoint);
    CHECK(s.put({0, "acme", "A-3", 3}) == later);  // ids are reusable after a restore, as in memory_store
    // The database is what the backup held: a table made after the backup is gone too.
    CHECK(db.exec("SELECT 1 FROM information_schema.tables WHERE table_name = 'host_made_later'").size() == 0);
    CHECK(db.name() == fresh.name());

    SECTION("another session on the database makes the restore fail, and the database is untouched") {
        postgres_database other(fresh.conninfo());
        try {
            postgres_restore(db, file);
            FAIL("restored under another session's feet");
        } catch (const store_error& e) {
            CHECK(std::string(e.what()).find("other users") != std::string::npos);
        }
        CHECK(db.connected());
        CHECK(s.size() == 2);
        const auto helpers = concord::test::pg_restore_helpers(fresh.name());
        CHECK(db.exec("SELECT 1 FROM pg_database WHERE datname IN ($1, $2)", {helpers[0], helpers[1]}).size() == 0);
    }
    std::filesystem::remove(file);

    SECTION("a missing or broken backup file is a typed error and changes nothing") {
        CHECK_THROWS_AS(postgres_restore(db, file), store_error);
        {
            std::ofstream junk(file);
            junk << "not a dump";
        }
        try {
            postgres_restore(db, file);
            FAIL("restored from junk");
        } catch (const store_error& e) {
            CHECK(std::string(e.what()).find("pg_restore") != std::string::npos);
        }
        std::filesystem::remove(file);
        CHECK(s.size() == 2);
        const auto helpers = concord::test::pg_restore_helpers(fresh.name());
        CHECK(db.exec("SELECT 1 FROM pg_database WHERE datname IN ($1, $2)", {helpers[0], helpers[1]}).size() == 0);
    }
}

TEST_CASE("a restore to before the store existed re-creates its tables", "[postgres][store][restore]") {
    pg_fresh_database fresh("before");
    postgres_database db(fresh.conninfo());
    db.exec("CREATE TABLE host_only (x INT)");
    const auto file = std::filesystem::temp_directory_path() / ("concord-dump-" + fresh.name() + ".pgdump");
    postgres_dump(db, file);  // no concord table yet
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    s.put({0, "acme", "A-2", 2});
    change_batch<order> b;
    b.link_upserts.push_back({key(1), "r1", 1});
    b.new_checkpoint = cp(3);
    s.commit(b);
    postgres_restore(db, file);
    std::filesystem::remove(file);
    CHECK(s.size() == 0);
    CHECK(s.links().empty());
    CHECK_FALSE(s.load_checkpoint());  // not the newer checkpoint: the restore is visible
    CHECK(s.put({0, "acme", "B-1", 1}) == 1);
    CHECK(db.exec("SELECT 1 FROM information_schema.tables WHERE table_name = 'host_only'").size() == 1);
}

TEST_CASE("a template snapshot restores the whole database under its name", "[postgres][store][restore]") {
    pg_fresh_database fresh("tmpl");
    const std::string snap = fresh.name() + "_snap";
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    change_batch<order> b;
    b.new_checkpoint = cp(1);
    s.commit(b);
    postgres_snapshot(db, snap);
    CHECK(db.connected());
    s.put({0, "acme", "A-2", 2});
    b.new_checkpoint = cp(2);
    s.commit(b);
    postgres_restore_snapshot(db, snap);
    CHECK(db.connected());
    CHECK(db.name() == fresh.name());
    CHECK(s.size() == 1);
    CHECK(s.load_checkpoint()->generation == 1);
    postgres_restore_snapshot(db, snap);  // the snapshot is kept: restoring twice works
    CHECK(s.size() == 1);

    SECTION("another session on the database makes the copy fail, and the database is untouched") {
        postgres_database other(fresh.conninfo());
        CHECK_THROWS_AS(postgres_restore_snapshot(db, snap), store_error);
        CHECK(db.connected());
        CHECK(s.size() == 1);
    }
    postgres_drop_snapshot(db, snap);
    CHECK(db.exec("SELECT 1 FROM pg_database WHERE datname = $1", {snap}).size() == 0);
}

TEST_CASE("restores of a database with a long name keep it: the helper databases never take its name",
          "[postgres][store][restore]") {
    // PostgreSQL truncates names to 63 bytes: "<name>__concord_incoming" was the live name itself at
    // 63 bytes (the restore dropped the live database) and the same as "<name>__concord_outgoing"
    // from 53 bytes on (every restore failed).
    const std::size_t bytes = GENERATE(std::size_t{63}, std::size_t{55});
    INFO("database name of " << bytes << " bytes");
    pg_fresh_database fresh("long", bytes);
    REQUIRE(fresh.name().size() == bytes);
    drop_at_end snap{pg_unique_name("lsnap")};
    temp_dir dir;
    const auto file = dir.path / "long.pgdump";
    postgres_database db(fresh.conninfo());
    REQUIRE(db.name() == fresh.name());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    postgres_snapshot(db, snap.name);
    postgres_dump(db, file);

    s.put({0, "acme", "A-2", 2});
    postgres_restore(db, file);
    CHECK(db.connected());
    CHECK(db.name() == fresh.name());
    CHECK(s.size() == 1);

    s.put({0, "acme", "A-2", 2});
    postgres_restore_snapshot(db, snap.name);
    CHECK(db.connected());
    CHECK(s.size() == 1);
    postgres_restore_snapshot(db, snap.name);  // and again: nothing left behind blocks the next one
    CHECK(s.size() == 1);
    CHECK(has_database(fresh.name()));
    for (const auto& h : concord::test::pg_restore_helpers(fresh.name())) CHECK_FALSE(has_database(h));
}

TEST_CASE("a restore drops only helper databases it made, any other database under their names is kept",
          "[postgres][store][restore]") {
    pg_fresh_database fresh("leftover");
    const auto helpers = concord::test::pg_restore_helpers(fresh.name());
    drop_at_end snap{pg_unique_name("osnap")};
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    postgres_snapshot(db, snap.name);
    s.put({0, "acme", "A-2", 2});

    for (const auto& h : helpers) {  // a database of someone else's under a helper name
        INFO(h);
        pg_admin("CREATE DATABASE \"" + h + "\"");
        try {
            postgres_restore_snapshot(db, snap.name);
            FAIL("restored over a database concord did not make");
        } catch (const store_error& e) {
            CHECK(e.code() == errc::store_failure);
            CHECK(std::string(e.what()).find(h) != std::string::npos);
            CHECK(std::string(e.what()).find("not dropped") != std::string::npos);
        }
        CHECK(has_database(h));  // kept
        CHECK(db.connected());
        CHECK(s.size() == 2);  // and the live database untouched
        pg_admin("DROP DATABASE \"" + h + "\"");
    }

    // What an interrupted restore leaves carries concord's mark, and the next restore clears it.
    pg_admin("CREATE DATABASE \"" + helpers[0] + "\"");
    pg_admin("COMMENT ON DATABASE \"" + helpers[0] + "\" IS 'concord: incoming copy of a restore; safe to drop when no restore is running'");
    pg_admin("CREATE DATABASE \"" + helpers[1] + "\"");
    pg_admin("COMMENT ON DATABASE \"" + helpers[1] + "\" IS 'concord: replaced by a restore; safe to drop when no restore is running'");
    postgres_restore_snapshot(db, snap.name);
    CHECK(s.size() == 1);
    for (const auto& h : helpers) CHECK_FALSE(has_database(h));
    CHECK(*db.exec("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1",
                   {fresh.name()}).get(0, 0) == "");  // the restored database does not keep the helper's mark
}

TEST_CASE("a restore that fails while the database refuses connections reports its own error",
          "[postgres][store][restore]") {
    pg_fresh_database fresh("noreopen");
    postgres_database db(fresh.conninfo());
    const auto missing = pg_unique_name("no_such_snapshot");
    pg_admin("ALTER DATABASE \"" + fresh.name() + "\" ALLOW_CONNECTIONS false");  // reopen() will fail
    try {
        postgres_restore_snapshot(db, missing);
        FAIL("restored from a snapshot that does not exist");
    } catch (const store_error& e) {
        const std::string what = e.what();
        CHECK(what.find(missing) != std::string::npos);  // what went wrong, not only the reconnect
        CHECK(what.find("reopen()") != std::string::npos);
    }
    CHECK_FALSE(db.connected());
    pg_admin("ALTER DATABASE \"" + fresh.name() + "\" ALLOW_CONNECTIONS true");
    db.reopen();
    CHECK(db.name() == fresh.name());
}

TEST_CASE("pg_dump and pg_restore never see a secret on their command line", "[postgres][store][restore]") {
    // Stand-ins for the tools record what any local user could read (/proc/<pid>/cmdline) and what
    // only the same user could (the environment, the connection service file it names).
    temp_dir bin;
    for (const auto* tool : {"pg_dump", "pg_restore"}) {
        std::ofstream script(bin.path / tool);
        script << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$0.argv\"\n"
                  "tr '\\0' '\\n' < /proc/$$/cmdline > \"$0.cmdline\"\n"
                  "printf '%s' \"${PGPASSWORD-<unset>}\" > \"$0.password\"\n"
                  "printf '%s' \"${PGSERVICEFILE-}\" > \"$0.servicefile\"\n"
                  "if [ -n \"${PGSERVICEFILE-}\" ]; then cat \"$PGSERVICEFILE\" > \"$0.service\"; fi\n"
               << (std::string_view(tool) == "pg_dump"
                       ? "for a in \"$@\"; do case \"$a\" in --file=*) : > \"${a#--file=}\";; esac; done\nexit 0\n"
                       : "echo 'stand-in refuses' >&2; exit 3\n");
        script.close();
        std::filesystem::permissions(bin.path / tool, std::filesystem::perms::owner_all);
    }
    pg_fresh_database fresh("argv");
    // Trust authentication ignores the password; without SSL the client key's passphrase is unused.
    postgres_database db(fresh.conninfo() + " password='s3cret pw' sslpassword='key passphrase'");
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    const auto file = bin.path / "x.pgdump";
    postgres_dump(db, file, postgres_tools{bin.path});
    for (const auto* recorded : {"pg_dump.argv", "pg_dump.cmdline"}) {
        const auto argv = slurp(bin.path / recorded);
        INFO(argv);
        CHECK(argv.find("s3cret") == std::string::npos);
        CHECK(argv.find("passphrase") == std::string::npos);
        CHECK(argv.find("--dbname=service=concord") != std::string::npos);  // the connection is in the service file
    }
    auto service = slurp(bin.path / "pg_dump.service");
    CHECK(service.find("\ndbname=" + fresh.name() + "\n") != std::string::npos);
    CHECK(service.find("\nhost=127.0.0.1\n") != std::string::npos);
    CHECK(service.find("\nsslpassword=key passphrase\n") != std::string::npos);
    CHECK(service.find("s3cret") == std::string::npos);
    CHECK(slurp(bin.path / "pg_dump.password") == "s3cret pw");
    CHECK_FALSE(slurp(bin.path / "pg_dump.servicefile").empty());
    CHECK_FALSE(std::filesystem::exists(slurp(bin.path / "pg_dump.servicefile")));  // removed after the tool ran

    std::ofstream(file) << "PGDMP stand-in dump";  // the archive's magic: postgres_restore checks it first
    try {
        postgres_restore(db, file, postgres_tools{bin.path});
        FAIL("the stand-in pg_restore failed, the restore did not");
    } catch (const store_error& e) {
        CHECK(std::string(e.what()).find("stand-in refuses") != std::string::npos);
        CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
        CHECK(std::string(e.what()).find("passphrase") == std::string::npos);
    }
    for (const auto* recorded : {"pg_restore.argv", "pg_restore.cmdline"}) {
        const auto argv = slurp(bin.path / recorded);
        INFO(argv);
        CHECK(argv.find("s3cret") == std::string::npos);
        CHECK(argv.find("passphrase") == std::string::npos);
        CHECK(argv.find("--dbname=service=concord") != std::string::npos);
    }
    service = slurp(bin.path / "pg_restore.service");
    CHECK(service.find("\ndbname=" + concord::test::pg_restore_helpers(fresh.name())[0] + "\n") != std::string::npos);
    CHECK(service.find("\nsslpassword=key passphrase\n") != std::string::npos);
    CHECK(slurp(bin.path / "pg_restore.password") == "s3cret pw");
    CHECK_FALSE(std::filesystem::exists(slurp(bin.path / "pg_restore.servicefile")));  // removed on failure too
    CHECK(db.connected());
    CHECK(s.size() == 1);

    // The real tools connect through the service file.
    postgres_dump(db, file);
    s.put({0, "acme", "A-2", 2});
    postgres_restore(db, file);
    CHECK(s.size() == 1);
}

TEST_CASE("a lost connection is a store_error saying so, and reopen() resumes", "[postgres][store][connection]") {
    pg_fresh_database fresh("lost");
    postgres_database db(fresh.conninfo());
    postgres_store<order> s(db, "orders");
    s.put({0, "acme", "A-1", 1});
    postgres_database killer(fresh.conninfo());
    killer.exec("SELECT pg_terminate_backend($1)", {std::to_string(db.backend_pid())});
    try {
        (void)s.scan();
        FAIL("scan on a terminated connection succeeded");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::store_failure);
        CHECK(std::string(e.what()).find("lost") != std::string::npos);
        CHECK(std::string(e.what()).find("reopen()") != std::string::npos);
    }
    CHECK_FALSE(db.connected());
    CHECK_THROWS_AS(s.put({0, "acme", "A-2", 2}), store_error);
    db.reopen();
    CHECK(s.size() == 1);
}

TEST_CASE("connecting to a server that is not there is a store_error", "[postgres][store][connection]") {
    try {
        postgres_database db("host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2");
        FAIL("connected to nothing");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::store_failure);
        CHECK(std::string(e.what()).find("cannot connect") != std::string::npos);
    }
    CHECK_THROWS_AS(postgres_database("this is = = not a conninfo"), store_error);
}

TEST_CASE("the reconcile lock: one holder per database, freed by release or by a dead connection",
          "[postgres][lock]") {
    pg_fresh_database fresh("lock");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    {
        auto held = a.lock_reconcile();
        try {
            (void)b.lock_reconcile();
            FAIL("two holders of the reconcile lock");
        } catch (const error& e) {
            CHECK(e.code() == errc::concurrent_reconcile);
            CHECK(std::string(e.what()).find("another reconcile is running") != std::string::npos);
            CHECK(std::string(e.what()).find(std::to_string(a.backend_pid())) != std::string::npos);
        }
        CHECK_THROWS_AS(a.lock_reconcile(), error);  // not re-entrant on one connection either
        auto other_scope = b.lock_reconcile("another-integration");  // scopes are independent
    }
    { auto again = b.lock_reconcile(); }  // released
    auto held = a.lock_reconcile();
    postgres_database killer(fresh.conninfo());
    killer.exec("SELECT pg_terminate_backend($1)", {std::to_string(a.backend_pid())});
    // The server frees the lock of a dead session; wait until it noticed.
    for (int i = 0; i < 100; ++i) {
        if (killer.exec("SELECT 1 FROM pg_stat_activity WHERE pid = $1", {std::to_string(a.backend_pid())}).size() == 0) break;
        ::usleep(20000);
    }
    auto taken = b.lock_reconcile();
    held.release();  // harmless on the dead connection
    CHECK(taken.key() == postgres_database::reconcile_lock_key("concord"));
}
