// A sync after a restore runs two passes in one session: the change feed, then checksums. When
// someone put a row back between them, the checksums pass pushed the same update again under the
// same idempotency key (same generation, attempt and fingerprints): the replica answered with a
// replay and wrote nothing, the report said "done", the row kept the other writer's content, and the
// cursor, counting that replay as one of the sync's own writes, moved past the other writer's write.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/memory/witness.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

TEST_CASE("mirror: an update pushed again in the same sync after someone undid it is written", "[mirror][restore]") {
    using replica_t = concord::mirror::sqlite_replica<product>;
    using sku_identity = concord::identity::natural_key<&product::sku>;
    temp_dir dir;
    host_db db;
    replica_t replica{dir / "replica.db", "products"};
    replica_t other{dir / "replica.db", "products"};  // another writer, on its own connection
    concord::memory_witness witness;
    using rec_t = concord::reconciler<product, host_db::product_store, replica_t, sku_identity, concord::policy::trust_local>;
    rec_t rec{db.products(), replica, {.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50}};
    concord::mirror::mirror<rec_t> mirror{rec};

    db.products().put({0, "SKU-1", "item 1", 100});
    db.products().put({0, "SKU-2", "item 2", 100});
    mirror.sync(witness);
    const auto backup = db.backup();
    auto p = db.products().scan()[0];
    REQUIRE(p.sku == "SKU-1");
    p.price_cents = 200;
    db.products().put(p);
    mirror.sync(witness);  // the replica holds 200
    db.restore(backup);    // the host is back at 100: the next sync rewinds the replica

    std::string rid;
    for (const auto& r : replica.active())
        if (r.value.sku == "SKU-1") rid = r.remote_id;
    REQUIRE(!rid.empty());
    std::optional<std::uint64_t> foreign_seq;
    rec.set_step_hook([&](std::string_view what) {
        if (!foreign_seq && what.rfind("after update_remote", 0) == 0)  // the feed pass pushed 100
            foreign_seq = other.update(rid, {0, "SKU-1", "item 1", 200}, "someone-else-1").seq;  // and 200 is back
    });

    auto res = mirror.sync(witness);
    REQUIRE(res.passes.size() == 2);
    REQUIRE(foreign_seq);
    CHECK(res.passes[0].rep.actions.at(0).idempotency_key != res.passes[1].rep.actions.at(0).idempotency_key);
    std::optional<std::int64_t> price;
    for (const auto& r : replica.active())
        if (r.remote_id == rid) price = r.value.price_cents;
    CHECK(price == std::optional<std::int64_t>(100));  // the host's value, as the report says
    REQUIRE(res.cursor_after);
    CHECK(*res.cursor_after < *foreign_seq);  // the other writer's write is not passed unseen

    rec.set_step_hook({});
    auto again = mirror.sync(witness, concord::mirror::method::checksums);
    CHECK(again.actions() == 0);  // nothing left to do
}
