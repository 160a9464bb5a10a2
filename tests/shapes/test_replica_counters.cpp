// sqlite_replica's counters (last seq, last id) and cursors.
//  * Its own transaction, destroyed without commit (the work inside threw), rolls back and re-reads
//    the counters. When that re-read failed too (an SQLite error; here the host's own SQL moved the
//    counters' table away), the destructor threw while the first exception was in flight:
//    std::terminate. It no longer throws; the first exception is the one the caller sees, and the
//    counters are re-read before the next write relies on them. Run in a child process: the old
//    behaviour kills the process.
//  * A write inside a transaction the host opened on the replica's handle used the counters as last
//    read, even when another connection had written since: the seq it handed out could be below the
//    head (a row no feed from the mirror's cursor shows), and the head went back.
//  * A cursor above INT64_MAX wrapped to a negative seq: list_created_since listed every row again,
//    list blamed a compaction. Both refuse it with errc::cursor_rejected.

#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.hpp"

#include <concord/mirror/replica.hpp>

using namespace shapes_test;

namespace {

using replica_t = concord::mirror::sqlite_replica<product>;

product prod(int i) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100 + i}; }

concord::metadata meta_of(int i) { return {{"concord_identity", "SKU-" + std::to_string(i)}}; }

/// Runs `body` in a child process; its exit status (or 128 + the signal that killed it).
template <class F>
int in_child(F&& body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        int rc = 100;
        try {
            rc = body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: unexpected exception: %s\n", e.what());
            rc = 101;
        }
        std::fflush(stderr);
        ::_exit(rc);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace

TEST_CASE("replica transaction whose rollback cannot re-read its counters does not terminate",
          "[mirror][replica]") {
    temp_dir dir;
    const auto path = dir / "replica.db";
    const int status = in_child([&] {
        replica_t r(path, "products");
        r.create(prod(1), meta_of(1), "k1");
        r.create(prod(2), meta_of(2), "k2");
        bool first_error_seen = false;
        try {
            r.in_transaction([&] {
                // The host's own SQL on the handle ended the transaction and moved the counters'
                // table away (a migration), so the re-read after the rollback fails.
                sqlite3_exec(r.handle(), "ROLLBACK; ALTER TABLE products_state RENAME TO products_state_away",
                             nullptr, nullptr, nullptr);
                throw std::runtime_error("the host's work failed");
            });
        } catch (const std::runtime_error& e) {
            first_error_seen = std::string(e.what()) == "the host's work failed";
            if (!first_error_seen) std::fprintf(stderr, "child: in_transaction threw: %s\n", e.what());
        }
        if (!first_error_seen) return 1;
        if (sqlite3_exec(r.handle(), "ALTER TABLE products_state_away RENAME TO products_state", nullptr, nullptr,
                         nullptr) != SQLITE_OK)
            return 7;
        // A write inside the host's own transaction uses the counters as they are: they must be the
        // file's (head 2, last id m2), not what the failed re-read left (zeros).
        if (sqlite3_exec(r.handle(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return 2;
        std::optional<concord::remote_record<product>> rec;
        try {
            rec = r.create(prod(3), meta_of(3), "k3");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: create after the failed rollback: %s\n", e.what());
            return 3;
        }
        if (sqlite3_exec(r.handle(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return 4;
        if (rec->seq != 3 || rec->remote_id != "m3") return 5;
        return r.head() == 3 && r.active_count() == 3 ? 0 : 6;
    });
    CHECK(status == 0);
}

TEST_CASE("replica cursor above INT64_MAX is refused, not wrapped to a negative seq", "[mirror][replica][cursor]") {
    temp_dir dir;
    replica_t r(dir / "replica.db", "products");
    r.create(prod(1), meta_of(1), "k1");
    r.create(prod(2), meta_of(2), "k2");
    const std::uint64_t past = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;

    std::optional<concord::errc> since_code;
    std::size_t since_rows = 0;
    try {
        since_rows = r.list_created_since(0, past, 10).items.size();
    } catch (const concord::error& e) {
        since_code = e.code();
    }
    CHECK(since_rows == 0);  // the wrapped cursor listed every row again
    CHECK(since_code == std::optional<concord::errc>(concord::errc::cursor_rejected));

    std::optional<concord::errc> list_code;
    std::string list_message;
    try {
        r.list(std::numeric_limits<std::uint64_t>::max(), 10);
    } catch (const concord::error& e) {
        list_code = e.code();
        list_message = e.what();
    }
    CHECK(list_code == std::optional<concord::errc>(concord::errc::cursor_rejected));
    CHECK(list_message.find("compacted") == std::string::npos);  // nothing was compacted
    CHECK(list_message.find("18446744073709551615") != std::string::npos);

    // The largest cursor a replica can hand out still lists (nothing after it).
    const auto top = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    CHECK(r.list(top, 10).items.empty());
    CHECK(r.list_created_since(0, top, 10).items.empty());
}

TEST_CASE("replica write inside the host's own transaction takes seqs from the file", "[mirror][replica][cursor]") {
    temp_dir dir;
    replica_t r(dir / "replica.db", "products");
    const auto first = r.create(prod(1), meta_of(1), "k1");  // seq 1, m1
    {
        // A second worker on the same file moves m1 twice: seqs 2 then 3 (2 is free again).
        replica_t other(dir / "replica.db", "products");
        other.update(first.remote_id, prod(10), "u1");
        other.update(first.remote_id, prod(11), "u2");
        REQUIRE(other.head() == 3);
    }
    REQUIRE(sqlite3_exec(r.handle(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::optional<concord::remote_record<product>> created;
    try {
        created = r.create(prod(2), meta_of(2), "k2");
    } catch (const concord::error&) {
    }
    REQUIRE(sqlite3_exec(r.handle(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    REQUIRE(created);
    CHECK(created->seq == 4);  // above everything a cursor may already stand on
    CHECK(r.head() == 4);      // the head never goes back
    // A mirror whose cursor stood at 3 sees the new row.
    const auto feed = r.list(3, 10);
    REQUIRE(feed.items.size() == 1);
    CHECK(feed.items.front().remote_id == created->remote_id);
}
