// The join under plan(): the in-place radix sort of key rows, classification of a large shuffled data
// set (enough rows for the radix passes to recurse) against the case each identity was built to be,
// and what happens when two identity keys agree in the 96 bits the rows join on.

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <concord/detail/key_sort.hpp>

#include "fixture.hpp"

using concord::detail::key_row;

namespace {

std::vector<key_row> sorted_copy(std::vector<key_row> v) {
    std::sort(v.begin(), v.end(), concord::detail::row_less);
    return v;
}

bool same_rows(const std::vector<key_row>& a, const std::vector<key_row>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const key_row& x, const key_row& y) {
        return x.hi == y.hi && x.lo == y.lo && x.slot == y.slot && x.tag == y.tag;
    });
}

} // namespace

TEST_CASE("sort_rows orders by (identity, index) like std::sort, whatever the key distribution", "[engine][join]") {
    std::mt19937_64 rng(7);
    auto check = [](std::vector<key_row> rows) {
        const auto want = sorted_copy(rows);
        concord::detail::sort_rows(rows.data(), rows.size());
        CHECK(same_rows(rows, want));
    };
    SECTION("uniform hashes, sizes around the thresholds") {
        for (std::size_t n : {0u, 1u, 95u, 96u, 97u, 1000u, 30000u, 200000u}) {
            std::vector<key_row> rows(n);
            for (std::size_t i = 0; i < n; ++i) rows[i] = key_row::make({rng(), rng()}, rng(), i);
            std::shuffle(rows.begin(), rows.end(), rng);
            INFO("n = " << n);
            check(rows);
        }
    }
    SECTION("keys equal in their top 64 bits, duplicates, and ties broken by index") {
        std::vector<key_row> rows(50000);
        for (std::size_t i = 0; i < rows.size(); ++i)
            rows[i] = key_row::make({rng() % 3, (rng() % 50) << 32}, 0, rng() % 1000000);
        check(rows);
    }
    SECTION("all rows in one top byte") {
        std::vector<key_row> rows(20000);
        for (std::size_t i = 0; i < rows.size(); ++i)
            rows[i] = key_row::make({0x42ull << 56 | (rng() >> 8), rng()}, 0, i);
        check(rows);
    }
}

TEST_CASE("plan_from classifies every identity of a large shuffled data set as it was built", "[engine][join]") {
    using namespace engine_test;
    using concord::case_kind;
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    auto rec = concord::make_reconciler<concord::policy::ask_user>(db, remote, options(), sku_identity{});
    const auto owner = options().owner;
    const sku_identity idp;

    enum shape { in_sync, diverged, relink_other, relink_none, local_only, local_only_linked, orphan, orphan_linked,
                 duplicate, dup_local, foreign, cancelled_then_local, shape_count };
    std::mt19937_64 rng(11);
    std::vector<item> local;
    std::vector<concord::link> links, stale_links;
    std::vector<concord::remote_record<item>> rem;
    std::map<std::string, case_kind> want;  // sku -> expected case (duplicate locals: no case at all)
    std::size_t expect_in_sync = 0, dup_locals = 0;
    std::uint64_t seq = 0;
    auto add_remote = [&](const item& v, std::string rid, bool ours = true, bool active = true) {
        concord::remote_record<item> r;
        r.remote_id = std::move(rid);
        r.seq = ++seq;
        r.value = v;
        r.value.id = 0;
        if (ours) r.meta = concord::stamp_metadata(owner, idp.key(v), 1);
        else r.meta["other_integrator"] = "x";
        if (!active) r.state = concord::remote_state::cancelled;
        rem.push_back(std::move(r));
    };
    const std::size_t n = 40000;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string sku = "sku-" + std::to_string(i);
        const item v = make_item(sku, "n" + std::to_string(i % 7), static_cast<std::int64_t>(i));
        const auto id = idp.key(v);
        const auto rid = "r" + std::to_string(i);
        switch (static_cast<shape>(i % shape_count)) {
        case in_sync:
            local.push_back(v), add_remote(v, rid), links.push_back({id, rid, 1}), ++expect_in_sync;
            // a second link for the same identity, later in the store's order, never wins over the first
            if (i % 24 == 0) stale_links.push_back({id, "r-stale-" + rid, 1});
            break;
        case diverged: {
            auto changed = v;
            changed.cents += 1;
            local.push_back(v), add_remote(changed, rid), links.push_back({id, rid, 1});
            want[sku] = case_kind::diverged;
            break;
        }
        case relink_other:
            local.push_back(v), add_remote(v, rid), links.push_back({id, "r-gone-" + rid, 1});
            want[sku] = case_kind::relinkable;
            break;
        case relink_none: local.push_back(v), add_remote(v, rid), want[sku] = case_kind::relinkable; break;
        case local_only: local.push_back(v), want[sku] = case_kind::local_only; break;
        case local_only_linked:
            local.push_back(v), links.push_back({id, rid, 1}), want[sku] = case_kind::local_only;
            break;
        case orphan: add_remote(v, rid), want[sku] = case_kind::orphan; break;
        case orphan_linked: add_remote(v, rid), links.push_back({id, rid, 1}), want[sku] = case_kind::orphan; break;
        case duplicate:
            local.push_back(v), add_remote(v, rid), add_remote(v, rid + "b"), links.push_back({id, rid, 1});
            want[sku] = case_kind::duplicate;
            break;
        case dup_local: local.push_back(v), local.push_back(v), add_remote(v, rid), ++dup_locals; break;
        case foreign: add_remote(v, rid, false), want["foreign:" + rid] = case_kind::foreign; break;
        case cancelled_then_local:
            add_remote(v, rid, true, false), local.push_back(v), want[sku] = case_kind::local_only;
            break;
        case shape_count: break;
        }
    }
    std::shuffle(local.begin(), local.end(), rng);
    std::shuffle(links.begin(), links.end(), rng);
    links.insert(links.end(), stale_links.begin(), stale_links.end());
    std::shuffle(rem.begin(), rem.end(), rng);

    concord::timeline_status st;
    st.kind = concord::verdict::same_timeline;
    st.generation = 2;
    const auto p = rec.plan_from(st, true, local, links, rem);

    CHECK(p.count(case_kind::in_sync) == expect_in_sync);
    CHECK(p.cursor == seq);
    std::map<std::string, case_kind> got;
    for (const auto& c : p.cases) {
        if (c.kind == case_kind::foreign) got["foreign:" + c.remote.front().remote_id] = c.kind;
        else got[c.local ? c.local->sku : c.remote.front().value.sku] = c.kind;
    }
    CHECK(got.size() == want.size());
    std::size_t wrong = 0;
    for (const auto& [sku, kind] : want) {
        auto it = got.find(sku);
        if (it == got.end() || it->second != kind) {
            if (++wrong <= 5) FAIL_CHECK(sku << ": expected " << to_string(kind) << ", got "
                                              << (it == got.end() ? std::string("nothing") : std::string(to_string(it->second))));
        }
    }
    CHECK(wrong == 0);
    // Links reach their cases: an orphan with a link names it, a relinkable one names the stale id.
    for (const auto& c : p.cases) {
        if (c.kind == case_kind::orphan) {
            const auto i = std::stoul(c.remote.front().value.sku.substr(4));
            CHECK(c.linked_remote.has_value() == (i % shape_count == orphan_linked));
        }
        if (c.kind == case_kind::relinkable && c.linked_remote) CHECK(c.linked_remote->rfind("r-gone-", 0) == 0);
        if (c.kind == case_kind::duplicate) {
            REQUIRE(c.remote.size() == 2);
            CHECK(c.remote[0].seq < c.remote[1].seq);  // copies in listing order
        }
    }
    std::size_t dup_problems = 0;
    for (const auto& pr : p.problems) dup_problems += pr.code == concord::errc::duplicate_local;
    CHECK(dup_problems == dup_locals);
    // Cases come in identity order after the foreign ones, as before the radix join.
    std::vector<concord::key128> ids;
    for (const auto& c : p.cases)
        if (c.kind != case_kind::foreign) ids.push_back(c.identity);
    CHECK(std::is_sorted(ids.begin(), ids.end()));
}

namespace {
/// The SKU's identity with its lowest 32 bits cleared unless the SKU starts with "twin-b": "twin-a" and
/// "twin-b" of one number then agree in the top 96 bits of their keys and differ in the full key.
struct twin_identity {
    static constexpr bool stable_across_restores = true;
    concord::identity_key key(const engine_test::item& e) const {
        const std::string base = e.sku.substr(e.sku.find('-', 5) + 1);  // "twin-a-7" -> "7"
        auto k = engine_test::sku_identity{}.key(engine_test::make_item("n-" + base));
        k.lo &= ~0xFFFFFFFFull;
        if (e.sku.rfind("twin-b", 0) == 0) k.lo |= 1;
        return k;
    }
    std::string describe(const engine_test::item& e) const { return "sku=" + e.sku; }
};
} // namespace

TEST_CASE("identity keys that agree in the 96 bits the rows join on are reported and left alone", "[engine][join]") {
    using namespace engine_test;
    using concord::case_kind;
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, options(), twin_identity{});
    const twin_identity idp;
    std::vector<item> local;
    std::vector<concord::link> links;
    std::vector<concord::remote_record<item>> rem;
    auto add_remote = [&](const item& v, const std::string& rid) {
        concord::remote_record<item> r;
        r.remote_id = rid;
        r.seq = rem.size() + 1;
        r.value = v;
        r.meta = concord::stamp_metadata(options().owner, idp.key(v), 1);
        rem.push_back(std::move(r));
    };
    // Number 1: a local twin-a and a remote twin-b (different identities, one 96-bit prefix).
    local.push_back(make_item("twin-a-1"));
    add_remote(make_item("twin-b-1"), "r1");
    // Number 2: in sync, and a local-only identity that sorts among them: untouched by the twins.
    local.push_back(make_item("twin-a-2"));
    add_remote(make_item("twin-a-2"), "r2");
    links.push_back({idp.key(make_item("twin-a-2")), "r2", 1});
    local.push_back(make_item("twin-a-3"));
    // Number 4: both twins local, no remote: also a collision, not two copies of one entity.
    local.push_back(make_item("twin-a-4"));
    local.push_back(make_item("twin-b-4"));
    REQUIRE(idp.key(local[0]) != idp.key(rem[0].value));

    concord::timeline_status st;
    st.kind = concord::verdict::same_timeline;
    st.generation = 2;
    const auto p = rec.plan_from(st, true, local, links, rem);
    std::vector<std::string> collisions;
    for (const auto& pr : p.problems) {
        CHECK(pr.code == concord::errc::identity_collision);
        collisions.push_back(pr.message);
    }
    REQUIRE(collisions.size() == 2);
    std::sort(collisions.begin(), collisions.end());  // which comes first depends on the keys
    auto names = [&](const std::string& m, const item& a, const item& b) {
        return m.find(idp.key(a).hex()) != std::string::npos && m.find(idp.key(b).hex()) != std::string::npos;
    };
    CHECK((names(collisions[0], local[0], rem[0].value) || names(collisions[1], local[0], rem[0].value)));
    CHECK((names(collisions[0], local[3], local[4]) || names(collisions[1], local[3], local[4])));
    CHECK(p.count(case_kind::in_sync) == 1);
    REQUIRE(p.cases.size() == 1);  // the local-only number 3; nothing for either pair of twins
    CHECK(p.cases[0].kind == case_kind::local_only);
    CHECK(p.cases[0].local->sku == "twin-a-3");
    for (const auto& a : p.actions) CHECK(a.identity == idp.key(local[2]));  // nothing cancelled, nothing created for the twins
}
