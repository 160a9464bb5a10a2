// reconcile() and apply() of a reconciler that is not in inbound mode write the plan's cursor, the
// high-water mark a mirror's change feed continues from (the mirror shares the reconciler's
// cursor_name()). They wrote the highest seq listed, past a record whose action failed or was
// skipped and past one whose case waits for a decision: the next change feed never listed it again,
// so the replica kept a row the host does not have (a failed removal never retried, a question never
// asked again) until a full scan. The cursor is now kept below those records, as the mirror and the
// inbound puller keep theirs.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/cursor.hpp>
#include <concord/identity.hpp>
#include <concord/memory/witness.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

namespace {

using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;

product prod(int i) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100}; }

/// A replica whose removals can be refused.
struct refusing_replica : replica_t {
    using replica_t::replica_t;
    bool fail_cancel = false;
    concord::remote_record<product> cancel(std::string_view rid, const std::string& key) {
        if (fail_cancel) throw concord::remote_error(concord::errc::remote_permanent, "injected: cancel refused");
        return replica_t::cancel(rid, key);
    }
};

std::map<std::string, std::string> replica_view(replica_t& r) {
    std::map<std::string, std::string> out;
    for (const auto& rec : r.active()) out[rec.value.sku] = concord::fingerprint(rec.value).hex();
    return out;
}
template <class Store>
std::map<std::string, std::string> host_view(Store& s) {
    std::map<std::string, std::string> out;
    for (const auto& e : s.scan()) out[e.sku] = concord::fingerprint(e).hex();
    return out;
}

/// A host mirrored by trust_local, with a row the replica holds and the restored host does not.
struct world {
    temp_dir dir;
    host_db db;
    std::int64_t clock = 1'700'000'000;
    refusing_replica replica{dir / "replica.db", "products", [this] { return clock; }};
    concord::memory_witness witness;
    concord::mirror::mirror_options mopts{.now = [this] { return clock; }, .bisect = {}};
    const concord::reconciler_options ropts{.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50};

    template <class Reconciler>
    std::uint64_t orphan_after_restore(Reconciler& rec) {
        concord::mirror::mirror<Reconciler> m(rec, mopts);
        for (int i = 0; i < 20; ++i) db.products().put(prod(i));
        m.sync(witness);
        auto backup = db.backup();
        db.products().put(prod(900));
        clock += 60;
        m.sync(witness);
        db.restore(backup);  // the row of SKU-900 is an orphan in the replica now
        return replica.head();
    }
};

} // namespace

TEST_CASE("reconcile() keeps the cursor below a record whose action failed: the next change feed retries it",
          "[mirror][cursor][restore]") {
    world w;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(w.db.products(), w.replica, w.ropts,
                                                                       sku_identity{});
    const auto head = w.orphan_after_restore(rec);

    w.replica.fail_cancel = true;
    auto rep = rec.reconcile(w.witness);  // a full listing, by the reconciler itself
    CHECK(rep.failed() == 1);             // the orphan's removal was refused
    concord::mirror::mirror<decltype(rec)> m(rec, w.mopts);
    REQUIRE(m.cursor());
    CHECK(*m.cursor() < head);  // not past the orphan's row

    w.replica.fail_cancel = false;
    auto r = m.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(r.actions() == 1);  // the removal, retried
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
}

TEST_CASE("reconcile() keeps the cursor below a case that waits for a decision: the next change feed asks again",
          "[mirror][cursor][restore]") {
    world w;
    auto mirrored = concord::make_reconciler<concord::policy::trust_local>(w.db.products(), w.replica, w.ropts,
                                                                            sku_identity{});
    const auto head = w.orphan_after_restore(mirrored);

    auto rec = concord::make_reconciler<concord::policy::ask_user>(w.db.products(), w.replica, w.ropts,
                                                                    sku_identity{});
    auto rep = rec.reconcile(w.witness);
    CHECK(rep.decisions.size() == 1);  // the orphan, asked about
    concord::mirror::mirror<decltype(rec)> m(rec, w.mopts);
    REQUIRE(m.cursor());
    CHECK(*m.cursor() < head);

    auto r = m.sync(w.witness, concord::mirror::method::change_feed);
    REQUIRE(r.passes.size() == 1);
    CHECK(r.passes[0].rep.decisions.size() == 1);  // asked again, not forgotten
    CHECK(r.held == 1);
}

TEST_CASE("reconcile() with nothing held still moves the cursor to the highest seq listed",
          "[mirror][cursor][restore]") {
    world w;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(w.db.products(), w.replica, w.ropts,
                                                                       sku_identity{});
    const auto head = w.orphan_after_restore(rec);
    auto rep = rec.reconcile(w.witness);
    CHECK(rep.failed() == 0);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
    concord::mirror::mirror<decltype(rec)> m(rec, w.mopts);
    CHECK(m.cursor() == std::optional<std::uint64_t>(head));  // the orphan's row, settled
}

TEST_CASE("reconcile() keeps the cursor below a row set apart from a case it asks about",
          "[mirror][cursor]") {
    // Another writer rewrites the replica row of SKU-1 with a key no host row has: its stamp still
    // names SKU-1, its content another identity, so it is not provably ours. SKU-1 is local_only
    // with that row set apart, and asked about; the case holds no record of its own.
    world w;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(w.db.products(), w.replica, w.ropts,
                                                                       sku_identity{});
    concord::mirror::mirror<decltype(rec)> m(rec, w.mopts);
    for (int i = 0; i < 5; ++i) w.db.products().put(prod(i));
    m.sync(w.witness);
    for (const auto& row : w.replica.active())
        if (row.value.sku == prod(1).sku) {
            auto t = row.value;
            t.sku = "SKU-77";
            w.replica.update(row.remote_id, t, "someone-else-1");
        }
    const auto head = w.replica.head();

    auto rep = rec.reconcile(w.witness);
    REQUIRE(rep.decisions.size() == 1);  // SKU-1: its row is listed, but not as ours
    REQUIRE(m.cursor());
    CHECK(*m.cursor() < head);  // not past the rewritten row

    auto r = m.sync(w.witness, concord::mirror::method::change_feed);
    REQUIRE(r.passes.size() == 1);
    CHECK(r.passes[0].rep.decisions.size() == 1);  // asked again, not forgotten
}
