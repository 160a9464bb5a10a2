// The reference models and the SQLite replica keep their contracts: memory_remote refuses a key reused
// with another request however its text reads; sqlite_replica reads its counters (seqs, ids and the
// compaction horizon) from the file.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <concord/error.hpp>
#include <concord/memory/remote.hpp>
#include <concord/mirror/replica.hpp>

#include "fixture.hpp"

using shapes_test::product;
using shapes_test::temp_dir;
using replica_t = concord::mirror::sqlite_replica<product>;

namespace {
std::optional<concord::errc> code_of_create(concord::memory_remote<product>& r, const product& p,
                                            const concord::metadata& m, const std::string& key) {
    try {
        r.create(p, m, key);
        return std::nullopt;
    } catch (const concord::error& e) {
        return e.code();
    }
}
} // namespace

TEST_CASE("memory_remote: a key reused with other metadata or other content is refused, however the text reads",
          "[memory][remote][idempotency]") {
    concord::memory_remote<product> r;
    const product p{0, "sku-1", "widget", 100};
    const auto first = r.create(p, {{"a", "x|b=y"}}, "k-meta");
    // Other metadata that the old text form wrote as the same "|a=x|b=y".
    CHECK(code_of_create(r, p, {{"a", "x"}, {"b", "y"}}, "k-meta") == concord::errc::idempotency_conflict);
    CHECK(r.stats().creates == 1);
    // A key name holding '=' against a value holding it: both were "|a=b=c".
    r.create(p, {{"a=b", "c"}}, "k-eq");
    CHECK(code_of_create(r, p, {{"a", "b=c"}}, "k-eq") == concord::errc::idempotency_conflict);
    // Other content: two different ill-formed UTF-8 bytes print as the same \ufffd.
    r.create(product{0, "sku-\xff", "widget", 100}, {}, "k-utf8");
    CHECK(code_of_create(r, product{0, "sku-\xfe", "widget", 100}, {}, "k-utf8") == concord::errc::idempotency_conflict);
    // The same request is still replayed, whatever its local id.
    CHECK(r.create(product{7, "sku-1", "widget", 100}, {{"a", "x|b=y"}}, "k-meta").remote_id == first.remote_id);
}

TEST_CASE("sqlite_replica: a second connection to the file hands out seqs and ids from what the file holds",
          "[mirror][replica][reopen]") {
    temp_dir dir;
    replica_t a(dir / "replica.db", "products");
    replica_t b(dir / "replica.db", "products");  // a second process, or a maintenance job
    const auto x = a.create(product{0, "s1", "one", 1}, {{"concord_id", "01"}}, "k1");
    CHECK(b.head() == a.head());  // b's head was what the file held when b opened
    std::optional<concord::remote_record<product>> y;
    CHECK_NOTHROW(y = b.create(product{0, "s2", "two", 2}, {{"concord_id", "02"}}, "k2"));
    REQUIRE(y);
    CHECK(y->remote_id != x.remote_id);
    CHECK(y->seq > x.seq);
    CHECK(a.head() == y->seq);
}

TEST_CASE("sqlite_replica: a compaction through another connection refuses the cursors it made stale",
          "[mirror][replica][compact]") {
    temp_dir dir;
    replica_t a(dir / "replica.db", "products");
    replica_t b(dir / "replica.db", "products");  // opened before the compaction
    const auto x = a.create(product{0, "s1", "one", 1}, {{"concord_id", "01"}}, "k1");
    const std::uint64_t cursor = x.seq;  // b's consumer saw everything up to x
    // a row with no identity, removed: compaction drops its tombstone
    const auto z = a.create(product{0, "s3", "three", 3}, {}, "k3");
    a.cancel(z.remote_id, "c3");
    a.compact(a.head());
    // b's feed from before the compaction would miss the removal: it must be refused, not served.
    bool rejected = false;
    try {
        const auto p = b.list(cursor, 10);
        CHECK(p.items.empty());  // what b served instead: the removal is gone
    } catch (const concord::error& e) {
        rejected = e.code() == concord::errc::cursor_rejected;
    }
    CHECK(rejected);
}

TEST_CASE("sqlite_replica: compacting past the head does not refuse every later feed", "[mirror][replica][compact]") {
    temp_dir dir;
    replica_t r(dir / "replica.db", "products");
    const auto a = r.create(product{0, "s1", "one", 1}, {{"concord_id", "0a"}}, "k1");
    r.cancel(a.remote_id, "c1");
    const auto b = r.create(product{0, "s1", "one", 1}, {{"concord_id", "0a"}}, "k2");
    r.cancel(b.remote_id, "c2");
    const auto before = r.head();
    r.compact(std::numeric_limits<std::uint64_t>::max());  // "compact every removal"
    // A cursor at the head before the compaction sees the folded removals once more.
    std::optional<concord::page<product>> p;
    CHECK_NOTHROW(p = r.list(before, 10));
    if (p) CHECK(p->items.size() == 2);
    // A cursor at the head now (what the mirror commits after a sync) is served.
    CHECK_NOTHROW(r.list(r.head(), 10));
    r.create(product{0, "s2", "two", 2}, {{"concord_id", "0b"}}, "k3");
    const auto after_new = r.head();
    CHECK_NOTHROW(r.list(after_new - 1, 10));
}
