// Scenarios only a server database has: two reconcilers started at once against one database, a
// connection lost in the middle of apply, and a reconcile that reads the store on a second thread. The real reconciler, memory_remote as the remote.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/reconcile.hpp>
#include <concord/postgres/store.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

#include "../support/store_conformance.hpp"
#include "pg_support.hpp"

using namespace concord;
using concord::conformance::item;
using concord::conformance::make_item;
using concord::test::pg_fresh_database;

TEST_CASE("two reconcilers at once on one database: the second reports another reconcile is running",
          "[postgres][concurrency]") {
    pg_fresh_database fresh("twice");
    memory_remote<item> remote;
    memory_witness witness;
    postgres_database db_a(fresh.conninfo());  // two hosts: a connection each
    postgres_database db_b(fresh.conninfo());
    postgres_store<item> store_a(db_a, "items");
    postgres_store<item> store_b(db_b, "items");
    for (int i = 0; i < 5; ++i) store_a.put(make_item("sku" + std::to_string(i)));
    auto sync_a = conformance::make_sync(store_a, remote);
    auto sync_b = conformance::make_sync(store_b, remote);

    // A stops at its first remote effect until B has tried to start.
    std::mutex m;
    std::condition_variable cv;
    bool a_acting = false, b_tried = false;
    sync_a.set_step_hook([&](std::string_view at) {
        if (at.rfind("before create_remote", 0) != 0 || a_acting) return;
        std::unique_lock lk(m);
        a_acting = true;
        cv.notify_all();
        cv.wait_for(lk, std::chrono::seconds(30), [&] { return b_tried; });
    });
    std::optional<report> a_report;
    std::string a_error;
    std::thread a([&] {
        try {
            a_report = sync_a.reconcile(witness);  // reconcile() takes the store's lock itself
        } catch (const std::exception& e) {
            a_error = e.what();
        }
    });
    {
        std::unique_lock lk(m);
        REQUIRE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return a_acting; }));
    }
    std::optional<errc> b_code;
    std::string b_message;
    try {
        sync_b.reconcile(witness);
    } catch (const error& e) {
        b_code = e.code();
        b_message = e.what();
    }
    {
        std::lock_guard lk(m);
        b_tried = true;
    }
    cv.notify_all();
    a.join();

    REQUIRE(a_error.empty());
    REQUIRE(a_report);
    CHECK(a_report->timeline == verdict::first_run);
    REQUIRE(b_code);
    CHECK(*b_code == errc::concurrent_reconcile);
    CHECK(b_message.find("another reconcile is running") != std::string::npos);
    CHECK(b_message.find(std::to_string(db_a.backend_pid())) != std::string::npos);  // names the holder
    CHECK(remote.stats().creates == 5);  // only A acted
    CHECK(remote.active_count() == 5);
    CHECK(store_b.links().size() == 5);

    // Once A is done, B runs normally and finds nothing to do.
    auto later = sync_b.reconcile(witness);
    CHECK(later.timeline == verdict::same_timeline);
    CHECK(later.actions.empty());
    CHECK(remote.stats().creates == 5);
}

TEST_CASE("connection lost mid-apply: a clear store error, then the next reconcile completes without duplicates",
          "[postgres][connection]") {
    const std::string where = GENERATE(std::string("after create_remote"), std::string("before local commit"));
    INFO("connection killed at " << where);
    pg_fresh_database fresh("lost");
    memory_remote<item> remote;
    memory_witness witness;
    postgres_database db(fresh.conninfo());
    postgres_database admin(fresh.conninfo());
    postgres_store<item> store(db, "items");
    auto sync = conformance::make_sync(store, remote);
    store.put(make_item("first"));
    REQUIRE(locked_reconcile(db, sync, witness).timeline == verdict::first_run);
    for (int i = 0; i < 3; ++i) store.put(make_item("more" + std::to_string(i)));

    int seen = 0;
    const int kill_at = where == "after create_remote" ? 2 : 1;  // the second create, or the commit after all three
    sync.set_step_hook([&](std::string_view at) {
        if (at.rfind(where, 0) == 0 && ++seen == kill_at)
            admin.exec("SELECT pg_terminate_backend($1)", {std::to_string(db.backend_pid())});
    });
    try {
        locked_reconcile(db, sync, witness);
        FAIL("reconcile survived a terminated connection");
    } catch (const store_error& e) {
        CHECK(e.code() == errc::store_failure);
        CHECK(std::string(e.what()).find("connection") != std::string::npos);
        CHECK(std::string(e.what()).find("lost") != std::string::npos);
    }
    sync.set_step_hook({});
    CHECK_FALSE(db.connected());
    CHECK(remote.stats().creates == 4);  // the three remote creates happened; their links did not commit

    db.reopen();
    CHECK(store.links().size() == 1);
    auto next = locked_reconcile(db, sync, witness);
    CHECK(next.timeline == verdict::same_timeline);
    CHECK(next.counts[static_cast<std::size_t>(case_kind::relinkable)] == 3);  // adopted, not created again
    CHECK(remote.stats().creates == 4);
    CHECK(remote.active_count() == 4);
    CHECK(store.links().size() == 4);
    auto quiet = locked_reconcile(db, sync, witness);
    CHECK(quiet.actions.empty());
    CHECK(remote.stats().creates == 4);
}

TEST_CASE("a reconcile inside the host's own transaction is refused before any remote effect",
          "[postgres][transaction]") {
    pg_fresh_database fresh("hosttx");
    memory_remote<item> remote;
    memory_witness witness;
    postgres_database db(fresh.conninfo());
    postgres_store<item> store(db, "items");
    auto sync = conformance::make_sync(store, remote);
    store.put(make_item("first"));
    db.exec("CREATE TABLE host_log (x INT)");
    db.exec("BEGIN");  // the host's transaction, still open when it calls reconcile
    db.exec("INSERT INTO host_log VALUES (1)");
    try {
        locked_reconcile(db, sync, witness);
        FAIL("reconciled inside the host's transaction");
    } catch (const error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(std::string(e.what()).find("does not nest") != std::string::npos);
    }
    CHECK(remote.stats().creates == 0);
    CHECK_FALSE(witness.load());
    CHECK(PQtransactionStatus(db.handle()) == PQTRANS_INTRANS);  // the host's work neither committed nor lost
    db.exec("COMMIT");
    CHECK(*db.exec("SELECT count(*) FROM host_log").get(0, 0) == "1");
    CHECK(locked_reconcile(db, sync, witness).timeline == verdict::first_run);
    CHECK(remote.stats().creates == 1);
}

TEST_CASE("the host pointed at another PostgreSQL database: different_database, nothing destructive without consent",
          "[postgres][timeline]") {
    pg_fresh_database fresh_a("dbswa");
    pg_fresh_database fresh_b("dbswb");
    memory_remote<item> remote;
    memory_witness witness;  // the host's witness: it remembers database A
    std::string lineage_b;
    {
        postgres_database other(fresh_b.conninfo());  // another database with its own history
        postgres_store<item> s(other, "items");
        s.put(make_item("from-b"));
        change_batch<item> b;
        b.new_checkpoint = checkpoint{new_lineage_id(), 5, {}};
        s.commit(b);
        lineage_b = b.new_checkpoint->lineage;
    }
    {
        postgres_database db(fresh_a.conninfo());
        postgres_store<item> s(db, "items");
        auto sync = conformance::make_sync(s, remote);
        s.put(make_item("mine"));
        REQUIRE(locked_reconcile(db, sync, witness).timeline == verdict::first_run);
    }
    const auto witness_a = witness.load();
    REQUIRE(witness_a);

    postgres_database db(fresh_b.conninfo());  // the configuration now names database B
    postgres_store<item> s(db, "items");
    auto sync = conformance::make_sync(s, remote);
    auto lock = db.lock_reconcile();
    auto session = begin_session(witness, s);
    CHECK(session.kind() == verdict::different_database);
    auto p = sync.plan(session);
    CHECK(p.count(case_kind::orphan) == 1);  // "mine" is unknown to B
    CHECK(p.decisions.size() == 1);          // its cancel became a question
    for (const auto& a : p.actions) CHECK(a.kind != action_kind::cancel_remote);
    sync.apply(p, session);
    session.commit();
    CHECK(remote.active_count() == 2);  // "mine" untouched, "from-b" pushed (not destructive)
    CHECK(witness.load()->lineage == witness_a->lineage);  // no consent: the witness still names A

    auto again = begin_session(witness, s);
    REQUIRE(again.kind() == verdict::different_database);
    again.adopt_database();  // the user: B is my database now
    auto p2 = sync.plan(again);
    sync.apply(p2, again);
    again.commit();
    CHECK(witness.load()->lineage == lineage_b);
    lock.release();
    CHECK(locked_reconcile(db, sync, witness).timeline == verdict::same_timeline);
}

TEST_CASE("threads = 2: the store is read on a second thread, the same plan across pg_dump / pg_restore",
          "[postgres][threads]") {
    pg_fresh_database fresh("threads");
    memory_remote<item> remote;
    memory_witness witness;
    postgres_database db(fresh.conninfo());
    postgres_store<item> store(db, "items");
    auto one = conformance::make_sync(store, remote);
    auto two = make_reconciler<policy::trust_local>(
        store, remote, {.owner = {"conformance", "shop"}, .entity_name = "item", .threads = 2, .min_slice = 64},
        conformance::identity_type{});
    for (int i = 0; i < 300; ++i) store.put(make_item("sku-" + std::to_string(i)));
    CHECK(two.reconcile(witness).timeline == verdict::first_run);
    CHECK(remote.active_count() == 300);
    const auto file = std::filesystem::temp_directory_path() / ("concord-threads-" + fresh.name() + ".pgdump");
    postgres_dump(db, file);
    for (int i = 300; i < 400; ++i) store.put(make_item("sku-" + std::to_string(i)));
    two.reconcile(witness);
    CHECK(remote.active_count() == 400);
    postgres_restore(db, file);
    std::filesystem::remove(file);

    auto session = begin_session(witness, store);
    CHECK(session.status().kind == verdict::restored);
    const auto p1 = one.plan(session);
    const auto p2 = two.plan(session);
    CHECK(p1.count(case_kind::orphan) == 100);
    CHECK(p2.count(case_kind::orphan) == 100);
    CHECK(p1.count(case_kind::in_sync) == p2.count(case_kind::in_sync));
    REQUIRE(p1.actions.size() == p2.actions.size());
    for (std::size_t i = 0; i < p1.actions.size(); ++i) CHECK(p1.actions[i].idempotency_key == p2.actions[i].idempotency_key);
    two.apply(p2, session);
    session.commit();
    CHECK(remote.active_count() == 300);  // the orphans the restore made are cancelled
    CHECK(two.reconcile(witness).actions.empty());
}
