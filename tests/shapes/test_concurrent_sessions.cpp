// Two sessions on one SQLite host file at once: two processes, stood for by two connections (flock
// locks belong to the open file, so two connections of one process exclude each other as two
// processes do). Process B runs start to finish while process A is between its plan and its local
// commit (a step hook marks that moment; two processes started together hit it without any hook).
// B must stop with errc::concurrent_reconcile, having done nothing; before the store's reconcile
// lock was taken by the shapes, two inbound pulls imported every label twice (duplicate_local rows
// that never went away).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/identity.hpp>
#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

using namespace shapes_test;

namespace {

using label_rec = concord::reconciler<label, concord::sqlite_store<label>, concord::memory_remote<label>,
                                      concord::identity::natural_key<&label::tracking>, concord::policy::trust_local>;
using product_replica = concord::mirror::sqlite_replica<product>;
using product_identity = concord::identity::natural_key<&product::sku>;
using product_rec = concord::reconciler<product, concord::sqlite_store<product>, product_replica, product_identity,
                                        concord::policy::trust_local>;
using product_remote_rec = concord::reconciler<product, concord::sqlite_store<product>, concord::memory_remote<product>,
                                               product_identity, concord::policy::trust_local>;

/// The code of the concord::error `f` throws; nullopt when it throws nothing.
template <class F>
std::optional<concord::errc> code_of(F&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    return std::nullopt;
}

/// One "process": its own connection, store and witness object on the shared host file.
template <class E>
struct process {
    concord::sqlite_database db;
    concord::sqlite_store<E> store;
    concord::file_witness witness;
    process(const std::filesystem::path& path, const std::string& table)
        : db(path), store(db, table), witness(concord::file_witness::beside(path)) {}
};

template <class E>
std::map<std::string, int> counts(const std::vector<E>& rows, std::string E::*member) {
    std::map<std::string, int> n;
    for (const auto& e : rows) ++n[e.*member];
    return n;
}

/// The replica's active rows, per sku.
std::map<std::string, int> replica_skus(const product_replica& r) {
    std::map<std::string, int> n;
    for (const auto& rec : r.active()) ++n[rec.value.sku];
    return n;
}

} // namespace

TEST_CASE("inbound: a pull started while another process's pull is in its session stops with concurrent_reconcile",
          "[inbound][lock]") {
    temp_dir dir;
    const auto path = dir / "host.db";
    concord::memory_remote<label> svc;
    for (int i = 0; i < 4; ++i) svc.put_external({0, "A-" + std::to_string(i), "post", "TRK-" + std::to_string(i)});
    process<label> a(path, "labels"), b(path, "labels");
    const concord::reconciler_options o{.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 10, .inbound = true};
    label_rec ra(a.store, svc, o), rb(b.store, svc, o);
    concord::inbound::puller pa(ra), pb(rb);

    std::optional<concord::errc> b_code;
    bool fired = false;
    ra.set_step_hook([&](std::string_view at) {
        if (at != "before local commit" || fired) return;
        fired = true;
        b_code = code_of([&] { pb.pull(b.witness); });  // process B, start to finish
        CHECK(b.store.scan().empty());                   // B wrote nothing
    });
    auto first = pa.pull(a.witness);
    REQUIRE(fired);
    CHECK(b_code == concord::errc::concurrent_reconcile);
    CHECK(first.cursor_after == 4u);
    const auto n = counts(a.store.scan(), &label::tracking);
    CHECK(n == std::map<std::string, int>{{"TRK-0", 1}, {"TRK-1", 1}, {"TRK-2", 1}, {"TRK-3", 1}});

    // B tries again once A is done: nothing left to import, no duplicate, nothing for the user.
    ra.set_step_hook({});
    auto again = pb.pull(b.witness);
    CHECK(again.rep.timeline == concord::verdict::same_timeline);
    CHECK(again.rep.actions.empty());
    auto rescan = pb.full_rescan(b.witness);
    CHECK(rescan.rep.actions.empty());
    CHECK(rescan.rep.problems.empty());
    CHECK(b.store.scan().size() == 4);
}

TEST_CASE("inbound: a full re-scan started during another process's pull stops with concurrent_reconcile",
          "[inbound][lock]") {
    temp_dir dir;
    const auto path = dir / "host.db";
    concord::memory_remote<label> svc;
    for (int i = 0; i < 3; ++i) svc.put_external({0, "A-" + std::to_string(i), "post", "TRK-" + std::to_string(i)});
    process<label> a(path, "labels"), b(path, "labels");
    const concord::reconciler_options o{.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 10, .inbound = true};
    label_rec ra(a.store, svc, o), rb(b.store, svc, o);
    concord::inbound::puller pa(ra), pb(rb);
    std::optional<concord::errc> b_code, reconcile_code;
    ra.set_step_hook([&](std::string_view at) {
        if (at != "before local commit" || b_code) return;
        b_code = code_of([&] { pb.full_rescan(b.witness); });
        reconcile_code = code_of([&] { rb.reconcile(b.witness); });  // the reconciler's own session too
    });
    pa.pull(a.witness);
    CHECK(b_code == concord::errc::concurrent_reconcile);
    CHECK(reconcile_code == concord::errc::concurrent_reconcile);
    CHECK(a.store.scan().size() == 3);
}

TEST_CASE("mirror: a sync started while another process's sync is in its session stops with concurrent_reconcile",
          "[mirror][lock]") {
    temp_dir dir;
    const auto path = dir / "host.db";
    process<product> a(path, "products"), b(path, "products");
    for (int i = 0; i < 5; ++i) a.store.put({0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100 + i});
    product_replica replica_a(dir / "replica.db", "products"), replica_b(dir / "replica.db", "products");
    const concord::reconciler_options o{.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50};
    product_rec ra(a.store, replica_a, o), rb(b.store, replica_b, o);
    concord::mirror::mirror ma(ra), mb(rb);

    std::optional<concord::errc> b_code;
    ra.set_step_hook([&](std::string_view at) {
        if (at != "before local commit" || b_code) return;
        b_code = code_of([&] { mb.sync(b.witness); });
        CHECK(b.store.links().empty());  // B wrote nothing
    });
    auto first = ma.sync(a.witness);
    CHECK(b_code == concord::errc::concurrent_reconcile);
    CHECK(first.actions() == 5);
    CHECK(replica_a.active_count() == 5);
    const auto skus = replica_skus(replica_a);
    CHECK(skus.size() == 5);
    for (const auto& [sku, k] : skus) CHECK(k == 1);

    ra.set_step_hook({});
    auto again = mb.sync(b.witness);
    CHECK(again.timeline == concord::verdict::same_timeline);
    CHECK(again.actions() == 0);
    CHECK(replica_b.active_count() == 5);
}

TEST_CASE("reconciler: a reconcile started while another process's reconcile is in its session stops with "
          "concurrent_reconcile", "[lock]") {
    temp_dir dir;
    const auto path = dir / "host.db";
    process<product> a(path, "products"), b(path, "products");
    for (int i = 0; i < 3; ++i) a.store.put({0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100 + i});
    concord::memory_remote<product> remote;
    const concord::reconciler_options o{.owner = {"host-1", "products"}, .entity_name = "product"};
    product_remote_rec ra(a.store, remote, o), rb(b.store, remote, o);
    std::optional<concord::errc> b_code;
    ra.set_step_hook([&](std::string_view at) {
        if (at != "before local commit" || b_code) return;
        b_code = code_of([&] { rb.reconcile(b.witness); });
    });
    ra.reconcile(a.witness);
    CHECK(b_code == concord::errc::concurrent_reconcile);
    CHECK(remote.stats().creates == 3);  // once each
    CHECK(remote.active_count() == 3);
    ra.set_step_hook({});
    CHECK(rb.reconcile(b.witness).actions.empty());
}
