// A mirror sync of another database (the witness remembers another lineage: the user opened another
// database file, or restored one to before concord's first sync) wrote that database's rows into the
// replica of the first one and asked about the first one's rows: the copy then mirrored neither. Without
// the user's consent (timeline_session::adopt_database) it is errc::blocked before anything is read or
// written, as the payments gateway refuses a different database.

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

} // namespace

TEST_CASE("mirror: a sync of another database is blocked until the user adopts it", "[mirror][timeline]") {
    temp_dir dir;
    host_db a, b;
    replica_t replica{dir / "replica.db", "products"};
    concord::memory_witness witness;  // the installation's witness, shared by whatever database is open
    const concord::reconciler_options opts{.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50};
    rec_t ra{a.products(), replica, opts};
    rec_t rb{b.products(), replica, opts};
    concord::mirror::mirror<rec_t> ma{ra}, mb{rb};
    for (int i = 0; i < 5; ++i) a.products().put({0, "A-" + std::to_string(i), "item", 100 + i});
    for (int i = 0; i < 3; ++i) b.products().put({0, "B-" + std::to_string(i), "item", 200 + i});
    ma.sync(witness);
    REQUIRE(sku_prices(replica) == sku_prices(a.products()));
    const auto head = replica.head();
    const auto saved = witness.load();

    for (auto m : {concord::mirror::method::automatic, concord::mirror::method::checksums,
                   concord::mirror::method::change_feed, concord::mirror::method::full_scan}) {
        INFO(to_string(m));
        std::optional<concord::errc> code;
        std::string what;
        try {
            mb.sync(witness, m);
        } catch (const concord::error& e) {
            code = e.code();
            what = e.what();
        }
        CHECK(code == concord::errc::blocked);
        CHECK(what.find("adopt_database") != std::string::npos);
        CHECK(replica.head() == head);  // nothing written
        CHECK(sku_prices(replica) == sku_prices(a.products()));
        CHECK(witness.load() == saved);
        CHECK_FALSE(b.products().load_checkpoint());
    }

    SECTION("a dry run plan still shows what a sync would do") {
        auto s = concord::begin_session(witness, b.products());
        concord::mirror::pass_result pr;
        auto p = mb.plan(s, concord::mirror::method::full_scan, pr);
        CHECK(p.count(concord::case_kind::local_only) == 3);
        CHECK(replica.head() == head);
    }
    SECTION("adopted, the replica becomes the new database's") {
        auto s = concord::begin_session(witness, b.products());
        REQUIRE(s.kind() == concord::verdict::different_database);
        s.adopt_database();
        mb.sync(s);
        s.commit();
        CHECK(sku_prices(replica) == sku_prices(b.products()));
        auto next = mb.sync(witness);
        CHECK(next.timeline == concord::verdict::same_timeline);
        CHECK(next.actions() == 0);
    }
}
