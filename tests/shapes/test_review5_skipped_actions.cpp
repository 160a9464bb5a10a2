// An action the reconciler skips because its case changed between plan and apply (an orphan's
// cancel or a stale label's discard, when the host wrote an entity of that identity meanwhile)
// leaves its case "for the next plan". The puller and the mirror held their cursor only below the
// records of failed actions, so the cursor moved past the skipped record and no incremental pull or
// feed showed it again: the host's entity stayed unlinked from the remote object for good (only a
// full scan saw it). Skipped actions now hold the cursor as failed ones do.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/inbound/puller.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

namespace {

/// A witness that runs `during` once, when a reconcile marks itself in progress: after the plan,
/// before the actions, which is when a host that keeps working writes during a sync.
struct hooked_witness {
    concord::memory_witness inner;
    std::function<void()> during;
    std::optional<concord::witness_record> load() { return inner.load(); }
    void save(const concord::witness_record& r) {
        inner.save(r);
        if (!r.in_progress.empty() && during) std::exchange(during, nullptr)();
    }
};

bool linked(auto& store, const concord::key128& k) {
    for (const auto& l : store.links())
        if (l.identity == k) return true;
    return false;
}

} // namespace

TEST_CASE("inbound review5: a discard skipped because the host wrote the label meanwhile holds the cursor",
          "[inbound][cursor][review5]") {
    host_db db;
    concord::memory_remote<label> service;
    hooked_witness witness;
    using identity = concord::identity::natural_key<&label::tracking>;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(
        db.labels(), service, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 2, .inbound = true},
        identity{});
    rec.set_reference_check([&](const label& l) { return db.has_order(l.order_number); });
    concord::inbound::puller pull(rec);

    db.add_order("A-1");
    service.put_external({0, "A-1", "post", "TRK-1"});
    pull.pull(witness);
    const auto backup = db.backup();
    db.add_order("A-2");
    const auto rid = service.put_external({0, "A-2", "post", "TRK-2"}).remote_id;
    pull.pull(witness);
    db.restore(backup);  // order A-2 and its label are gone: the label at the service is stale

    // While the pull runs, the user redoes the order and the label arrives by another way.
    witness.during = [&] {
        db.add_order("A-2");
        db.labels().put({0, "A-2", "post", "TRK-2"});
    };
    auto r = pull.pull(witness);
    CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] == 1);
    REQUIRE(r.rep.actions.size() == 1);
    CHECK(r.rep.actions[0].outcome == "skipped");
    CHECK(service.current(rid)->state == concord::remote_state::active);  // not discarded: the host has it now
    CHECK(r.held == 1);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(1));  // below the skipped label (seq 2)

    auto again = pull.pull(witness);  // lists it again, and links the host's label to it
    CHECK(again.listing.rows == 1);
    CHECK(linked(db.labels(), identity{}.key(label{0, "A-2", "post", "TRK-2"})));
    CHECK(again.held == 0);
    CHECK(pull.cursor() == std::optional<std::uint64_t>(2));
    CHECK(db.labels().size() == 2);
    CHECK(service.active_count() == 2);
}

TEST_CASE("mirror review5: an orphan's removal skipped because the host re-created the row holds the cursor",
          "[mirror][cursor][review5]") {
    using sku_identity = concord::identity::natural_key<&product::sku>;
    temp_dir dir;
    concord::mirror::sqlite_replica<product> replica(dir / "replica.db", "products");
    concord::memory_store<product> host;
    hooked_witness witness;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(
        host, replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}, sku_identity{});
    concord::mirror::mirror m(rec);
    const product two{0, "SKU-2", "two", 200};

    host.put({0, "SKU-1", "one", 100});
    m.sync(witness, concord::mirror::method::full_scan);
    const auto before = host.snapshot();
    host.put(two);
    m.sync(witness, concord::mirror::method::full_scan);
    REQUIRE(replica.active_count() == 2);
    host.restore(before);  // SKU-2's row at the replica (seq 2) is an orphan now
    REQUIRE(m.cursor() == std::optional<std::uint64_t>(1));

    witness.during = [&] { host.put(two); };  // the user redoes SKU-2 while the sync runs
    auto r = m.sync(witness, concord::mirror::method::change_feed);
    REQUIRE(r.passes.size() == 1);
    REQUIRE(r.passes[0].rep.actions.size() >= 1);
    CHECK(r.passes[0].rep.actions[0].outcome == "skipped");
    CHECK(replica.active_count() == 2);  // not removed: the host has SKU-2 again
    CHECK(r.held == 1);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(1));

    auto again = m.sync(witness, concord::mirror::method::change_feed);  // shows the row again: linked
    CHECK(again.passes[0].listing.rows >= 1);
    CHECK(linked(host, sku_identity{}.key(two)));
    CHECK(again.held == 0);
    CHECK(m.cursor() == std::optional<std::uint64_t>(replica.head()));
    CHECK(replica.active_count() == 2);
}
