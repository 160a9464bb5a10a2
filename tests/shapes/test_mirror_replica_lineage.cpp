// Two databases of one installation (the same owner tag), each with its witness beside it, mirrored
// to one replica: the second database's first sync (first_run, its witness is new) took every row
// the first one's mirror wrote for an orphan of its own and removed them all (trust_local), and the
// first database's next sync did the same to the second's rows. The replica now keeps the lineage of
// the database it mirrors; a sync of a database with another lineage is errc::blocked before
// anything is written, until the replica is released (forget_lineage) or the session adopted.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"
#include "mirror_rows.hpp"

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

std::optional<concord::errc> sync_error(concord::mirror::mirror<rec_t>& m, concord::memory_witness& w,
                                        concord::mirror::method how = concord::mirror::method::automatic) {
    try {
        m.sync(w, how);
        return std::nullopt;
    } catch (const concord::error& e) {
        return e.code();
    }
}

/// The replica's lineage and its release, through helpers so that this file also builds against
/// headers without them (to count what fails there).
template <class R>
std::optional<std::string> lineage_of(R& r) {
    if constexpr (requires { r.lineage(); }) return r.lineage();
    else return std::nullopt;
}
template <class R>
void release(R& r) {
    if constexpr (requires { r.forget_lineage(); }) r.forget_lineage();
}

} // namespace

TEST_CASE("mirror: another database's first sync does not take the replica of the first", "[mirror][timeline]") {
    temp_dir dir;
    host_db a, b;
    replica_t replica{dir / "replica.db", "products"};
    concord::memory_witness wa, wb;  // each database's witness beside it
    const concord::reconciler_options opts{.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50};
    rec_t ra{a.products(), replica, opts};
    rec_t rb{b.products(), replica, opts};
    concord::mirror::mirror<rec_t> ma{ra}, mb{rb};
    for (int i = 0; i < 5; ++i) a.products().put({0, "A-" + std::to_string(i), "item", 100 + i});
    for (int i = 0; i < 3; ++i) b.products().put({0, "B-" + std::to_string(i), "item", 200 + i});
    ma.sync(wa);
    REQUIRE(sku_prices(replica) == sku_prices(a.products()));
    REQUIRE(a.products().load_checkpoint());
    CHECK(lineage_of(replica) == std::optional<std::string>(a.products().load_checkpoint()->lineage));
    const auto head = replica.head();

    for (auto m : {concord::mirror::method::automatic, concord::mirror::method::checksums,
                   concord::mirror::method::change_feed, concord::mirror::method::full_scan}) {
        INFO(to_string(m));
        CHECK(sync_error(mb, wb, m) == concord::errc::blocked);
        CHECK(replica.head() == head);  // nothing written
        CHECK(sku_prices(replica) == sku_prices(a.products()));
    }
    CHECK(sync_error(ma, wa) == std::nullopt);  // the first database syncs as before

    SECTION("a restore of the first database still rewinds its replica") {
        const auto backup = a.backup();
        a.products().put({0, "A-new", "item", 1});
        ma.sync(wa);
        a.restore(backup);
        auto r = ma.sync(wa);
        CHECK(r.timeline == concord::verdict::restored);
        CHECK(sku_prices(replica) == sku_prices(a.products()));
    }
    SECTION("released, the replica becomes the second database's, and the first is then refused") {
        release(replica);
        CHECK_FALSE(lineage_of(replica));
        CHECK(sync_error(mb, wb) == std::nullopt);
        // Its first run removes nothing on its own word (the first database's rows may be another
        // database's: they are put to the user); the replica is bound to it all the same, and its next
        // sync, no longer a first run, makes the replica its copy.
        CHECK(sku_prices(replica).size() == 8);
        CHECK(lineage_of(replica) == std::optional<std::string>(b.products().load_checkpoint()->lineage));
        CHECK(sync_error(mb, wb) == std::nullopt);
        CHECK(sku_prices(replica) == sku_prices(b.products()));
        const auto head_b = replica.head();
        CHECK(sync_error(ma, wa) == concord::errc::blocked);
        CHECK(replica.head() == head_b);
        CHECK(sku_prices(replica) == sku_prices(b.products()));
    }
    SECTION("the lineage survives reopening the replica file") {
        replica_t again{dir / "replica.db", "products"};
        CHECK(lineage_of(again) == lineage_of(replica));
    }
}
