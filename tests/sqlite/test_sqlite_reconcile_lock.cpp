// The SQLite reconcile lock: sqlite_database::lock_reconcile / sqlite_store::lock_reconcile, an
// flock on a lock file beside the database, one per scope. Two handles on one file stand for two
// processes (flock locks belong to the open file, so two connections of one process exclude each
// other as two processes do).

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include "../support/store_conformance.hpp"
#include "sqlite_fixture.hpp"

#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

using concord::errc;
using concord::conformance::item;
using concord::conformance::make_item;
using concord::test::temp_dir;

namespace {

/// The code and message of what `f` throws as a concord::error (no code when it throws nothing).
template <class F>
std::pair<std::optional<errc>, std::string> outcome_of(F&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return {e.code(), e.what()};
    }
    return {std::nullopt, ""};
}

} // namespace

TEST_CASE("sqlite reconcile lock: a second handle on the file is refused while the first holds it", "[sqlite][lock]") {
    temp_dir dir;
    const auto path = dir / "shop.db";
    concord::sqlite_database db1(path), db2(path);
    concord::sqlite_store<item> s1(db1, "items"), s2(db2, "items");
    const auto lock_file = db1.reconcile_lock_path();
    REQUIRE(lock_file == db2.reconcile_lock_path());  // every connection to the file names one lock file
    CHECK(lock_file.parent_path() == std::filesystem::canonical(dir.path()));
    CHECK(lock_file.filename().string().starts_with("shop.db.concord-reconcile-"));
    CHECK(lock_file.extension() == ".lock");
    CHECK(db1.reconcile_lock_path("billing") != lock_file);

    {
        auto held = s1.lock_reconcile();
        CHECK(held.held());
        CHECK(held.path() == lock_file);
        CHECK(std::filesystem::exists(lock_file));
        const auto [code, message] = outcome_of([&] { (void)s2.lock_reconcile(); });
        CHECK(code == errc::concurrent_reconcile);
        CHECK(message.find(lock_file.string()) != std::string::npos);  // names the file
        CHECK(message.find("scope 'concord'") != std::string::npos);
        // not re-entrant on one connection either
        CHECK(outcome_of([&] { (void)db1.lock_reconcile(); }).first == errc::concurrent_reconcile);
        // other scopes are independent
        auto other = s2.lock_reconcile("billing");
        CHECK(other.held());
        CHECK(outcome_of([&] { (void)s1.lock_reconcile("billing"); }).first == errc::concurrent_reconcile);
    }
    {
        auto taken = s2.lock_reconcile();  // released with its holder
        CHECK(taken.held());
        // moved: the lock goes with the object; release() lets go early
        auto moved = std::move(taken);
        CHECK_FALSE(taken.held());
        CHECK(moved.held());
        CHECK(outcome_of([&] { (void)s1.lock_reconcile(); }).first == errc::concurrent_reconcile);
        moved.release();
        CHECK_FALSE(moved.held());
        moved = s1.lock_reconcile();
        CHECK(moved.held());
        CHECK(outcome_of([&] { (void)s2.lock_reconcile(); }).first == errc::concurrent_reconcile);
    }
    CHECK(std::filesystem::exists(lock_file));  // left in place: removing a flock file races
    auto again = s2.lock_reconcile();
    CHECK(again.held());
}

TEST_CASE("sqlite reconcile lock: a reconcile on a second handle stops while the lock is held, having written nothing",
          "[sqlite][lock]") {
    temp_dir dir;
    const auto path = dir / "shop.db";
    concord::conformance::remote_type remote;
    concord::sqlite_database db1(path), db2(path);
    concord::sqlite_store<item> s1(db1, "items"), s2(db2, "items");
    concord::file_witness w1(concord::file_witness::beside(path)), w2(concord::file_witness::beside(path));
    auto sync1 = concord::conformance::make_sync(s1, remote);
    auto sync2 = concord::conformance::make_sync(s2, remote);
    s1.put(make_item("a"));
    sync1.reconcile(w1);
    s1.put(make_item("b"));
    const auto before = s2.load_checkpoint();
    const auto witness_before = w2.load();
    REQUIRE(before);
    REQUIRE(witness_before);
    {
        auto held = s1.lock_reconcile();  // process A is in a session
        const auto [code, message] = outcome_of([&] { sync2.reconcile(w2); });
        CHECK(code == errc::concurrent_reconcile);
        CHECK(message.find(db1.reconcile_lock_path().string()) != std::string::npos);
        CHECK(remote.stats().creates == 1);  // nothing reached the remote
        CHECK(s2.load_checkpoint() == before);
        CHECK(s2.links().size() == 1);
        CHECK(w2.load() == witness_before);
        // another scope is another integration: not excluded
        auto held_other = s2.lock_reconcile("other-integration");
        CHECK(held_other.held());
    }
    auto rep = sync2.reconcile(w2);  // the lock is free again
    CHECK(rep.timeline == concord::verdict::same_timeline);
    CHECK(remote.stats().creates == 2);
    CHECK(remote.active_count() == 2);
}

TEST_CASE("sqlite reconcile lock: a reconciler with its own lock_scope takes that scope's lock", "[sqlite][lock]") {
    temp_dir dir;
    const auto path = dir / "shop.db";
    concord::conformance::remote_type remote;
    concord::sqlite_database db1(path), db2(path);
    concord::sqlite_store<item> s1(db1, "items"), s2(db2, "items");
    concord::file_witness w(concord::file_witness::beside(path));
    auto sync = concord::make_reconciler<concord::policy::trust_local>(
        s2, remote, {.owner = {"conformance", "shop"}, .entity_name = "item", .lock_scope = "shop-items"},
        concord::conformance::identity_type{});
    s2.put(make_item("a"));
    {
        auto held = s1.lock_reconcile();  // the default scope: not this reconciler's
        CHECK(sync.reconcile(w).actions.size() == 1);
    }
    auto held = s1.lock_reconcile("shop-items");
    CHECK(outcome_of([&] { sync.reconcile(w); }).first == errc::concurrent_reconcile);
}

TEST_CASE("sqlite reconcile lock: an in-memory database needs no lock file", "[sqlite][lock]") {
    concord::sqlite_database mem(":memory:");
    concord::sqlite_store<item> s(mem, "items");
    CHECK(mem.reconcile_lock_path().empty());
    auto a = s.lock_reconcile();
    CHECK_FALSE(a.held());
    CHECK(a.path().empty());
    auto b = s.lock_reconcile();  // nothing else can open it: nothing to exclude
    CHECK_FALSE(b.held());
    concord::conformance::remote_type remote;
    concord::memory_witness w;
    auto sync = concord::conformance::make_sync(s, remote);
    s.put(make_item("a"));
    CHECK(sync.reconcile(w).actions.size() == 1);
}

TEST_CASE("sqlite reconcile lock: a lock file that cannot be opened is a store_error naming it", "[sqlite][lock]") {
    temp_dir dir;
    concord::sqlite_database db(dir / "shop.db");
    concord::sqlite_store<item> s(db, "items");
    // A folder where the lock file should be: open() fails whoever runs the test (root ignores
    // permission bits, so a read-only folder would not do).
    std::filesystem::create_directories(db.reconcile_lock_path());
    try {
        (void)s.lock_reconcile();
        FAIL("the lock file cannot be opened: lock_reconcile must throw");
    } catch (const concord::store_error& e) {
        CHECK(e.code() == errc::store_failure);
        CHECK(std::string(e.what()).find(db.reconcile_lock_path().string()) != std::string::npos);
    }
    auto other = s.lock_reconcile("another scope");  // another file
    CHECK(other.held());
}
