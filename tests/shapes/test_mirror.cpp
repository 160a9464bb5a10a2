// The mirror shape: the SQLite replica as a RemoteSource, range-checksum bisection, rewinds after a
// restore, and the creation-time bounded orphan scan.

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "fixture.hpp"

#include <concord/cursor.hpp>
#include <concord/identity.hpp>
#include <concord/memory/store.hpp>
#include <concord/mirror/bisect.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

using namespace shapes_test;
using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;

namespace {

concord::metadata meta_for(const product& p) {
    concord::metadata m;
    m[std::string(concord::meta_keys::identity)] = sku_identity{}.key(p).hex();
    return m;
}

product prod(int i, std::int64_t price = 100) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), price}; }

/// The replica's active rows as identity -> fingerprint, and the host's entities the same way.
std::map<std::string, std::string> replica_view(replica_t& r) {
    std::map<std::string, std::string> out;
    for (const auto& rec : r.active()) {
        auto [it, fresh] = out.emplace(sku_identity{}.key(rec.value).hex(), concord::fingerprint(rec.value).hex());
        if (!fresh) it->second = "DUPLICATE";
    }
    return out;
}
template <class Store>
std::map<std::string, std::string> host_view(Store& s) {
    std::map<std::string, std::string> out;
    for (const auto& e : s.scan()) out[sku_identity{}.key(e).hex()] = concord::fingerprint(e).hex();
    return out;
}

/// The replica as seen over the wire when the remote fails or someone else writes to it meanwhile.
struct flaky_replica : replica_t {
    using replica_t::replica_t;
    bool fail_cancel = false;
    std::function<void()> before_create;  ///< runs once, before the next create
    concord::remote_record<product> cancel(std::string_view rid, const std::string& key) {
        if (fail_cancel) throw concord::remote_error(concord::errc::remote_permanent, "injected: cancel refused");
        return replica_t::cancel(rid, key);
    }
    concord::remote_record<product> create(const product& e, const concord::metadata& m, const std::string& key) {
        if (auto f = std::exchange(before_create, nullptr)) f();
        return replica_t::create(e, m, key);
    }
};

template <class Replica = replica_t, class Policy = concord::policy::trust_local>
struct mirror_world_of {
    temp_dir dir;
    host_db db;
    std::int64_t clock = 1'700'000'000;
    Replica replica{dir / "replica.db", "products", [this] { return clock; }};
    concord::memory_witness witness;
    using rec_t = concord::reconciler<product, host_db::product_store, Replica, sku_identity, Policy>;
    rec_t rec{db.products(), replica, {.owner = {"host-1", "mirror"}, .entity_name = "product", .page_size = 50}};
    concord::mirror::mirror<rec_t> mirror{rec, {.now = [this] { return clock; }, .bisect = {}}};

    void seed(int n) {
        concord::sqlite_transaction t(db.database());  // one host transaction for the bulk insert
        for (int i = 0; i < n; ++i) db.products().put(prod(i));
        t.commit();
        clock += 60;
        mirror.sync(witness);
    }
    /// k/3 inserts, k/3 edits, k/3 deletes on the host (ids from `base` for the inserts).
    void change(int k, int base) {
        concord::sqlite_transaction t(db.database());
        auto rows = db.products().scan();
        for (int i = 0; i < k / 3; ++i) db.products().put(prod(base + i));
        for (int i = 0; i < k / 3; ++i) {
            auto e = rows[static_cast<std::size_t>(2 * i)];
            e.price_cents += 1;
            db.products().put(e);
        }
        for (int i = 0; i < k / 3; ++i) db.products().erase(rows[static_cast<std::size_t>(2 * i + 1)].id);
        t.commit();
    }
};
using mirror_world = mirror_world_of<>;

std::size_t count_of(const concord::report& rep, concord::case_kind k) {
    return rep.counts[static_cast<std::size_t>(k)];
}

/// A gauge's reading: a floating-point member SQLite cannot hold as NaN.
struct gauge {
    BOOST_HANA_DEFINE_STRUCT(gauge, (std::int64_t, id), (std::string, sku), (double, value));
};
using gauge_identity = concord::identity::natural_key<&gauge::sku>;

} // namespace

TEST_CASE("replica: a RemoteSource with a change feed, idempotency keys and tombstones", "[mirror][replica]") {
    temp_dir dir;
    replica_t r(dir / "r.db", "products");
    auto a = r.create(prod(1), meta_for(prod(1)), "k1");
    auto b = r.create(prod(2), meta_for(prod(2)), "k2");
    CHECK(a.seq == 1);
    CHECK(b.seq == 2);
    CHECK(r.create(prod(1), meta_for(prod(1)), "k1").remote_id == a.remote_id);  // replay
    try {
        r.create(prod(3), meta_for(prod(3)), "k1");
        FAIL("a key reused with other parameters must be refused");
    } catch (const concord::remote_error& e) {
        CHECK(e.code() == concord::errc::idempotency_conflict);
    }
    auto edited = prod(1, 250);
    auto u = r.update(a.remote_id, edited, "k3");
    CHECK(u.seq == 3);  // a write moves the row to a new seq: the feed shows it again
    CHECK(u.value.price_cents == 250);
    auto c = r.cancel(b.remote_id, "k4");
    CHECK(c.state == concord::remote_state::cancelled);
    CHECK(c.seq == 4);

    auto feed = concord::pull_since(r, 2, 10);
    REQUIRE(feed.size() == 2);
    CHECK(feed[0].remote_id == a.remote_id);
    CHECK(feed[1].remote_id == b.remote_id);
    CHECK(feed[1].state == concord::remote_state::cancelled);
    CHECK(feed[0].meta.at(std::string(concord::meta_keys::identity)) == sku_identity{}.key(prod(1)).hex());
    CHECK(r.active_count() == 1);

    SECTION("state survives reopening") {
        replica_t again(dir / "r.db", "products");
        CHECK(again.head() == 4);
        CHECK(again.create(prod(5), meta_for(prod(5)), "k5").seq == 5);
    }
    SECTION("compaction drops tombstones without identity; a cursor below the horizon is refused") {
        auto x = r.create(prod(9), concord::metadata{}, "k9");  // no identity: nothing counts its removal
        r.cancel(x.remote_id, "k10");
        r.compact(6);
        try {
            concord::pull_since(r, 2, 10);
            FAIL("a feed from before the compaction horizon must be refused");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::cursor_rejected);
        }
        // A full scan still works; prod(2)'s removal stays listed: an identity's removal count survives.
        auto all = concord::pull_since(r, std::nullopt, 10);
        REQUIRE(all.size() == 2);
        CHECK(all[1].remote_id == b.remote_id);
        CHECK(concord::pull_since(r, std::nullopt, 1).size() == 2);  // its next pages start below the horizon
        CHECK(concord::pull_since(r, 6, 10).empty());
    }
    SECTION("a file that is not SQLite is refused") {
        {
            std::ofstream f(dir / "junk.db", std::ios::binary);
            f << std::string(4096, 'x');
        }
        try {
            replica_t bad(dir / "junk.db", "products");
            FAIL("not a database");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::not_a_database);
        }
    }
}

TEST_CASE("bisection finds exactly the differing identities with few round trips", "[mirror][bisect]") {
    temp_dir dir;
    replica_t r(dir / "r.db", "products");
    std::vector<product> local;
    r.in_transaction([&] {
        for (int i = 0; i < 3000; ++i) {
            local.push_back(prod(i));
            r.create(prod(i), meta_for(prod(i)), "k" + std::to_string(i));
        }
    });
    auto same = concord::mirror::bisect(r, concord::mirror::local_digest::of(sku_identity{}, local));
    CHECK(same.ranges.empty());
    CHECK(same.stats.round_trips == 1);  // the 16 top-level ranges all agree
    CHECK(same.stats.rows_fetched == 0);

    std::set<std::string> changed;
    for (int i : {7, 1500, 2999}) {
        local[static_cast<std::size_t>(i)].price_cents = 1;
        changed.insert(sku_identity{}.key(local[static_cast<std::size_t>(i)]).hex());
    }
    local.push_back(prod(5000));  // only local
    changed.insert(sku_identity{}.key(prod(5000)).hex());
    r.reset_stats();
    auto diff = concord::mirror::bisect(r, concord::mirror::local_digest::of(sku_identity{}, local));
    std::set<std::string> found;
    for (const auto& id : changed)
        for (const auto& range : diff.ranges)
            if (range.contains(id)) found.insert(id);
    CHECK(found == changed);
    CHECK(diff.stats.differing_leaves <= 4);
    CHECK(diff.stats.rows_fetched <= 4 * 8);
    CHECK(diff.stats.round_trips <= 5);  // log16(3000 / 8) + 1 levels, and one listing
    CHECK(r.stats().rows_sent == diff.stats.rows_fetched);
}

TEST_CASE("mirror: one-way replication keeps the replica equal to the host", "[mirror]") {
    mirror_world w;
    w.seed(300);
    CHECK(w.replica.active_count() == 300);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
    CHECK(w.mirror.cursor() == std::optional<std::uint64_t>(300));

    w.change(9, 1000);
    w.replica.reset_stats();
    auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(r.actions() >= 9);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
    CHECK(w.replica.stats().rows_sent <= 9 * 8);  // rows of the differing leaves, not the table
    auto again = w.mirror.sync(w.witness);
    CHECK(again.actions() == 0);
}

TEST_CASE("mirror: a pass counts the host's identities, not rows someone else wrote", "[mirror]") {
    mirror_world w;
    w.seed(30);
    // A row another writer put into the replica: no owner tag of ours, so foreign and left alone.
    w.replica.create(prod(500), concord::metadata{{"writer", "someone else"}}, "other-writer-key-1");
    auto r = w.mirror.sync(w.witness, concord::mirror::method::full_scan);
    REQUIRE(r.passes.size() == 1);
    CHECK(r.passes[0].used == concord::mirror::method::full_scan);
    CHECK(r.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::foreign)] == 1);
    CHECK(r.passes[0].identities == 30);
    CHECK(r.actions() == 0);
    CHECK(w.replica.active_count() == 31);
}

TEST_CASE("mirror: after a restore the replica is rewound from the rewound cursor", "[mirror][restore]") {
    mirror_world w;
    w.seed(600);
    auto backup = w.db.backup();
    const auto cursor_at_backup = w.mirror.cursor();

    w.clock += 3600;
    w.change(30, 2000);  // 10 inserts, 10 edits, 10 deletes, mirrored
    w.mirror.sync(w.witness);
    REQUIRE(replica_view(w.replica) == host_view(w.db.products()));
    const auto head_before = w.replica.head();

    w.db.restore(backup);
    CHECK(w.mirror.cursor() == cursor_at_backup);
    w.replica.reset_stats();

    SECTION("change feed: reads exactly the rows written since the restore point") {
        auto r = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
        CHECK(r.timeline == concord::verdict::restored);
        REQUIRE(r.passes.size() == 1);
        // The 30 rows written since the restore point, then every row of those 30 identities (one call).
        CHECK(head_before - *cursor_at_backup == 30);
        CHECK(r.passes[0].listing.rows == 2 * 30);
        CHECK(r.passes[0].listing.calls == 2);
        CHECK(r.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::orphan)] == 10);
        CHECK(r.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::diverged)] == 10);
        CHECK(r.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::local_only)] == 10);
        CHECK(replica_view(w.replica) == host_view(w.db.products()));
        CHECK(r.cursor_after == std::optional<std::uint64_t>(w.replica.head()));
    }
    SECTION("automatic: the feed, then checksums for host edits made since the restore") {
        auto e = w.db.products().scan()[100];  // not among the rows changed after the backup
        e.name = "edited after the restore";
        w.db.products().put(e);
        auto r = w.mirror.sync(w.witness);
        REQUIRE(r.passes.size() == 2);
        CHECK(r.passes[0].used == concord::mirror::method::change_feed);
        CHECK(r.passes[1].used == concord::mirror::method::checksums);
        CHECK(r.passes[1].rep.counts[static_cast<std::size_t>(concord::case_kind::diverged)] == 1);
        CHECK(replica_view(w.replica) == host_view(w.db.products()));
        CHECK(w.replica.stats().rows_sent < 100);  // of 600
    }
    SECTION("checksums alone rewind too") {
        auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
        CHECK(replica_view(w.replica) == host_view(w.db.products()));
        CHECK(r.passes[0].bisect.rows_fetched < 30 * 8);
    }
    SECTION("a full scan rewinds at the cost of the whole table") {
        auto r = w.mirror.sync(w.witness, concord::mirror::method::full_scan);
        CHECK(replica_view(w.replica) == host_view(w.db.products()));
        CHECK(r.passes[0].listing.rows >= 600);
    }
    auto after = w.mirror.sync(w.witness);
    CHECK(after.timeline == concord::verdict::same_timeline);
    CHECK(after.actions() == 0);
}

TEST_CASE("mirror: the same row deleted, restored and deleted again is re-created each time", "[mirror][restore]") {
    // Found by the round-trip benchmark: the feed shows only the newest removal of an identity, so
    // the re-creation's idempotency key must count the older removals too, or it replays the first
    // re-creation (a removed row) and the replica stays without the row.
    mirror_world w;
    w.seed(50);
    const auto victim = w.db.products().scan()[7];
    for (int round = 0; round < 3; ++round) {
        auto backup = w.db.backup();
        w.db.products().erase(victim.id);
        w.mirror.sync(w.witness, concord::mirror::method::checksums);
        REQUIRE(replica_view(w.replica).count(sku_identity{}.key(victim).hex()) == 0);
        w.db.restore(backup);
        auto r = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
        CHECK(r.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::local_only)] == 1);
        CHECK(replica_view(w.replica) == host_view(w.db.products()));
    }
}

TEST_CASE("mirror: an edit behind concord's back is invisible to the feed and found by checksums", "[mirror]") {
    mirror_world w;
    w.seed(200);
    auto row = w.replica.active()[17];
    auto tampered = row.value;
    tampered.price_cents = 999999;
    w.replica.edit_external(row.remote_id, tampered);
    auto feed = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(feed.actions() == 0);
    CHECK(replica_view(w.replica) != host_view(w.db.products()));
    auto sums = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(sums.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::diverged)] == 1);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
}

TEST_CASE("orphan scan bounded by the restored checkpoint's commit time", "[mirror][restore][scan]") {
    mirror_world w;
    w.seed(400);            // rows created at T0
    w.clock += 3600;
    w.mirror.sync(w.witness);  // nothing to do; the checkpoint is written at T0 + 3600
    auto backup = w.db.backup();
    const auto t_backup = w.clock;
    w.clock += 7200;
    {
        concord::sqlite_transaction t(w.db.database());
        for (int i = 0; i < 12; ++i) w.db.products().put(prod(9000 + i));
        t.commit();
    }
    w.mirror.sync(w.witness);
    w.db.restore(backup);

    auto session = concord::begin_session(w.witness, w.db.products());
    REQUIRE(session.kind() == concord::verdict::restored);
    auto bound = concord::restore_scan_bound(session.status(), 300);
    REQUIRE(bound);
    CHECK(*bound == t_backup - 300);
    concord::listing_stats st;
    auto p = concord::plan_orphans_since(w.rec, session.status(), session.database_adopted(), *bound, &st);
    CHECK(p.count(concord::case_kind::orphan) == 12);
    CHECK(st.rows == 12);  // the 400 older rows were not transferred
    CHECK(st.calls == 1);
    w.rec.apply(p, session);
    CHECK(w.replica.active_count() == 400);
}

TEST_CASE("mirror: the cursor stops before a record whose action failed", "[mirror][restore][cursor]") {
    // A failed remote action is reported and the apply goes on; the session still commits, which
    // uses up the "restored" verdict, so only the cursor can bring the record back to a later feed.
    mirror_world_of<flaky_replica> w;
    w.seed(50);
    auto backup = w.db.backup();
    w.db.products().put(prod(900));
    w.mirror.sync(w.witness);
    const auto head = w.replica.head();
    w.db.restore(backup);
    const auto restored_cursor = w.mirror.cursor();
    REQUIRE(restored_cursor);
    REQUIRE(*restored_cursor < head);

    w.replica.fail_cancel = true;  // the orphan's removal is refused
    auto r = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(r.timeline == concord::verdict::restored);
    CHECK(r.passes[0].rep.failed() == 1);
    CHECK(r.held == 1);
    REQUIRE(r.cursor_after);
    CHECK(*r.cursor_after < head);  // not past the orphan's row

    w.replica.fail_cancel = false;
    auto again = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(again.timeline == concord::verdict::same_timeline);
    CHECK(count_of(again.passes[0].rep, concord::case_kind::orphan) == 1);
    CHECK(again.actions() == 1);
    CHECK(again.held == 0);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
    CHECK(w.mirror.cursor() == std::optional<std::uint64_t>(w.replica.head()));
}

TEST_CASE("mirror: the cursor stops before a case that waits for a decision", "[mirror][restore][cursor]") {
    mirror_world_of<replica_t, concord::policy::ask_user> w;
    // Mirrored by trust_local (ask_user would ask about every new row); then ask_user rewinds.
    auto rec = concord::make_reconciler<concord::policy::trust_local>(
        w.db.products(), w.replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}, sku_identity{});
    concord::mirror::mirror<decltype(rec)> m(rec, {.now = [&] { return w.clock; }, .bisect = {}});
    for (int i = 0; i < 20; ++i) w.db.products().put(prod(i));
    m.sync(w.witness);
    auto backup = w.db.backup();
    w.db.products().put(prod(900));
    m.sync(w.witness);
    w.db.restore(backup);
    for (int round = 0; round < 2; ++round) {  // asked again on every feed until answered
        auto r = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
        CHECK(r.passes[0].rep.decisions.size() == 1);
        CHECK(r.held == 1);
        CHECK(r.actions() == 0);
    }
}

TEST_CASE("mirror: held counts every record held back, not only the one that lowered the cursor",
          "[mirror][restore][cursor]") {
    mirror_world_of<replica_t, concord::policy::ask_user> w;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(
        w.db.products(), w.replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}, sku_identity{});
    concord::mirror::mirror<decltype(rec)> m(rec, {.now = [&] { return w.clock; }, .bisect = {}});
    for (int i = 0; i < 20; ++i) w.db.products().put(prod(i));
    m.sync(w.witness);
    auto backup = w.db.backup();
    for (int i = 900; i < 903; ++i) w.db.products().put(prod(i));  // three rows, three replica changes
    m.sync(w.witness);
    w.db.restore(backup);
    auto r = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(r.passes[0].rep.decisions.size() == 3);  // each orphan asked about
    CHECK(r.held == 3);                             // and each is listed again by the next feed
    auto again = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(again.passes[0].rep.decisions.size() == 3);
    CHECK(again.held == 3);
}

TEST_CASE("mirror: a write someone else makes during a sync is not skipped by the cursor", "[mirror][cursor]") {
    mirror_world_of<flaky_replica> w;
    w.seed(20);
    const auto victim = w.replica.active()[3];
    // While the sync creates the new row, someone removes one of the mirrored rows.
    w.replica.before_create = [&] { w.replica.replica_t::cancel(victim.remote_id, "someone-else-1"); };
    w.db.products().put(prod(900));
    auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(r.actions() == 1);
    REQUIRE(r.cursor_after);
    CHECK(*r.cursor_after < w.replica.head());
    // The next feed shows the removal, and the row is put back.
    auto next = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(count_of(next.passes[0].rep, concord::case_kind::local_only) == 1);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
    // Nothing else happened: the next sync moves the cursor past its own writes.
    auto quiet = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(quiet.cursor_after == std::optional<std::uint64_t>(w.replica.head()));
}

TEST_CASE("mirror: a row removed, compacted away and restored is re-created, whatever the method",
          "[mirror][restore][compact]") {
    // The reconciler derives a re-creation's idempotency key from the identity's removal count; a
    // compaction that forgot the removal gave the first create's key again: idempotency_conflict.
    mirror_world w;
    w.seed(20);
    auto backup = w.db.backup();
    const auto victim = w.db.products().scan()[3];
    w.db.products().erase(victim.id);
    w.db.products().put(prod(900));
    w.mirror.sync(w.witness);
    w.replica.compact(w.replica.head());  // routine maintenance of the replica
    w.db.restore(backup);

    SECTION("automatic: a checksums pass stands in for the refused feed") {
        auto r = w.mirror.sync(w.witness);
        CHECK(r.timeline == concord::verdict::restored);
        REQUIRE(r.passes.size() == 1);
        CHECK(r.passes[0].used == concord::mirror::method::checksums);
        CHECK(r.passes[0].replaced == std::optional(concord::mirror::method::change_feed));
        CHECK(r.passes[0].replaced_because.find("cursor_rejected") != std::string::npos);
        CHECK(r.passes[0].rep.failed() == 0);
    }
    SECTION("checksums") {
        auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
        CHECK(r.passes[0].rep.failed() == 0);
    }
    SECTION("full scan") {
        auto r = w.mirror.sync(w.witness, concord::mirror::method::full_scan);
        CHECK(r.passes[0].rep.failed() == 0);
    }
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
    auto after = w.mirror.sync(w.witness);
    CHECK(after.actions() == 0);
    CHECK(after.passes[0].replaced == std::nullopt);
}

TEST_CASE("replica: compaction folds an identity's removals into one row listed as each of them",
          "[mirror][replica][compact]") {
    mirror_world w;
    w.seed(10);
    const auto victim = w.db.products().scan()[3];
    const auto id = sku_identity{}.key(victim).hex();
    // Removed, restored (re-created), removed again: two removals of one identity.
    auto backup = w.db.backup();
    w.db.products().erase(victim.id);
    w.mirror.sync(w.witness, concord::mirror::method::checksums);
    w.db.restore(backup);
    w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    REQUIRE(replica_view(w.replica).count(id) == 1);
    backup = w.db.backup();
    w.db.products().erase(victim.id);
    w.mirror.sync(w.witness, concord::mirror::method::checksums);

    auto removed_of = [&](const auto& recs) {
        std::size_t n = 0;
        for (const auto& rec : recs)
            n += rec.state == concord::remote_state::cancelled &&
                 rec.meta.at(std::string(concord::meta_keys::identity)) == id;
        return n;
    };
    const auto listed = concord::pull_since(w.replica, std::nullopt, 100);
    REQUIRE(removed_of(listed) == 2);
    w.replica.compact(w.replica.head());
    // Both removals are still listed, by a full listing (one record a page: the folded row is cut
    // across pages) and by a range listing, while the table holds one row for them.
    const auto paged = concord::pull_since(w.replica, std::nullopt, 1);
    CHECK(paged.size() == listed.size());
    CHECK(removed_of(paged) == 2);
    CHECK(removed_of(w.replica.list_ranges({concord::mirror::prefix_range(id)})) == 2);
    {
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(w.replica.handle(), "SELECT count(*) FROM products WHERE identity = ?1", -1, &st,
                                   nullptr) == SQLITE_OK);
        sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
        REQUIRE(sqlite3_step(st) == SQLITE_ROW);
        CHECK(sqlite3_column_int64(st, 0) == 1);
        sqlite3_finalize(st);
    }
    // Restored again: the third create of the identity gets a key of its own.
    w.db.restore(backup);
    auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
    CHECK(r.passes[0].rep.failed() == 0);
    CHECK(replica_view(w.replica) == host_view(w.db.products()));
}

TEST_CASE("replica: a NaN member is refused before anything is written", "[mirror][replica][nan]") {
    temp_dir dir;
    concord::mirror::sqlite_replica<gauge> r(dir / "r.db", "gauges");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    concord::metadata m{{std::string(concord::meta_keys::identity), gauge_identity{}.key(gauge{0, "G-1", 1.0}).hex()}};
    auto expect_refused = [&](auto&& write) {
        try {
            write();
            FAIL("a NaN member must be refused");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(std::string(e.what()).find("'value'") != std::string::npos);
        }
    };
    expect_refused([&] { r.create({0, "G-1", nan}, m, "k1"); });
    CHECK(r.head() == 0);
    CHECK(!r.find_by_key("k1"));  // nor the key: a later create with it is a fresh request
    auto ok = r.create({0, "G-1", 1.5}, m, "k1");
    expect_refused([&] { r.update(ok.remote_id, {0, "G-1", nan}, "k2"); });
    CHECK(r.head() == 1);
    REQUIRE(r.active().size() == 1);
    CHECK(r.active()[0].value.value == 1.5);

    SECTION("a mirror reports the refusal on every sync, by every method, instead of diverging forever") {
        concord::memory_store<gauge> host;
        concord::memory_witness witness;
        concord::mirror::sqlite_replica<gauge> replica(dir / "mirror.db", "gauges");
        auto rec = concord::make_reconciler<concord::policy::trust_local>(
            host, replica, {.owner = {"host-1", "mirror"}, .entity_name = "gauge"}, gauge_identity{});
        concord::mirror::mirror<decltype(rec)> mirror(rec);
        host.put({0, "G-1", nan});
        host.put({0, "G-2", 2.5});
        for (auto m2 : {concord::mirror::method::full_scan, concord::mirror::method::full_scan,
                        concord::mirror::method::checksums}) {
            auto s = mirror.sync(witness, m2);
            CHECK(s.passes[0].rep.failed() == 1);  // G-1's create, refused with invalid_argument
            CHECK(count_of(s.passes[0].rep, concord::case_kind::diverged) == 0);
            CHECK(replica.active_count() == 1);
        }
    }
}

TEST_CASE("replica: a page size beyond int64 lists every row", "[mirror][replica][paging]") {
    temp_dir dir;
    replica_t r(dir / "r.db", "products", [] { return std::int64_t{100}; });
    for (int i = 0; i < 5; ++i) r.create(prod(i), meta_for(prod(i)), "k" + std::to_string(i));
    for (std::size_t limit : {std::numeric_limits<std::size_t>::max(),
                              static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()),
                              static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()) - 1}) {
        auto p = r.list(std::nullopt, limit);
        CHECK(p.items.size() == 5);
        CHECK(!p.has_more);
        CHECK(r.list_created_since(0, std::nullopt, limit).items.size() == 5);
    }
    CHECK(concord::pull_since(r, std::nullopt, std::numeric_limits<std::size_t>::max()).size() == 5);
    auto two = r.list(std::nullopt, 2);
    CHECK(two.items.size() == 2);
    CHECK(two.has_more);
}

TEST_CASE("replica: a file written before removal counts were kept opens and lists", "[mirror][replica][compact]") {
    temp_dir dir;
    {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open((dir / "r.db").c_str(), &db) == SQLITE_OK);
        const char* old_schema =
            "CREATE TABLE products (seq INTEGER PRIMARY KEY, remote_id TEXT NOT NULL UNIQUE, identity TEXT NOT NULL, "
            "state INTEGER NOT NULL, created_at INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER NOT NULL, meta TEXT "
            "NOT NULL, \"c_sku\", \"c_name\", \"c_price_cents\");"
            "INSERT INTO products VALUES (1, 'm1', 'ab', 1, 0, 0, 0, '', 'SKU-1', 'item 1', 100);"
            "CREATE TABLE products_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
            "INSERT INTO products_state VALUES ('last_seq', 1), ('last_id', 1);";
        REQUIRE(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
    }
    replica_t r(dir / "r.db", "products");
    auto all = concord::pull_since(r, std::nullopt, 10);
    REQUIRE(all.size() == 1);
    CHECK(all[0].state == concord::remote_state::cancelled);
    CHECK(all[0].value.sku == "SKU-1");
    CHECK(r.create(prod(2), meta_for(prod(2)), "k2").seq == 2);
}
