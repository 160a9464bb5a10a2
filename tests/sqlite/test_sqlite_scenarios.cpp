// The store conformance suite on real SQLite files (both restore connection models), and the
// restore scenarios that need real files: the witness file beside the database (deleted, older,
// corrupt, truncated), a crash between the store commit and the witness write, and another
// database file copied over the live one.

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "../support/store_conformance.hpp"
#include "sqlite_fixture.hpp"

using concord::conformance::item;
using concord::conformance::make_item;
using concord::test::temp_dir;

using restore_in_place = concord::test::sqlite_fixture<item, true>;
using restore_by_reopen = concord::test::sqlite_fixture<item, false>;

CONCORD_STORE_CONFORMANCE_TESTS(restore_in_place, "sqlite (restore into the open connection)")
CONCORD_STORE_CONFORMANCE_TESTS(restore_by_reopen, "sqlite (close, restore the file, reopen)")

namespace {

/// A host: one database file, one store, the default witness beside the file, a remote.
struct host {
    std::filesystem::path path;
    concord::sqlite_database db;
    concord::sqlite_store<item> store;
    concord::file_witness witness;

    explicit host(std::filesystem::path p)
        : path(p), db(p), store(db, "items"), witness(concord::file_witness::beside(p)) {}
};

} // namespace

TEST_CASE("sqlite scenario: the default witness file beside the database sees a close/restore/reopen") {
    temp_dir dir;
    host h(dir / "shop.db");
    concord::conformance::remote_type remote;
    auto sync = concord::conformance::make_sync(h.store, remote);
    h.store.put(make_item("a"));
    CHECK(sync.reconcile(h.witness).timeline == concord::verdict::first_run);
    CHECK(std::filesystem::exists(dir / "shop.db.concord-witness"));
    h.db.close();
    std::filesystem::copy_file(h.path, dir / "copy-1.db");  // a plain file copy while closed is a backup too
    h.db.reopen();
    h.store.put(make_item("b"));
    sync.reconcile(h.witness);
    h.db.close();
    std::filesystem::copy_file(dir / "copy-1.db", h.path, std::filesystem::copy_options::overwrite_existing);
    h.db.reopen();
    auto rep = sync.reconcile(h.witness);
    CHECK(rep.timeline == concord::verdict::restored);
    CHECK(remote.active_count() == 1);
    CHECK(sync.reconcile(h.witness).timeline == concord::verdict::same_timeline);
}

TEST_CASE("sqlite scenario: another database copied over the live file is a different database") {
    temp_dir dir;
    concord::conformance::remote_type remote;
    std::string lineage_b;
    {
        host other(dir / "other.db");  // another database with its own history (and its own lineage)
        other.store.put(make_item("from-other"));
        concord::change_batch<item> b;
        b.new_checkpoint = concord::checkpoint{concord::new_lineage_id(), 5, {}};
        other.store.commit(b);
        lineage_b = b.new_checkpoint->lineage;
    }
    host h(dir / "shop.db");
    auto sync = concord::conformance::make_sync(h.store, remote);
    h.store.put(make_item("mine"));
    sync.reconcile(h.witness);
    const auto lineage_a = h.store.load_checkpoint()->lineage;
    REQUIRE(lineage_a != lineage_b);
    const auto witness_before = h.witness.load();

    h.db.close();
    std::filesystem::copy_file(dir / "other.db", h.path, std::filesystem::copy_options::overwrite_existing);
    h.db.reopen();
    auto session = concord::begin_session(h.witness, h.store);
    CHECK(session.kind() == concord::verdict::different_database);
    auto p = sync.plan(session);
    CHECK(p.count(concord::case_kind::orphan) == 1);  // "mine" is unknown to this database
    CHECK(p.decisions.size() == 1);                   // destructive resolution turned into a question
    for (const auto& a : p.actions) CHECK(a.kind != concord::action_kind::cancel_remote);
    sync.apply(p, session);
    session.commit();
    CHECK(remote.active_count() == 2);  // "mine" still there; "from-other" pushed (not destructive)
    REQUIRE(h.witness.load());
    CHECK(h.witness.load()->lineage == witness_before->lineage);  // no consent: the witness still names A

    auto again = concord::begin_session(h.witness, h.store);
    REQUIRE(again.kind() == concord::verdict::different_database);
    again.adopt_database();  // the user says: this is my database now
    auto p2 = sync.plan(again);
    sync.apply(p2, again);
    again.commit();
    CHECK(h.witness.load()->lineage == lineage_b);
    CHECK(sync.reconcile(h.witness).timeline == concord::verdict::same_timeline);
}

TEST_CASE("sqlite scenario: a witness file deleted, or older than the store, is repaired") {
    temp_dir dir;
    host h(dir / "shop.db");
    concord::conformance::remote_type remote;
    auto sync = concord::conformance::make_sync(h.store, remote);
    h.store.put(make_item("a"));
    sync.reconcile(h.witness);
    std::filesystem::copy_file(h.witness.path(), dir / "old-witness");
    h.store.put(make_item("b"));
    sync.reconcile(h.witness);

    const bool deleted = GENERATE(true, false);
    if (deleted) std::filesystem::remove(h.witness.path());
    else std::filesystem::copy_file(dir / "old-witness", h.witness.path(), std::filesystem::copy_options::overwrite_existing);
    auto rep = sync.reconcile(h.witness);
    CHECK(rep.timeline == concord::verdict::witness_behind);
    CHECK(rep.actions.empty());
    CHECK(h.witness.load()->generation == h.store.load_checkpoint()->generation);
    CHECK(sync.reconcile(h.witness).timeline == concord::verdict::same_timeline);
    CHECK(remote.stats().creates == 2);
}

TEST_CASE("sqlite scenario: a corrupt or truncated witness file stops with witness_corrupt, nothing written") {
    temp_dir dir;
    host h(dir / "shop.db");
    concord::conformance::remote_type remote;
    auto sync = concord::conformance::make_sync(h.store, remote);
    h.store.put(make_item("a"));
    sync.reconcile(h.witness);
    const auto good = concord::test::read_file(h.witness.path());
    const auto kind = GENERATE(0, 1, 2, 3);
    std::string bad = good;
    if (kind == 0) bad = good.substr(0, good.size() / 2);       // truncated
    else if (kind == 1) bad[good.find("generation ") + 11] = '7';  // edited
    else if (kind == 2) bad = "";                              // emptied
    else bad = std::string(300, '\xff');                       // garbage
    concord::test::write_file(h.witness.path(), bad);
    const auto db_before = concord::test::read_file(h.path);
    h.store.put(make_item("b"));
    const auto db_with_b = concord::test::read_file(h.path);
    REQUIRE(db_with_b != db_before);
    try {
        sync.reconcile(h.witness);
        FAIL("expected witness_corrupt");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::witness_corrupt);
    }
    CHECK(concord::test::read_file(h.path) == db_with_b);
    CHECK(concord::test::read_file(h.witness.path()) == bad);
    CHECK(remote.stats().creates == 1);
}

TEST_CASE("sqlite scenario: a crash between the store commit and the witness write") {
    temp_dir dir;
    concord::conformance::remote_type remote;
    std::uint64_t committed = 0;
    {
        host h(dir / "shop.db");
        auto sync = concord::conformance::make_sync(h.store, remote);
        h.store.put(make_item("a"));
        sync.reconcile(h.witness);
        h.store.put(make_item("b"));
        sync.set_step_hook([](std::string_view at) {
            if (at == "after local commit") throw std::runtime_error("power cut");
        });
        CHECK_THROWS_AS(sync.reconcile(h.witness), std::runtime_error);
        committed = h.store.load_checkpoint()->generation;
    }  // the process "dies": connection closed without a witness write
    host h(dir / "shop.db");
    auto sync = concord::conformance::make_sync(h.store, remote);
    CHECK(h.store.load_checkpoint()->generation == committed);
    auto w = h.witness.load();
    REQUIRE(w);
    CHECK(w->generation + 1 == committed);
    CHECK(!w->in_progress.empty());  // marked before the remote effect
    auto rep = sync.reconcile(h.witness);
    CHECK(rep.timeline == concord::verdict::witness_behind);
    CHECK(rep.actions.empty());
    CHECK(remote.stats().creates == 2);
    CHECK(h.witness.load()->in_progress.empty());
    CHECK(sync.reconcile(h.witness).timeline == concord::verdict::same_timeline);
}

TEST_CASE("sqlite scenario: a crash inside the store transaction loses the whole batch, not half of it") {
    temp_dir dir;
    host h(dir / "shop.db");
    concord::conformance::remote_type remote;
    auto sync = concord::conformance::make_sync(h.store, remote);
    h.store.put(make_item("a"));
    sync.reconcile(h.witness);
    const auto cp = h.store.load_checkpoint();
    h.store.put(make_item("b"));
    h.store.set_commit_hook([](std::string_view at) {
        if (at == "links written") throw std::runtime_error("crash mid-transaction");
    });
    CHECK_THROWS_AS(sync.reconcile(h.witness), std::runtime_error);
    h.store.set_commit_hook({});
    CHECK(h.store.load_checkpoint() == cp);  // generation bump and links rolled back together
    CHECK(h.store.links().size() == 1);
    CHECK(remote.stats().creates == 2);      // the remote effect happened before the local commit
    auto rep = sync.reconcile(h.witness);    // next run adopts it instead of creating again
    CHECK(rep.counts[static_cast<std::size_t>(concord::case_kind::relinkable)] == 1);
    CHECK(remote.stats().creates == 2);
    CHECK(h.store.links().size() == 2);
}

TEST_CASE("sqlite scenario: reconciles with threads = 2 read the file on a second thread and agree with one thread") {
    temp_dir dir;
    host h(dir / "shop.db");
    concord::conformance::remote_type remote;
    auto one = concord::conformance::make_sync(h.store, remote);
    auto two = concord::make_reconciler<concord::policy::trust_local>(
        h.store, remote, {.owner = {"conformance", "shop"}, .entity_name = "item", .threads = 2, .min_slice = 64},
        concord::conformance::identity_type{});
    for (int i = 0; i < 400; ++i) h.store.put(make_item("sku-" + std::to_string(i)));
    CHECK(two.reconcile(h.witness).timeline == concord::verdict::first_run);
    CHECK(remote.active_count() == 400);
    concord::sqlite_backup(h.db, dir / "backup.db");
    for (int i = 400; i < 600; ++i) h.store.put(make_item("sku-" + std::to_string(i)));
    two.reconcile(h.witness);
    CHECK(remote.active_count() == 600);
    concord::sqlite_restore(h.db, dir / "backup.db");  // SQLite's backup API, into the open connection

    auto session = concord::begin_session(h.witness, h.store);
    CHECK(session.status().kind == concord::verdict::restored);
    const auto p1 = one.plan(session);
    const auto p2 = two.plan(session);
    CHECK(p1.count(concord::case_kind::orphan) == 200);
    CHECK(p2.count(concord::case_kind::orphan) == 200);
    CHECK(p1.count(concord::case_kind::in_sync) == p2.count(concord::case_kind::in_sync));
    REQUIRE(p1.actions.size() == p2.actions.size());
    for (std::size_t i = 0; i < p1.actions.size(); ++i)
        CHECK(p1.actions[i].idempotency_key == p2.actions[i].idempotency_key);
    two.apply(p2, session);
    session.commit();
    CHECK(remote.active_count() == 400);  // trust_local cancelled the orphans the restore made
    CHECK(two.reconcile(h.witness).actions.empty());
}
