// What a replica's list_ranges(ranges) may answer, and what the mirror makes of it.
//
// * The reference allows a range listing without removed rows (only sqlite_replica is said to
//   include them). The change feed replaced every record of a touched identity by the range
//   listing, so a removal the feed showed was dropped: after a restore, the row the host has again
//   was never re-created, and the cursor went past its removal.
// * A range listing holding a record of no asked range was planned as if it were complete for that
//   record's identity: the object its link names, not listed, looked gone, and a create was planned
//   for a row that exists (refused here only because the replica keeps its idempotency keys). Such
//   a listing is now refused with errc::bad_page before anything is classified.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>

#include <concord/identity.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

namespace {

using replica_t = concord::mirror::sqlite_replica<product>;
using sku_identity = concord::identity::natural_key<&product::sku>;

/// A replica written by a user over sqlite_replica: its range listing leaves removed rows out
/// (`active_only`), or adds records of no asked range (`extra`).
struct user_replica {
    using entity_type = product;
    replica_t* r;
    bool active_only = false;
    std::vector<concord::remote_record<product>> extra;

    static concord::metadata_limits limits() { return {}; }
    concord::page<product> list(std::optional<std::uint64_t> after, std::size_t n) { return r->list(after, n); }
    concord::remote_record<product> create(const product& e, const concord::metadata& m, const std::string& k) {
        return r->create(e, m, k);
    }
    concord::remote_record<product> update(std::string_view id, const product& e, const std::string& k) {
        return r->update(id, e, k);
    }
    concord::remote_record<product> cancel(std::string_view id, const std::string& k) { return r->cancel(id, k); }
    std::optional<concord::remote_record<product>> find_by_key(const std::string& k) { return r->find_by_key(k); }
    std::uint64_t head() { return r->head(); }
    std::vector<concord::mirror::range_checksum> checksums(const std::vector<concord::mirror::key_range>& x) {
        return r->checksums(x);
    }
    std::vector<concord::remote_record<product>> list_ranges(const std::vector<concord::mirror::key_range>& x) {
        std::vector<concord::remote_record<product>> out;
        for (auto& rec : r->list_ranges(x))
            if (!active_only || rec.state == concord::remote_state::active) out.push_back(std::move(rec));
        out.insert(out.end(), extra.begin(), extra.end());
        return out;
    }
};

struct world {
    temp_dir dir;
    replica_t base{dir / "replica.db", "products"};
    user_replica replica{&base, false, {}};
    concord::memory_store<product> host;
    concord::memory_witness witness;
    using rec_t = concord::reconciler<product, concord::memory_store<product>, user_replica, sku_identity,
                                      concord::policy::trust_local>;
    rec_t rec{host, replica, {.owner = {"host-1", "mirror"}, .entity_name = "product"}};
    concord::mirror::mirror<rec_t> mirror{rec};

    void erase(const std::string& sku) {
        for (const auto& e : host.scan())
            if (e.sku == sku) host.erase(e.id);
    }
    std::size_t active(const std::string& sku) {
        std::size_t n = 0;
        for (const auto& x : base.active()) n += x.value.sku == sku;
        return n;
    }
};

product prod(int i) { return {0, "SKU-" + std::to_string(i), "item " + std::to_string(i), 100 + i}; }

} // namespace

TEST_CASE("mirror review5: a feed whose range listing leaves removed rows out still re-creates a row removed "
          "after the restore point",
          "[mirror][restore][review5]") {
    world w;
    w.replica.active_only = true;
    for (int i = 1; i <= 3; ++i) w.host.put(prod(i));
    w.mirror.sync(w.witness, concord::mirror::method::full_scan);
    const auto before = w.host.snapshot();
    w.erase("SKU-2");
    w.mirror.sync(w.witness, concord::mirror::method::checksums);
    REQUIRE(w.active("SKU-2") == 0);
    w.host.restore(before);  // SKU-2 is back at the host; its row's removal is in the feed

    auto r = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(r.timeline == concord::verdict::restored);
    CHECK(r.actions() == 1);
    CHECK(w.active("SKU-2") == 1);
    CHECK(w.base.active_count() == 3);
    CHECK(w.mirror.cursor() == std::optional<std::uint64_t>(w.base.head()));
    auto again = w.mirror.sync(w.witness, concord::mirror::method::change_feed);
    CHECK(again.actions() == 0);
    CHECK(w.base.active_count() == 3);
}

TEST_CASE("mirror review5: a range listing holding a record of no asked range is refused with bad_page",
          "[mirror][checksums][review5]") {
    world w;
    for (int i = 0; i < 20; ++i) w.host.put(prod(i));
    w.mirror.sync(w.witness, concord::mirror::method::full_scan);
    w.erase("SKU-5");
    w.mirror.sync(w.witness, concord::mirror::method::checksums);
    w.host.put(prod(5));  // re-created: SKU-5 has a removed row and an active one
    w.mirror.sync(w.witness, concord::mirror::method::checksums);
    for (const auto& x : w.replica.list(std::nullopt, 100).items)
        if (x.value.sku == "SKU-5" && x.state != concord::remote_state::active) w.replica.extra.push_back(x);
    REQUIRE(w.replica.extra.size() == 1);
    for (auto e : w.host.scan())  // one host edit: the bisection lists one leaf, not SKU-5's
        if (e.sku == "SKU-7") {
            e.name = "edited";
            w.host.put(e);
        }

    SECTION("bisect") {
        const auto local = concord::mirror::local_digest::of(sku_identity{}, w.host.scan());
        std::string msg;
        try {
            concord::mirror::bisect(w.replica, local);
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::bad_page);
            msg = e.what();
        }
        CHECK(msg.find("lies in none of the") != std::string::npos);
        CHECK(msg.find(w.replica.extra[0].remote_id) != std::string::npos);
    }
    SECTION("a checksums sync plans nothing from it") {
        const auto cursor = w.mirror.cursor();
        std::optional<concord::errc> code;
        try {
            w.mirror.sync(w.witness, concord::mirror::method::checksums);
        } catch (const concord::error& e) {
            code = e.code();
        }
        CHECK(code == std::optional(concord::errc::bad_page));
        CHECK(w.mirror.cursor() == cursor);
        CHECK(w.active("SKU-5") == 1);
        w.replica.extra.clear();  // the replica fixed: the edit is pushed, nothing else
        auto r = w.mirror.sync(w.witness, concord::mirror::method::checksums);
        CHECK(r.actions() == 1);
        CHECK(r.passes[0].rep.failed() == 0);
    }
}
