// The replica's range checksums summed the row hashes (h1, h2) the replica stored when concord wrote
// each row. A content column edited by hand (the sqlite3 shell, a report tool writing to the copy)
// left those hashes as they were: method::checksums, documented to find "every difference, whoever
// made it", reported the replica in sync while a full scan found the row diverged. The replica now
// marks a row whose content changes outside its own writes, and rehashes it from what it holds
// before it answers checksums.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "fixture.hpp"

#include <concord/memory/witness.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

namespace {

using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;
using rec_t = concord::reconciler<product, host_db::product_store, replica_t, sku_identity, concord::policy::trust_local>;

/// Runs `sql` on a connection of its own to the replica file, as another tool would.
void edit_by_hand(const std::filesystem::path& file, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
    INFO((msg ? msg : ""));
    sqlite3_free(msg);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

std::map<std::string, std::int64_t> prices(replica_t& r) {
    std::map<std::string, std::int64_t> out;
    for (const auto& rec : r.active()) out[rec.value.sku] = rec.value.price_cents;
    return out;
}
std::map<std::string, std::int64_t> prices(host_db::product_store& s) {
    std::map<std::string, std::int64_t> out;
    for (const auto& e : s.scan()) out[e.sku] = e.price_cents;
    return out;
}

struct world {
    temp_dir dir;
    host_db db;
    replica_t replica{dir / "replica.db", "products"};
    concord::memory_witness witness;
    rec_t rec{db.products(), replica, {.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50}};
    concord::mirror::mirror<rec_t> mirror{rec};

    world() {
        for (int i = 0; i < 60; ++i) db.products().put({0, "SKU-" + std::to_string(i), "item", 100 + i});
        mirror.sync(witness);
        REQUIRE(prices(replica) == prices(db.products()));
    }
    std::string rid_of(const std::string& sku) {
        for (const auto& r : replica.active())
            if (r.value.sku == sku) return r.remote_id;
        return {};
    }
};

std::size_t diverged(const concord::mirror::sync_result& r) {
    std::size_t n = 0;
    for (const auto& p : r.passes) n += p.rep.counts[static_cast<std::size_t>(concord::case_kind::diverged)];
    return n;
}

} // namespace

TEST_CASE("mirror: a content column edited by hand is found by checksums", "[mirror][checksums]") {
    world w;
    const auto rid = w.rid_of("SKU-17");
    REQUIRE(!rid.empty());
    edit_by_hand(w.dir / "replica.db", "UPDATE products SET c_price_cents = 1 WHERE remote_id = '" + rid + "'");
    REQUIRE(prices(w.replica)["SKU-17"] == 1);

    auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(diverged(r) == 1);
    CHECK(r.actions() == 1);
    CHECK(prices(w.replica) == prices(w.db.products()));

    auto again = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(again.actions() == 0);
    CHECK(again.passes.at(0).bisect.differing_leaves == 0);
}

TEST_CASE("mirror: a hand edit and a host restore are both rewound by the automatic sync", "[mirror][checksums][restore]") {
    world w;
    const auto backup = w.db.backup();
    auto e = w.db.products().scan().at(3);
    e.price_cents = 5000;
    w.db.products().put(e);
    w.mirror.sync(w.witness);
    w.db.restore(backup);
    const auto rid = w.rid_of("SKU-40");
    REQUIRE(!rid.empty());
    edit_by_hand(w.dir / "replica.db", "UPDATE products SET c_name = 'edited' WHERE remote_id = '" + rid + "'");

    auto r = w.mirror.sync(w.witness);
    CHECK(r.timeline == concord::verdict::restored);
    CHECK(diverged(r) == 2);
    CHECK(prices(w.replica) == prices(w.db.products()));
    bool name_back = false;
    for (const auto& rec : w.replica.active())
        if (rec.value.sku == "SKU-40") name_back = rec.value.name == "item";
    CHECK(name_back);
}

TEST_CASE("mirror: a row edited by hand and back costs no work", "[mirror][checksums]") {
    world w;
    const auto rid = w.rid_of("SKU-5");
    edit_by_hand(w.dir / "replica.db", "UPDATE products SET c_name = 'x' WHERE remote_id = '" + rid + "'");
    edit_by_hand(w.dir / "replica.db", "UPDATE products SET c_name = 'item' WHERE remote_id = '" + rid + "'");
    auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(r.actions() == 0);
    CHECK(r.passes.at(0).bisect.differing_leaves == 0);
    // An update that changes nothing is not an edit either.
    edit_by_hand(w.dir / "replica.db", "UPDATE products SET c_price_cents = c_price_cents");
    auto again = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(again.actions() == 0);
    CHECK(again.passes.at(0).bisect.round_trips == 1);
}

TEST_CASE("mirror: a hand edit the member cannot hold stops checksums with bad_page", "[mirror][checksums][bad_input]") {
    world w;
    const auto rid = w.rid_of("SKU-9");
    edit_by_hand(w.dir / "replica.db", "UPDATE products SET c_price_cents = 'cheap' WHERE remote_id = '" + rid + "'");
    try {
        w.mirror.sync(w.witness, concord::mirror::method::checksums);
        FAIL("the sync reported nothing");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::bad_page);
        CHECK(std::string(e.what()).find(rid) != std::string::npos);
    }
}
