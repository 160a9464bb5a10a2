// reopen() made a new connection while a reconcile lock was held: the session-level advisory lock
// died with the old connection, the reconcile_lock object still stood for it, and a second process
// could take the lock and reconcile at the same time as the first, which went on. reopen() (and the
// restores and snapshots, which close and reopen the connection) now refuse while a reconcile lock
// of the connection is alive: the reconcile that held it must end first, and reconcile again.

#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include <unistd.h>

#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>

#include "pg_support.hpp"

using namespace concord;
using concord::test::pg_fresh_database;
using concord::test::pg_unique_name;

namespace {
errc code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const error& e) {
        return e.code();
    } catch (...) {
        return errc::system_failure;  // anything else: not what the test expects either
    }
    FAIL_CHECK("no error");
    return errc::system_failure;
}

void wait_until_gone(postgres_database& admin, int pid) {
    for (int i = 0; i < 200; ++i) {
        if (admin.exec("SELECT 1 FROM pg_stat_activity WHERE pid = $1", {std::to_string(pid)}).size() == 0) return;
        ::usleep(20000);
    }
}
} // namespace

TEST_CASE("reopen() while a reconcile lock is held is refused, and the lock stays held", "[postgres][lock]") {
    pg_fresh_database fresh("lockreopen");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    {
        auto held = a.lock_reconcile();
        CHECK(code_of([&] { a.reopen(); }) == errc::invalid_argument);
        CHECK(a.connected());
        CHECK(code_of([&] { (void)b.lock_reconcile(); }) == errc::concurrent_reconcile);  // only one reconciler
    }
    CHECK_NOTHROW(a.reopen());  // the reconcile has ended
    CHECK_NOTHROW(b.lock_reconcile());
}

TEST_CASE("after the connection holding a reconcile lock was lost, reopen() waits for that reconcile to end",
          "[postgres][lock]") {
    pg_fresh_database fresh("lockreopen2");
    postgres_database a(fresh.conninfo());
    postgres_database admin(fresh.conninfo());
    auto held = a.lock_reconcile();
    const int pid = a.backend_pid();
    SECTION("killed by the server") {
        admin.exec("SELECT pg_terminate_backend($1)", {std::to_string(pid)});
        wait_until_gone(admin, pid);
        CHECK_THROWS(a.exec("SELECT 1"));  // the host learns the connection is lost
    }
    SECTION("closed by the host") {
        a.close();
    }
    // The lock is gone with the connection: the reconcile that believed it held it must not go on.
    CHECK(code_of([&] { a.reopen(); }) == errc::invalid_argument);
    held.release();
    CHECK_NOTHROW(a.reopen());
    CHECK_NOTHROW(a.lock_reconcile());
}

TEST_CASE("a snapshot or restore while a reconcile lock is held is refused before the connection is closed",
          "[postgres][lock][restore]") {
    pg_fresh_database fresh("lockreopen3");
    postgres_database a(fresh.conninfo());
    postgres_database b(fresh.conninfo());
    const auto snap = pg_unique_name("lockreopen_snap");
    {
        auto held = a.lock_reconcile();
        CHECK(code_of([&] { postgres_snapshot(a, snap); }) == errc::invalid_argument);
        CHECK(a.connected());
        CHECK(code_of([&] { (void)b.lock_reconcile(); }) == errc::concurrent_reconcile);
    }
    b.close();  // a snapshot needs the database to itself
    CHECK_NOTHROW(postgres_snapshot(a, snap));
    postgres_drop_snapshot(a, snap);
}
