// The mirror over a replica whose seqs start at 0 (the remote_source concept allows it; a replica a
// user writes may number its changes that way): a held record at seq 0 drops the cursor, since no
// cursor can stand below it, so the next sync lists it again.
//
// replica.hpp is included before mirror.hpp on purpose: inside concord::mirror, a bare `detail::`
// names replica.hpp's concord::mirror::detail, which hid concord::detail from mirror.hpp (a
// compile error in this order). This file compiling is that test.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/mirror/replica.hpp>
// (keep after replica.hpp, see above)
#include <concord/mirror/mirror.hpp>

#include <concord/identity.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

namespace {

using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;

product prod(int i) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100}; }

/// A replica written by a user, numbering its changes from 0: sqlite_replica's seqs minus one. No
/// checksums: a change feed and its head are all it offers.
struct zero_based_replica {
    using entity_type = product;
    replica_t* r;
    bool fail_cancel = false;

    static concord::metadata_limits limits() { return {}; }
    static concord::remote_record<product> down(concord::remote_record<product> x) {
        x.seq -= 1;
        return x;
    }
    concord::page<product> list(std::optional<std::uint64_t> after, std::size_t limit) {
        auto p = r->list(after ? std::optional<std::uint64_t>(*after + 1) : std::nullopt, limit);
        for (auto& x : p.items) x.seq -= 1;
        return p;
    }
    concord::remote_record<product> create(const product& e, const concord::metadata& m, const std::string& key) {
        return down(r->create(e, m, key));
    }
    concord::remote_record<product> update(std::string_view id, const product& e, const std::string& key) {
        return down(r->update(id, e, key));
    }
    concord::remote_record<product> cancel(std::string_view id, const std::string& key) {
        if (fail_cancel) throw concord::remote_error(concord::errc::remote_permanent, "injected: cancel refused");
        return down(r->cancel(id, key));
    }
    std::uint64_t head() {
        const auto h = r->head();
        return h == 0 ? 0 : h - 1;
    }
};

/// A host restored to a point before its mirror's first sync: the restored checkpoint holds no mirror
/// cursor, and the replica's row at seq 0 (SKU-0, created after that point) is an orphan.
template <class Policy>
struct zero_based_world {
    temp_dir dir;
    replica_t base{dir / "replica.db", "products"};
    zero_based_replica replica{&base};
    concord::memory_store<product> host;
    concord::memory_witness witness;
    using rec_t = concord::reconciler<product, concord::memory_store<product>, zero_based_replica, sku_identity, Policy>;
    rec_t rec{host, replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}};
    concord::mirror::mirror<rec_t> mirror{rec};

    zero_based_world() {
        // Mirrored by trust_local (the usual policy); the policy under test handles the rewind.
        auto first = concord::make_reconciler<concord::policy::trust_local>(
            host, replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}, sku_identity{});
        first.reconcile(witness);  // a checkpoint, without a mirror cursor
        const auto before = host.snapshot();
        host.put(prod(0));
        host.put(prod(1));
        concord::mirror::mirror<decltype(first)>(first).sync(witness, concord::mirror::method::full_scan);
        host.restore(before);
        host.put(prod(1));
    }
    /// The replica's record at `seq`, if it lists one.
    std::optional<concord::remote_record<product>> at(std::uint64_t seq) {
        for (auto& x : replica.list(std::nullopt, 100).items)
            if (x.seq == seq) return x;
        return std::nullopt;
    }
    std::size_t active() {
        std::size_t n = 0;
        for (const auto& x : replica.list(std::nullopt, 100).items) n += x.state == concord::remote_state::active;
        return n;
    }
};

using ask_orphan = concord::policy::per_case<concord::policy::trust_local,
                                             concord::policy::case_<concord::orphan, concord::policy::ask_user>>;

} // namespace

TEST_CASE("mirror: a record at replica seq 0 that waits for a decision is listed again", "[mirror][cursor]") {
    zero_based_world<ask_orphan> w;
    const auto zero = w.at(0);
    REQUIRE(zero);
    REQUIRE(zero->value.sku == "SKU-0");

    auto r1 = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(r1.timeline == concord::verdict::restored);
    REQUIRE(r1.passes.size() == 1);
    REQUIRE(r1.passes[0].rep.decisions.size() == 1);
    CHECK(r1.held == 1);
    CHECK_FALSE(r1.cursor_after.has_value());  // nothing lies below seq 0: no cursor, the next sync starts over
    CHECK_FALSE(w.mirror.cursor().has_value());

    auto r2 = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    REQUIRE(r2.passes.size() == 1);
    REQUIRE(r2.passes[0].rep.decisions.size() == 1);  // the question is still put
    CHECK(r2.passes[0].rep.decisions[0].id == r1.passes[0].rep.decisions[0].id);
    CHECK(r2.held == 1);
    CHECK(w.active() == 2);  // nothing removed without an answer
}

TEST_CASE("mirror: a record at replica seq 0 whose action failed is retried by the next sync", "[mirror][cursor]") {
    zero_based_world<concord::policy::trust_local> w;
    REQUIRE(w.at(0));
    w.replica.fail_cancel = true;  // the orphan's removal is refused
    auto r1 = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    REQUIRE(r1.passes.size() == 1);
    CHECK(r1.passes[0].rep.failed() == 1);
    CHECK(r1.held == 1);
    CHECK_FALSE(r1.cursor_after.has_value());

    w.replica.fail_cancel = false;
    auto r2 = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    REQUIRE(r2.passes.size() == 1);
    CHECK(r2.passes[0].rep.counts[static_cast<std::size_t>(concord::case_kind::orphan)] == 1);
    CHECK(r2.actions() == 1);
    CHECK(r2.held == 0);
    CHECK(w.active() == 1);  // the orphan is gone: the replica matches the host
    CHECK(w.mirror.cursor() == std::optional<std::uint64_t>(w.replica.head()));
}
