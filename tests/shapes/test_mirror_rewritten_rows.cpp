// A replica row rewritten behind concord's back with another row's natural key (its stamp names one
// identity, its content another): partial listings must not make either identity look gone.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/cursor.hpp>
#include <concord/identity.hpp>
#include <concord/mirror/bisect.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

using namespace shapes_test;

namespace {

using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;

product prod(int i, std::int64_t price = 100) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), price}; }

struct rewrite_world {
    temp_dir dir;
    host_db db;
    std::int64_t clock = 1'700'000'000;
    replica_t replica{dir / "replica.db", "products", [this] { return clock; }};
    concord::memory_witness witness;
    using rec_t = concord::reconciler<product, host_db::product_store, replica_t, sku_identity, concord::policy::trust_local>;
    rec_t rec{db.products(), replica, {.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50}};
    concord::mirror::mirror<rec_t> mirror{rec, {.now = [this] { return clock; }, .bisect = {}}};
};

std::string first_digit(int i) { return sku_identity{}.key(prod(i)).hex().substr(0, 1); }


std::size_t creates(const concord::mirror::sync_result& r) {
    std::size_t n = 0;
    for (const auto& p : r.passes)
        for (const auto& a : p.rep.actions)
            if (a.action == "create_remote" && a.outcome == "done") ++n;
    return n;
}

} // namespace

// A row rewritten by another writer so that its content carries another host row's natural key:
// its claimed identity is K1, its content identity K2. A full scan joins it under K2 next to K2's
// own linked row, which is in sync, and asks the user about K1 only. The checksums method listed
// only the differing leaf (K1's range), and the change feed only K1's rows, but both called their
// listing complete: K2 looked as if its row were gone (local_only, put to the user as "creating it
// would make another"), though its row is there and unchanged.
TEST_CASE("mirror: a row rewritten with another row's key does not make that row look gone",
          "[mirror]") {
    for (const auto m : {concord::mirror::method::full_scan, concord::mirror::method::checksums,
                         concord::mirror::method::change_feed}) {
        DYNAMIC_SECTION("method " << concord::mirror::to_string(m)) {
            rewrite_world w;
            // Two host rows whose identities lie in different top-level ranges.
            int a = 1, b = 2;
            while (first_digit(b) == first_digit(a)) ++b;
            w.db.products().put(prod(a));
            w.db.products().put(prod(b));
            w.mirror.sync(w.witness);
            REQUIRE(w.replica.active_count() == 2);
            // Another writer rewrites a's row with b's natural key (a new seq: every method sees it).
            for (const auto& row : w.replica.active())
                if (row.value.sku == prod(a).sku) {
                    auto t = row.value;
                    t.sku = prod(b).sku;
                    t.name = "rewritten";
                    w.replica.update(row.remote_id, t, "someone-else-1");
                }
            auto r = w.mirror.sync(w.witness, m);
            REQUIRE(r.passes.size() == 1);
            const auto& rep = r.passes[0].rep;
            CHECK(rep.counts[static_cast<std::size_t>(concord::case_kind::in_sync)] == 1);   // b
            CHECK(rep.counts[static_cast<std::size_t>(concord::case_kind::local_only)] == 1);  // a
            CHECK(rep.counts[static_cast<std::size_t>(concord::case_kind::foreign)] == 1);     // the rewritten row
            REQUIRE(rep.decisions.size() == 1);
            CHECK(rep.decisions[0].identity == sku_identity{}.key(prod(a)).hex());
            CHECK(creates(r) == 0);
            CHECK(w.replica.active_count() == 2);
        }
    }
}

// The same rewritten row in a partial listing (the creation-time bounded orphan scan): the row
// stamped for a joins b by its content, b's own row is not listed, so the row is left out with an
// errc::partial_listing problem. It was left out of a's identity too, so a, whose link names that
// very row, looked as if its row were gone: a create_remote was planned (no decision), though the
// row still exists and the full scan puts a to the user.
TEST_CASE("mirror: a bounded orphan scan does not re-create a row it left out as unsettled",
          "[mirror][scan]") {
    rewrite_world w;
    int a = 1, b = 2;
    w.db.products().put(prod(b));
    w.mirror.sync(w.witness);
    w.clock += 3600;  // a's row is created after the scan's bound, b's before it
    w.db.products().put(prod(a));
    w.mirror.sync(w.witness);
    for (const auto& row : w.replica.active())
        if (row.value.sku == prod(a).sku) {
            auto t = row.value;
            t.sku = prod(b).sku;
            w.replica.update(row.remote_id, t, "someone-else-1");
        }
    auto session = concord::begin_session(w.witness, w.db.products());
    auto p = concord::plan_orphans_since(w.rec, session.status(), session.database_adopted(), w.clock - 10);
    std::size_t creates_planned = 0;
    for (const auto& act : p.actions)
        if (act.kind == concord::action_kind::create_remote) ++creates_planned;
    CHECK(creates_planned == 0);
    CHECK(p.count(concord::case_kind::local_only) == 0);
    CHECK(p.problems.size() == 2);  // b (its linked row not shown) and a (its row left out with b)
}
