// remote_witness: the witness record kept in the metadata of marker objects on a memory_remote, and
// a real SQLite restore detected through it after the witness file beside the database was lost.

#include <string>

#include <catch2/catch.hpp>

#include <concord/memory/store.hpp>
#include <concord/remote_witness.hpp>

#include "../support/store_conformance.hpp"
#include "sqlite_fixture.hpp"

using concord::conformance::item;
using concord::conformance::make_item;
using remote_t = concord::memory_remote<item>;
using witness_t = concord::remote_witness<remote_t>;

static_assert(concord::witness<witness_t>);

namespace {
const std::string lin_a = "0123456789abcdef0123456789abcdef";
const std::string lin_b = "fedcba9876543210fedcba9876543210";

concord::witness_record record(std::string lineage, std::uint64_t gen, std::string failure = {}) {
    concord::witness_record r;
    r.lineage = std::move(lineage);
    r.generation = gen;
    r.failure = std::move(failure);
    return r;
}
} // namespace

TEST_CASE("remote_witness: round trip through the remote's metadata") {
    remote_t remote;
    witness_t w(remote, {"host-1", "shop"});
    CHECK(!w.load());
    w.save(record(lin_a, 1));
    REQUIRE(w.load());
    CHECK(*w.load() == record(lin_a, 1));
    w.save(record(lin_a, 2));
    w.save(record(lin_a, 1));  // equal to an older record: still becomes the newest
    CHECK(*w.load() == record(lin_a, 1));
    CHECK(remote.all().size() == 3);
    CHECK(remote.active_count() == 0);  // markers are cancelled: they can never act

    SECTION("a cold start (another process) finds the newest marker") {
        witness_t cold(remote, {"host-1", "shop"});
        REQUIRE(cold.load());
        CHECK(*cold.load() == record(lin_a, 1));
    }
    SECTION("markers of another installation are not ours") {
        witness_t other(remote, {"host-2", "shop"});
        CHECK(!other.load());
        other.save(record(lin_b, 9));
        CHECK(*w.load() == record(lin_a, 1));
        CHECK(*other.load() == record(lin_b, 9));
    }
    SECTION("every marker respects the remote's metadata limits") {
        w.save(record(lin_a, 3, std::string(40'000, 'x')));  // a very long failure message
        const auto back = w.load();
        REQUIRE(back);
        CHECK(back->generation == 3);
        CHECK(back->failure.size() < 40'000);
        CHECK(back->failure == std::string(back->failure.size(), 'x'));
        for (const auto& r : remote.all()) CHECK_NOTHROW(concord::check_metadata(r.meta, remote_t::limits()));
    }
    SECTION("a damaged marker that claims to be ours is witness_corrupt") {
        auto good = remote.all().back().meta;
        good["concord_w00"][20] = good["concord_w00"][20] == '0' ? '1' : '0';
        remote.put_external(item{}, good);
        try {
            (void)w.load();
            FAIL("expected witness_corrupt");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::witness_corrupt);
        }
    }
}

TEST_CASE("remote_witness: a real SQLite restore is detected by the remote after the witness file is gone") {
    concord::test::temp_dir dir;
    concord::sqlite_database db(dir / "shop.db");
    concord::sqlite_store<item> store(db, "items");
    remote_t remote;
    witness_t w(remote, {"conformance", "shop"});  // same installation tag as the reconciler's objects
    auto sync = concord::conformance::make_sync(store, remote);

    store.put(make_item("a"));
    CHECK(sync.reconcile(w).timeline == concord::verdict::first_run);
    concord::sqlite_backup(db, dir / "backup.db");
    const auto backup_gen = store.load_checkpoint()->generation;
    store.put(make_item("b"));
    auto rep = sync.reconcile(w);
    CHECK(rep.timeline == concord::verdict::same_timeline);
    CHECK(rep.problems.empty());  // cancelled markers are neither classified nor reported
    const auto top = store.load_checkpoint()->generation;

    concord::sqlite_restore(db, dir / "backup.db");
    witness_t fresh(remote, {"conformance", "shop"});  // new process: nothing local survives but the database
    auto session = concord::begin_session(fresh, store);
    CHECK(session.kind() == concord::verdict::restored);
    CHECK(session.status().lost_from == backup_gen + 1);
    CHECK(session.status().lost_to == top);
    auto p = sync.plan(session);
    CHECK(p.count(concord::case_kind::orphan) == 1);
    CHECK(p.count(concord::case_kind::foreign) == 0);
    sync.apply(p, session);
    session.commit();
    CHECK(remote.active_count() == 1);
    CHECK(sync.reconcile(fresh).timeline == concord::verdict::same_timeline);
}

TEST_CASE("remote_witness: a reconcile with nothing to do writes nothing to the remote") {
    remote_t remote;
    concord::memory_store<item> db;
    const concord::owner_tag owner{"host-1", "shop"};
    witness_t w(remote, owner);
    auto r = concord::make_reconciler<concord::policy::trust_local>(
        db, remote, {.owner = owner, .entity_name = "item"}, concord::identity::natural_key<&item::sku>{});
    db.put(make_item("A"));
    const auto first = r.reconcile(w);
    REQUIRE(first.actions.size() == 1);  // create (it links too)
    r.reconcile(w);                      // lists A: the cursor reaches it (a commit, a marker)
    const auto creates = remote.stats().creates, cancels = remote.stats().cancels;
    const auto generation = db.load_checkpoint()->generation;
    for (int i = 0; i < 3; ++i) {
        const auto idle = r.reconcile(w);
        CHECK(idle.actions.empty());
        CHECK(idle.timeline == concord::verdict::same_timeline);
    }
    // The markers are cancelled and not entities of ours: they do not move the cursor, so nothing
    // is committed and the witness is not saved again: no marker created or cancelled.
    CHECK(remote.stats().creates == creates);
    CHECK(remote.stats().cancels == cancels);
    CHECK(db.load_checkpoint()->generation == generation);
    // Real work still commits and moves the witness.
    db.put(make_item("B"));
    CHECK(r.reconcile(w).actions.size() == 1);
    CHECK(remote.stats().creates == creates + 1 + 2);  // B, and a marker each before and after its create
    CHECK(db.load_checkpoint()->generation == generation + 1);
    REQUIRE(w.load());
    CHECK(w.load()->generation == generation + 1);
    CHECK(r.reconcile(w).actions.empty());  // lists B: the cursor reaches it (one more commit)
    const auto settled = db.load_checkpoint()->generation;
    const auto settled_creates = remote.stats().creates;
    CHECK(r.reconcile(w).actions.empty());
    CHECK(db.load_checkpoint()->generation == settled);
    CHECK(remote.stats().creates == settled_creates);
}

TEST_CASE("remote_witness: is_marker tells this installation's markers from real objects") {
    remote_t remote;
    witness_t w(remote, {"host-1", "shop"});
    w.save(record(lin_a, 1));
    w.save(record(lin_a, 2));
    CHECK(w.saves() == 2);
    const auto real = remote.put_external(make_item("real"), {});
    std::size_t markers = 0;
    for (const auto& rec : remote.all()) markers += w.is_marker(rec);
    CHECK(markers == 2);
    CHECK_FALSE(w.is_marker(real));
    witness_t other(remote, {"host-2", "shop"});
    CHECK_FALSE(other.is_marker(remote.all().front()));  // another installation's marker is not its own
}
