// A replica that lost writes (restored from a backup of its own, or replaced): its head is below the
// host's mirror cursor. Seqs only grow, so that cannot happen to a replica that kept its writes. A
// change feed from the cursor shows nothing of what the replica lost; the mirror used to read it
// anyway, find nothing, and move the cursor back to the replica's head in silence, so the rows the
// replica lost were never written again by a feed. The feed is now refused with
// errc::cursor_rejected (automatic reads every difference in its place).

#include <cstdint>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "fixture.hpp"

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

using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;

product prod(int i) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100 + i}; }

auto make_rec(concord::memory_store<product>& host, replica_t& replica) {
    return concord::make_reconciler<concord::policy::trust_local>(
        host, replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}, sku_identity{});
}

/// The host mirrored 6 products; the replica is then put back to a copy taken after the first 3
/// (head 3), while the host's cursor stays at 6.
struct lost_writes_world {
    temp_dir dir;
    concord::memory_store<product> host;
    concord::memory_witness witness;
    std::optional<replica_t> replica;

    lost_writes_world() {
        {
            replica_t r(dir / "replica.db", "products");
            auto rec = make_rec(host, r);
            concord::mirror::mirror m(rec);
            for (int i = 1; i <= 3; ++i) host.put(prod(i));
            m.sync(witness, concord::mirror::method::full_scan);
            const std::string copy = "VACUUM INTO '" + (dir / "old.db").string() + "'";
            REQUIRE(sqlite3_exec(r.handle(), copy.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
            for (int i = 4; i <= 6; ++i) host.put(prod(i));
            m.sync(witness, concord::mirror::method::full_scan);
            REQUIRE(m.cursor() == std::optional<std::uint64_t>(6));
        }
        replica.emplace(dir / "old.db", "products");  // the replica's own backup, restored
    }
};

} // namespace

TEST_CASE("mirror review5: a change feed from a cursor above the replica head is refused, not moved back",
          "[mirror][cursor][review5]") {
    lost_writes_world w;
    REQUIRE(w.replica->head() == 3);
    REQUIRE(w.replica->active_count() == 3);
    auto rec = make_rec(w.host, *w.replica);
    concord::mirror::mirror m(rec);
    REQUIRE(m.cursor() == std::optional<std::uint64_t>(6));

    std::string msg;
    try {
        m.sync(w.witness, concord::mirror::method::change_feed);
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::cursor_rejected);
        msg = e.what();
    }
    CHECK(msg.find("below the cursor 6") != std::string::npos);
    CHECK(msg.find("full re-scan") != std::string::npos);
    CHECK(m.cursor() == std::optional<std::uint64_t>(6));  // not moved back in silence
    CHECK(w.replica->active_count() == 3);

    // The documented recovery reads everything and writes back what the replica lost.
    auto r = m.sync(w.witness, concord::mirror::method::full_scan);
    CHECK(r.actions() == 3);
    CHECK(w.replica->active_count() == 6);
    CHECK(m.cursor() == std::optional<std::uint64_t>(w.replica->head()));
}

TEST_CASE("mirror review5: after a host restore, automatic replaces the feed of a replica that lost writes",
          "[mirror][cursor][restore][review5]") {
    lost_writes_world w;
    auto rec = make_rec(w.host, *w.replica);
    concord::mirror::mirror m(rec);
    // The host is restored too, to a checkpoint whose cursor (6) is still above the replica's head:
    // another integration's reconcile commits a generation the restore then takes away.
    const auto backup = w.host.snapshot();
    concord::memory_remote<product> other;
    concord::make_reconciler<concord::policy::trust_local>(w.host, other,
                                                           {.owner = {"host-1", "other"}, .entity_name = "other"},
                                                           sku_identity{})
        .reconcile(w.witness);
    w.host.restore(backup);
    REQUIRE(m.cursor() == std::optional<std::uint64_t>(6));

    auto r = m.sync(w.witness);
    CHECK(r.timeline == concord::verdict::restored);
    REQUIRE(r.passes.size() == 1);
    CHECK(r.passes[0].replaced == std::optional(concord::mirror::method::change_feed));
    CHECK(r.passes[0].replaced_because.find("lost writes") != std::string::npos);
    CHECK(r.passes[0].used == concord::mirror::method::checksums);
    CHECK(w.replica->active_count() == 6);  // SKU-1..6, as the restored host has them
    CHECK(m.cursor() == std::optional<std::uint64_t>(w.replica->head()));
}
