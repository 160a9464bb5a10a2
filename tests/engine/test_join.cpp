// The join under plan(): the in-place radix sort of key rows, classification of a large shuffled data
// set (enough rows for the radix passes to recurse) against the case each identity was built to be,
// and what happens when two identity keys agree in the 96 bits the rows join on.

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include <concord/detail/key_sort.hpp>
#include <concord/detail/parallel.hpp>

#include "fixture.hpp"

using concord::detail::key_row;

namespace {

std::vector<key_row> sorted_copy(std::vector<key_row> v) {
    std::sort(v.begin(), v.end(), concord::detail::row_less);
    return v;
}

/// The timeline of the plans below: the same database, generation 2 in progress.
concord::timeline_status same_timeline() {
    concord::timeline_status st;
    st.kind = concord::verdict::same_timeline;
    st.generation = 2;
    return st;
}

/// The tests' options, planning in slices of at least `min_slice` on up to `threads` threads.
concord::reconciler_options sliced(unsigned threads, std::size_t min_slice) {
    auto o = engine_test::options();
    o.threads = threads;
    o.min_slice = min_slice;
    return o;
}

/// Inputs of plan_from() written by hand: local entities, their links, the remote listing; records
/// are appended in listing order, with the local id cleared as a remote holds them.
struct hand_inputs {
    std::vector<engine_test::item> local;
    std::vector<concord::link> links;
    std::vector<concord::remote_record<engine_test::item>> rem;
    concord::owner_tag owner = engine_test::options().owner;
    engine_test::sku_identity idp;
    void add(engine_test::item v, std::string rid, concord::metadata m) {
        concord::remote_record<engine_test::item> r;
        r.remote_id = std::move(rid);
        r.seq = rem.size() + 1;
        r.value = std::move(v);
        r.value.id = 0;
        r.meta = std::move(m);
        rem.push_back(std::move(r));
    }
};

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
    SECTION("all rows in one top byte: buckets on each side of the copy pass's thresholds") {
        for (std::size_t n : {33u, 100u, 3000u, 8192u, 8193u, 20000u}) {
            std::vector<key_row> rows(n);
            for (std::size_t i = 0; i < rows.size(); ++i)
                rows[i] = key_row::make({0x42ull << 56 | (rng() >> 8), rng()}, 0, i);
            INFO("n = " << n);
            check(rows);
        }
    }
    SECTION("runs longer than an insertion sort takes beside runs of one row, in one bucket") {
        // After the copy pass, the clustered rows (top 24 bits alike) are sorted on, the others are
        // left to the insertion pass over the whole bucket; both must end in order.
        for (std::size_t n : {200u, 3000u, 8000u}) {
            std::vector<key_row> rows(n);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t hi = i % 3 == 0 ? (0x42ull << 56 | 0x1234ull << 40 | (rng() >> 24)) : (0x42ull << 56 | (rng() >> 8));
                rows[i] = key_row::make({hi, rng()}, 0, i);
            }
            std::shuffle(rows.begin(), rows.end(), rng);
            INFO("n = " << n);
            check(rows);
        }
    }
    SECTION("inputs in order already, in order but for one row, and in reverse order") {
        for (std::size_t n : {33u, 1000u, 30000u}) {
            std::vector<key_row> rows(n);
            for (std::size_t i = 0; i < n; ++i) rows[i] = key_row::make({rng(), rng()}, rng(), i);
            rows = sorted_copy(rows);
            INFO("n = " << n);
            CHECK(concord::detail::rows_in_order(rows.data(), rows.size()));
            check(rows);
            auto last_out = rows;
            std::swap(last_out[n - 2], last_out[n - 1]);
            CHECK_FALSE(concord::detail::rows_in_order(last_out.data(), last_out.size()));
            check(last_out);
            auto tie_out = rows;  // equal keys out of input order are not in order
            tie_out[n - 1].hi = tie_out[n - 2].hi;
            tie_out[n - 1].lo = tie_out[n - 2].lo;
            tie_out[n - 2].slot = static_cast<std::uint32_t>((n + 1) << 1);
            tie_out[n - 1].slot = static_cast<std::uint32_t>(n << 1);
            CHECK_FALSE(concord::detail::rows_in_order(tie_out.data(), tie_out.size()));
            check(tie_out);
            check(std::vector<key_row>(rows.rbegin(), rows.rend()));
        }
    }
    SECTION("keys that differ only in the lowest bits of their top half") {
        // Every pass but the last finds one bucket; the last ones have fewer bits left than they would take.
        for (int varying : {1, 3, 6, 13}) {
            std::vector<key_row> rows(3000);
            for (std::size_t i = 0; i < rows.size(); ++i)
                rows[i] = key_row::make({0x5555555555555555ull << varying | (rng() >> (64 - varying)), rng() % 7 << 32},
                                        rng(), i);
            std::shuffle(rows.begin(), rows.end(), rng);
            INFO("varying bits = " << varying);
            check(rows);
        }
    }
}

namespace {

/// A shuffled data set of every case shape, n identities, and what each identity was built to be.
struct shaped_data {
    enum shape { in_sync, diverged, relink_other, relink_none, local_only, local_only_linked, orphan, orphan_linked,
                 duplicate, dup_local, foreign, cancelled_then_local, shape_count };
    std::vector<engine_test::item> local;
    std::vector<concord::link> links;
    std::vector<concord::remote_record<engine_test::item>> rem;
    std::map<std::string, concord::case_kind> want;  // sku -> expected case (duplicate locals: no case at all)
    std::size_t expect_in_sync = 0, dup_locals = 0;
    std::uint64_t seq = 0;
};

shaped_data make_shaped_data(std::size_t n) {
    using namespace engine_test;
    using concord::case_kind;
    using S = shaped_data;
    shaped_data d;
    const auto owner = options().owner;
    const sku_identity idp;
    std::mt19937_64 rng(11);
    std::vector<concord::link> stale_links;
    auto add_remote = [&](const item& v, std::string rid, bool ours = true, bool active = true) {
        concord::remote_record<item> r;
        r.remote_id = std::move(rid);
        r.seq = ++d.seq;
        r.value = v;
        r.value.id = 0;
        if (ours) r.meta = concord::stamp_metadata(owner, idp.key(v), 1);
        else r.meta["other_integrator"] = "x";
        if (!active) r.state = concord::remote_state::cancelled;
        d.rem.push_back(std::move(r));
    };
    auto& local = d.local;
    auto& links = d.links;
    auto& want = d.want;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string sku = "sku-" + std::to_string(i);
        const item v = make_item(sku, "n" + std::to_string(i % 7), static_cast<std::int64_t>(i));
        const auto id = idp.key(v);
        const auto rid = "r" + std::to_string(i);
        switch (static_cast<S::shape>(i % S::shape_count)) {
        case S::in_sync:
            local.push_back(v), add_remote(v, rid), links.push_back({id, rid, 1}), ++d.expect_in_sync;
            // a second link for the same identity, later in the store's order, never wins over the first
            if (i % 24 == 0) stale_links.push_back({id, "r-stale-" + rid, 1});
            break;
        case S::diverged: {
            auto changed = v;
            changed.cents += 1;
            local.push_back(v), add_remote(changed, rid), links.push_back({id, rid, 1});
            want[sku] = case_kind::diverged;
            break;
        }
        case S::relink_other:
            local.push_back(v), add_remote(v, rid), links.push_back({id, "r-gone-" + rid, 1});
            want[sku] = case_kind::relinkable;
            break;
        case S::relink_none: local.push_back(v), add_remote(v, rid), want[sku] = case_kind::relinkable; break;
        case S::local_only: local.push_back(v), want[sku] = case_kind::local_only; break;
        case S::local_only_linked:
            local.push_back(v), links.push_back({id, rid, 1}), want[sku] = case_kind::local_only;
            break;
        case S::orphan: add_remote(v, rid), want[sku] = case_kind::orphan; break;
        case S::orphan_linked:
            add_remote(v, rid), links.push_back({id, rid, 1}), want[sku] = case_kind::orphan;
            stale_links.push_back({id, "r-stale-" + rid, 1});  // later in the store's order: never wins
            break;
        case S::duplicate:
            local.push_back(v), add_remote(v, rid), add_remote(v, rid + "b"), links.push_back({id, rid, 1});
            want[sku] = case_kind::duplicate;
            break;
        case S::dup_local: local.push_back(v), local.push_back(v), add_remote(v, rid), ++d.dup_locals; break;
        case S::foreign: add_remote(v, rid, false), want["foreign:" + rid] = case_kind::foreign; break;
        case S::cancelled_then_local:
            add_remote(v, rid, true, false), local.push_back(v), want[sku] = case_kind::local_only;
            break;
        case S::shape_count: break;
        }
    }
    std::shuffle(local.begin(), local.end(), rng);
    std::shuffle(links.begin(), links.end(), rng);
    links.insert(links.end(), stale_links.begin(), stale_links.end());
    std::shuffle(d.rem.begin(), d.rem.end(), rng);
    return d;
}

} // namespace

TEST_CASE("plan_from classifies every identity of a large shuffled data set as it was built", "[engine][join]") {
    using namespace engine_test;
    using concord::case_kind;
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    auto rec = concord::make_reconciler<concord::policy::ask_user>(db, remote, options(), sku_identity{});
    const std::size_t n = 40000;
    const auto d = make_shaped_data(n);
    const auto& [local, links, rem, want, expect_in_sync, dup_locals, seq] = d;
    constexpr auto shape_count = shaped_data::shape_count;
    constexpr auto orphan_linked = shaped_data::orphan_linked;

    const auto st = same_timeline();
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
            if (c.linked_remote) CHECK(*c.linked_remote == "r" + std::to_string(i));
        }
        if (c.kind == case_kind::local_only && c.local) {
            const auto i = std::stoul(c.local->sku.substr(4));
            const bool linked = i % shape_count == shaped_data::local_only_linked;
            CHECK(c.linked_remote.has_value() == linked);
            if (linked) CHECK(*c.linked_remote == "r" + std::to_string(i));
        }
        if (c.kind == case_kind::relinkable && c.linked_remote) CHECK(c.linked_remote->rfind("r-gone-", 0) == 0);
        if (c.kind == case_kind::duplicate) {
            REQUIRE(c.remote.size() == 2);
            CHECK(c.remote[0].seq < c.remote[1].seq);  // copies in listing order
        }
    }
    std::size_t dup_problems = 0;
    std::size_t held_remote = 0;  // their remote records, left alone with them but named in the plan
    for (const auto& pr : p.problems) {
        if (pr.code != concord::errc::duplicate_local) continue;
        if (pr.message.rfind("two local entities", 0) == 0) ++dup_problems;
        else ++held_remote;
    }
    CHECK(dup_problems == dup_locals);
    CHECK(held_remote > 0);
    // Cases come in identity order after the foreign ones, as before the radix join.
    std::vector<concord::key128> ids;
    for (const auto& c : p.cases)
        if (c.kind != case_kind::foreign) ids.push_back(c.identity);
    CHECK(std::is_sorted(ids.begin(), ids.end()));
}

TEST_CASE("records not ours that share an identity with our entities are set apart, the rest is classified without them",
          "[engine][join][foreign]") {
    using namespace engine_test;
    using concord::case_kind;
    hand_inputs in;
    auto ours = [&](const item& v) { return concord::stamp_metadata(in.owner, in.idp.key(v), 1); };
    auto linked = [&](const item& v, const std::string& rid) {
        in.local.push_back(v);
        in.links.push_back({in.idp.key(v), rid, 1});
    };
    const item a = make_item("A", "a", 1), b = make_item("B", "b", 2), c = make_item("C", "c", 3),
               d = make_item("D", "d", 4), e = make_item("E", "e", 5);
    auto changed = [](item v) {
        v.cents += 100;
        return v;
    };
    // A: our object, linked and in sync, whose owner tag someone holding the account's key rewrote.
    linked(a, "rA");
    auto garbled = ours(a);
    garbled[std::string(concord::meta_keys::owner)] = "concord/v1:garbage";
    in.add(a, "rA", garbled);
    // B: in sync, and another installation's object with the same content beside it.
    linked(b, "rB");
    in.add(b, "rB", ours(b));
    in.add(b, "rB2", {{std::string(concord::meta_keys::owner), "concord/v1:other-host:shop"}});
    // C: diverged, and an untagged object with C's identity beside it.
    linked(c, "rC");
    in.add(changed(c), "rC", ours(c));
    in.add(c, "rC2", {});
    // D: linked, but its object changed and carries a garbled tag: not provably ours.
    linked(d, "rD");
    auto garbled_d = ours(d);
    garbled_d[std::string(concord::meta_keys::owner)] = "concord/v1:garbage";
    in.add(changed(d), "rD", garbled_d);
    // E: someone else's object with no local counterpart, and a look-alike (our tag, another identity).
    in.add(e, "rE", {});
    in.add(e, "rE2", concord::stamp_metadata(in.owner, in.idp.key(a), 1));

    for (unsigned threads : {1u, 2u}) {
        INFO("threads " << threads);
        concord::memory_store<item> db;
        concord::memory_remote<item> remote;
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, sliced(threads, 1), sku_identity{});
        const auto p = rec.plan_from(same_timeline(), true, in.local, in.links, in.rem);
        CHECK(p.count(case_kind::in_sync) == 2);  // A (its link proves it ours) and B
        CHECK(p.count(case_kind::diverged) == 1);
        CHECK(p.count(case_kind::local_only) == 1);
        CHECK(p.count(case_kind::foreign) == 5);
        CHECK(p.count(case_kind::orphan) == 0);
        CHECK(p.count(case_kind::duplicate) == 0);
        std::set<std::string> foreign_ids;
        for (const auto& k : p.cases) {
            if (k.kind == case_kind::foreign) foreign_ids.insert(k.remote.front().remote_id);
            if (k.kind == case_kind::diverged) {
                REQUIRE(k.local);
                CHECK(k.local->sku == "C");
                REQUIRE(k.remote.size() == 1);
                CHECK(k.remote.front().remote_id == "rC");
            }
            if (k.kind == case_kind::local_only) {
                REQUIRE(k.local);
                CHECK(k.local->sku == "D");
                CHECK(k.linked_remote == std::optional<std::string>("rD"));
                CHECK(k.set_apart == 1);  // rD is still listed: not a reason to create D again
                CHECK(k.note.find("still lists") != std::string::npos);
            }
        }
        CHECK(foreign_ids == std::set<std::string>{"rB2", "rC2", "rD", "rE", "rE2"});
        // One malformed tag is reported: rD's. rA's is never read, its link vouches for it.
        std::size_t malformed = 0;
        for (const auto& pr : p.problems) {
            malformed += pr.code == concord::errc::malformed_owner_tag;
            if (pr.code == concord::errc::malformed_owner_tag) CHECK(pr.message.find("rD") != std::string::npos);
        }
        CHECK(malformed == 1);
        // trust_local pushes C to its own object and asks about D; nothing else is touched.
        REQUIRE(!p.actions.empty());
        for (const auto& act : p.actions) {
            INFO(to_string(act.kind) << " " << act.remote_id);
            CHECK(act.remote_id != "rA");
            CHECK(foreign_ids.count(act.remote_id) == 0);
            CHECK(act.kind != concord::action_kind::cancel_remote);
            CHECK(act.kind != concord::action_kind::create_remote);
        }
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions.front().kind == case_kind::local_only);
        CHECK(p.decisions.front().summary.find("rD") != std::string::npos);
    }
}

TEST_CASE("an entity whose object is still listed, but not as ours, is asked about: never created twice",
          "[engine][join][foreign]") {
    using namespace engine_test;
    using concord::case_kind;
    // The remote changed under our tag: G's object had its SKU edited (its content is no longer the
    // identity it was stamped with: a look-alike, set apart under another identity, maybe in another
    // slice); H's object had its owner tag replaced by another installation's. I has no link, and the
    // remote holds an untagged object with its content (made in the provider's dashboard, or ours
    // before someone stripped the tag). J, linked to an object the remote no longer lists at all, is
    // plain local_only work.
    const item g = make_item("G", "g", 1), h = make_item("H", "h", 2), i = make_item("I", "i", 4), j = make_item("J", "j", 3);
    hand_inputs in;
    for (const auto* v : {&g, &h, &i, &j}) in.local.push_back(*v);
    in.links = {{in.idp.key(g), "rG", 1}, {in.idp.key(h), "rH", 1}, {in.idp.key(j), "rJ", 1}};
    in.add(make_item("G-edited", "g", 1), "rG", concord::stamp_metadata(in.owner, in.idp.key(g), 1));
    auto other = concord::stamp_metadata(in.owner, in.idp.key(h), 1);
    other[std::string(concord::meta_keys::owner)] = "concord/v1:other-host:shop";
    in.add(make_item("H", "h", 99), "rH", other);
    in.add(i, "rI", {});
    for (int n = 0; n < 40; ++n) {  // in sync, so that two slices have work
        const item v = make_item("n" + std::to_string(n));
        in.local.push_back(v);
        in.links.push_back({in.idp.key(v), "rn" + std::to_string(n), 1});
        in.add(v, "rn" + std::to_string(n), concord::stamp_metadata(in.owner, in.idp.key(v), 1));
    }

    auto check = [&](const auto& p, case_kind asked_kind) {
        CHECK(p.count(case_kind::in_sync) == 40);
        CHECK(p.count(case_kind::local_only) == 4);
        CHECK(p.count(case_kind::foreign) == 3);
        std::map<std::string, std::uint64_t> contested;
        for (const auto& k : p.cases)
            if (k.kind == case_kind::local_only) contested[k.local->sku] = k.set_apart;
        CHECK(contested == std::map<std::string, std::uint64_t>{{"G", 1}, {"H", 1}, {"I", 1}, {"J", 0}});
        std::set<std::string> asked;
        for (const auto& d : p.decisions) {
            CHECK(d.kind == asked_kind);
            asked.insert(d.summary.substr(d.summary.find("sku=\"") + 5, 1));
        }
        CHECK(asked == std::set<std::string>{"G", "H", "I"});
    };
    for (unsigned threads : {1u, 2u}) {
        INFO("threads " << threads);
        concord::memory_store<item> db;
        concord::memory_remote<item> remote;
        {  // trust_local: J is created again; G, H and I are asked, not created
            auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, sliced(threads, 4), sku_identity{});
            const auto p = rec.plan_from(same_timeline(), true, in.local, in.links, in.rem);
            check(p, case_kind::local_only);
            std::vector<std::string> created;
            for (const auto& a : p.actions)
                if (a.kind == concord::action_kind::create_remote) created.push_back(a.value->sku);
            CHECK(created == std::vector<std::string>{"J"});
        }
        {  // trust_remote: J is removed; G, H and I are not, the remote has not given them up
            auto rec = concord::make_reconciler<concord::policy::trust_remote>(db, remote, sliced(threads, 4), sku_identity{});
            const auto p = rec.plan_from(same_timeline(), true, in.local, in.links, in.rem);
            check(p, case_kind::local_only);
            std::size_t removed = 0;
            for (const auto& a : p.actions) removed += a.kind == concord::action_kind::remove_local;
            CHECK(removed == 1);
        }
        {  // a recorded answer is the user's consent: G and I are created after all, as new requests
            auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, sliced(threads, 4), sku_identity{});
            const auto first = rec.plan_from(same_timeline(), true, in.local, in.links, in.rem);
            for (const auto& d : first.decisions)
                if (d.summary.find("sku=\"H\"") == std::string::npos)
                    rec.answer(first, d.id, concord::resolution::create_remote);
            const auto p = rec.plan_from(same_timeline(), true, in.local, in.links, in.rem);
            std::map<std::string, std::string> created;  // sku -> idempotency key
            for (const auto& a : p.actions)
                if (a.kind == concord::action_kind::create_remote) created[a.value->sku] = a.idempotency_key;
            CHECK(created.size() == 3);
            CHECK(created.count("G") + created.count("I") + created.count("J") == 3);
            CHECK(p.decisions.size() == 1);
            // Without rI listed, I is plain local_only work: created at once, under the first instance's
            // key. Beside rI its key is another: the object that made rI (if it was ours, under that
            // first key) is not replayed, and a provider still holding the key does not refuse it.
            auto without = in.rem;
            without.erase(std::find_if(without.begin(), without.end(), [](const auto& r) { return r.remote_id == "rI"; }));
            const auto q = rec.plan_from(same_timeline(), true, in.local, in.links, without);
            std::string plain;
            for (const auto& a : q.actions)
                if (a.kind == concord::action_kind::create_remote && a.value->sku == "I") plain = a.idempotency_key;
            REQUIRE(!plain.empty());
            CHECK(created["I"] != plain);
        }
    }
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
    // Number 5: a local twin-a whose 96 bits find a link of twin-b (to an object the remote no
    // longer lists): the link is another identity's, so this is a collision too, not a link.
    local.push_back(make_item("twin-a-5"));
    links.push_back({idp.key(make_item("twin-b-5")), "r5", 1});
    REQUIRE(idp.key(local[0]) != idp.key(rem[0].value));

    const auto st = same_timeline();
    const auto p = rec.plan_from(st, true, local, links, rem);
    std::vector<std::string> collisions;
    for (const auto& pr : p.problems) {
        CHECK(pr.code == concord::errc::identity_collision);
        collisions.push_back(pr.message);
    }
    REQUIRE(collisions.size() == 3);
    auto names = [&](const std::string& m, const item& a, const item& b) {
        return m.find(idp.key(a).hex()) != std::string::npos && m.find(idp.key(b).hex()) != std::string::npos;
    };
    auto reported = [&](const item& a, const item& b, const std::string& also) {
        return std::count_if(collisions.begin(), collisions.end(), [&](const std::string& m) {
            return names(m, a, b) && m.find(also) != std::string::npos;
        });
    };
    CHECK(reported(local[0], rem[0].value, "") == 1);
    CHECK(reported(local[3], local[4], "") == 1);
    CHECK(reported(local[5], make_item("twin-b-5"), "link to r5") == 1);
    CHECK(p.count(case_kind::in_sync) == 1);
    REQUIRE(p.cases.size() == 1);  // the local-only number 3; nothing for either pair of twins
    CHECK(p.cases[0].kind == case_kind::local_only);
    CHECK(p.cases[0].local->sku == "twin-a-3");
    for (const auto& a : p.actions) CHECK(a.identity == idp.key(local[2]));  // nothing cancelled, nothing created for the twins
}

namespace {

/// Everything a plan holds, as text: two plans are the same plan when their texts are equal.
template <class E>
std::string plan_text(const concord::plan<E>& p) {
    std::string out = "cursor " + (p.cursor ? std::to_string(*p.cursor) : std::string("none")) + "\n";
    for (std::size_t k = 0; k < concord::case_count; ++k) out += std::to_string(p.counts[k]) + " ";
    out += "\n";
    for (const auto& c : p.cases) {
        out += "case " + std::string(to_string(c.kind)) + " " + c.identity.hex() + " [" + c.identity_text + "] " +
               (c.local ? concord::to_string(*c.local) : std::string("-")) + " link " +
               c.linked_remote.value_or("-") + " note [" + c.note + "] lost " + std::to_string(c.from_lost_generation) +
               " cancelled " + std::to_string(c.cancelled_before) + " fields";
        for (const auto& f : c.fields) out += " " + f;
        for (const auto& r : c.remote) out += " | " + r.remote_id + "@" + std::to_string(r.seq) + " " + concord::to_string(r.value);
        out += "\n";
    }
    for (const auto& a : p.actions)
        out += "action " + std::string(to_string(a.kind)) + " " + std::to_string(a.group) + " " + a.identity.hex() + " " +
               a.remote_id + " " + (a.value ? concord::to_string(*a.value) : std::string("-")) + " " +
               std::to_string(a.local_id) + " " + a.idempotency_key + " " + std::string(to_string(a.why)) + "\n";
    for (const auto& d : p.decisions)
        out += "decision " + d.id + " " + std::to_string(d.group) + " " + std::string(to_string(d.kind)) + " " +
               d.summary + " options " + std::to_string(d.options.size()) + "\n";
    for (const auto& pr : p.problems) out += "problem " + std::string(to_string(pr.code)) + " " + pr.message + "\n";
    return out;
}

} // namespace

TEST_CASE("plan_from makes the same plan on any number of threads", "[engine][join][threads]") {
    using namespace engine_test;
    auto d = make_shaped_data(24000);
    // Problems from both sides, so their order across slices is checked too: locals without an
    // identity and remote records with a malformed owner tag, spread over the inputs.
    for (std::size_t i = 0; i < d.local.size(); i += 2500) d.local[i].sku.clear();
    for (std::size_t i = 7; i < d.rem.size(); i += 3000) d.rem[i].meta[std::string(concord::meta_keys::owner)] = "concord/v1:garbage";
    const auto st = same_timeline();

    auto plan_with = [&]<class Policy>(Policy, unsigned threads) {
        concord::memory_store<item> db;
        concord::memory_remote<item> remote;
        // the inputs here are a few thousand rows per thread
        auto rec = concord::make_reconciler<Policy>(db, remote, sliced(threads, 1000), sku_identity{});
        return plan_text(rec.plan_from(st, true, d.local, d.links, d.rem));
    };
    for (const auto& [name, one, many] :
         {std::tuple{"ask_user", plan_with(concord::policy::ask_user{}, 1), plan_with(concord::policy::ask_user{}, 2)},
          std::tuple{"trust_local", plan_with(concord::policy::trust_local{}, 1), plan_with(concord::policy::trust_local{}, 3)},
          std::tuple{"trust_remote", plan_with(concord::policy::trust_remote{}, 1),
                     plan_with(concord::policy::trust_remote{}, 7)}}) {
        INFO(name);
        CHECK(one.find("problem malformed_owner_tag") != std::string::npos);
        CHECK(one.find("problem empty_identity") != std::string::npos);
        CHECK(one.size() > 100000);  // thousands of cases, not an empty plan
        CHECK(one == many);
    }
}

TEST_CASE("inputs in identity order (links as stores list them) make the same plan as shuffled ones", "[engine][join]") {
    using namespace engine_test;
    const auto d = make_shaped_data(24000);
    const auto st = same_timeline();
    auto by_identity = [](auto v, auto key) {
        // stable: of two links of one identity, the store's first stays first
        std::stable_sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
        return v;
    };
    const auto links = by_identity(d.links, [](const concord::link& l) { return l.identity; });
    REQUIRE(std::is_sorted(links.begin(), links.end(), [](const auto& a, const auto& b) { return a.identity < b.identity; }));
    const sku_identity idp;
    const auto local = by_identity(d.local, [&](const item& e) { return idp.key(e); });
    for (unsigned threads : {1u, 2u}) {
        INFO("threads " << threads);
        concord::memory_store<item> db;
        concord::memory_remote<item> remote;
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, sliced(threads, 1000), sku_identity{});
        const auto shuffled = plan_text(rec.plan_from(st, true, d.local, d.links, d.rem));
        CHECK(shuffled.size() > 100000);
        CHECK(plan_text(rec.plan_from(st, true, d.local, links, d.rem)) == shuffled);
        CHECK(plan_text(rec.plan_from(st, true, local, links, d.rem)) == shuffled);
    }
}

TEST_CASE("recorded answers settle the same decisions on any number of threads", "[engine][join][threads]") {
    using namespace engine_test;
    const auto d = make_shaped_data(24000);
    const auto st = same_timeline();
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    concord::memory_decision_book book;  // shared: answers given through one reconciler serve both
    auto make = [&](unsigned threads) {
        auto rec = concord::make_reconciler<concord::policy::ask_user>(db, remote, sliced(threads, 1000), sku_identity{});
        rec.use_decision_book(book);
        return rec;
    };
    auto one = make(1);
    auto many = make(2);
    const auto asked = one.plan_from(st, true, d.local, d.links, d.rem);
    REQUIRE(asked.decisions.size() > 1000);
    std::size_t answered = 0;
    for (std::size_t i = 0; i < asked.decisions.size(); i += 3, ++answered)
        one.answer(asked, asked.decisions[i].id, asked.decisions[i].options.front().choice);
    const auto p1 = one.plan_from(st, true, d.local, d.links, d.rem);
    const auto p2 = many.plan_from(st, true, d.local, d.links, d.rem);
    CHECK(p1.decisions.size() == asked.decisions.size() - answered);
    CHECK(p1.actions.size() > asked.actions.size());  // the answers became actions
    CHECK(plan_text(p1) == plan_text(p2));

    // The same answers in a reconciler's built-in book, which its slices read without the lock.
    auto own = concord::make_reconciler<concord::policy::ask_user>(db, remote, sliced(3, 1000), sku_identity{});
    const auto asked_own = own.plan_from(st, true, d.local, d.links, d.rem);
    CHECK(plan_text(asked_own) == plan_text(asked));
    for (std::size_t i = 0; i < asked_own.decisions.size(); i += 3)
        own.answer(asked_own, asked_own.decisions[i].id, asked_own.decisions[i].options.front().choice);
    CHECK(plan_text(own.plan_from(st, true, d.local, d.links, d.rem)) == plan_text(p1));
}

TEST_CASE("hardware_threads() counts the processors std::thread sees", "[engine][threads]") {
    const unsigned std_count = std::thread::hardware_concurrency();  // 0 when it cannot tell
    CHECK(concord::hardware_threads() == (std_count ? std_count : concord::hardware_threads()));
    CHECK(concord::hardware_threads() >= 1);
}

TEST_CASE("reconciler_options::threads and min_slice must be at least 1", "[engine][threads]") {
    using namespace engine_test;
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    auto o = options();
    o.threads = 0;
    CHECK_THROWS_AS(concord::make_reconciler<concord::policy::trust_local>(db, remote, o, sku_identity{}), concord::error);
    o.threads = 2;
    o.min_slice = 0;
    CHECK_THROWS_AS(concord::make_reconciler<concord::policy::trust_local>(db, remote, o, sku_identity{}), concord::error);
}

namespace {
/// sku_identity that fails (not with a concord error) on one SKU: a bug in a user's policy.
struct failing_identity {
    static constexpr bool stable_across_restores = true;
    concord::identity_key key(const engine_test::item& e) const {
        if (e.sku == "sku-23999") throw std::runtime_error("policy bug on " + e.sku);
        return engine_test::sku_identity{}.key(e);
    }
    std::string describe(const engine_test::item& e) const { return "sku=" + e.sku; }
};
} // namespace

TEST_CASE("an exception in a policy on a worker thread reaches the caller of plan_from", "[engine][threads]") {
    using namespace engine_test;
    const auto d = make_shaped_data(24000);
    const auto st = same_timeline();
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    for (unsigned threads : {1u, 2u, 4u}) {
        auto o = options();
        o.threads = threads;
        o.min_slice = 1000;
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, o, failing_identity{});
        CHECK_THROWS_WITH(rec.plan_from(st, true, d.local, d.links, d.rem), "policy bug on sku-23999");
    }
}

TEST_CASE("the sliced passes: rows keep input order, sorting matches std::sort, slices cover the input",
          "[engine][join][threads]") {
    using namespace concord::detail;
    std::mt19937_64 rng(5);
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{999}, std::size_t{50000}}) {
        for (const unsigned threads : {1u, 2u, 3u, 8u}) {
            INFO("n " << n << " threads " << threads);
            const unsigned k = slices_for(n, threads, 1000);
            CHECK(k >= 1);
            CHECK(k <= std::max(1u, threads));
            CHECK(slice_begin(n, k, 0) == 0);
            CHECK(slice_begin(n, k, k) == n);
            // every third input gives no row; the rows that remain are in input order
            std::vector<std::uint64_t> hi(n);
            for (auto& h : hi) h = rng();
            row_buffer rows(n);
            fill_rows(rows, n, k, [&](unsigned, std::size_t i, key_row& r) {
                if (i % 3 == 2) return false;
                r = key_row::make(concord::key128{hi[i], 0}, i, i);
                return true;
            });
            REQUIRE(rows.size() == n - n / 3);
            for (std::size_t j = 0; j < rows.size(); ++j) CHECK(rows[j].index() == j / 2 * 3 + j % 2);
            std::vector<key_row> copy(rows.begin(), rows.end());
            sort_rows_sliced(rows.data(), rows.size(), threads, 1000);
            CHECK(same_rows(std::vector<key_row>(rows.begin(), rows.end()), sorted_copy(copy)));
            if (rows.size() > 1) {  // in order but for the last two rows: sorted, not skipped
                std::swap(rows[rows.size() - 2], rows[rows.size() - 1]);
                sort_rows_sliced(rows.data(), rows.size(), threads, 1000);
                CHECK(same_rows(std::vector<key_row>(rows.begin(), rows.end()), sorted_copy(copy)));
            }
            // Key-range slices of the sorted rows (the merges' shares): they follow one another, cover
            // every row, and a slice holds exactly the rows whose top key byte is in its range.
            for (const unsigned ks : {1u, 2u, 3u, 7u, 300u}) {
                std::size_t next = 0;
                for (unsigned s = 0; s < ks; ++s) {
                    const auto [b, e] = rows_of_slice(rows.data(), rows.size(), ks, s);
                    CHECK(b == next);
                    CHECK(b <= e);
                    next = e;
                    CHECK(std::all_of(rows.begin() + b, rows.begin() + e, [&](const key_row& r) {
                        const std::uint64_t top = r.hi >> 56;
                        return top >= std::uint64_t{256} * s / ks && top < std::uint64_t{256} * (s + 1) / ks;
                    }));
                }
                CHECK(next == rows.size());
            }
        }
    }
    // Every slice runs, also when some throw; the first slice's exception (by slice order) wins.
    std::vector<int> ran(4, 0);
    CHECK_THROWS_WITH(run_slices(4,
                                 [&](unsigned s) {
                                     ran[s] = 1;
                                     if (s >= 2) throw std::runtime_error("slice " + std::to_string(s));
                                 }),
                      "slice 2");
    CHECK(ran == std::vector<int>{1, 1, 1, 1});
}

namespace {
/// A memory_store that notes which thread scanned it, and can fail the scan.
struct watched_store : concord::memory_store<engine_test::item> {
    mutable std::thread::id scanned_on;
    bool fail = false;
    std::vector<engine_test::item> scan() const {
        scanned_on = std::this_thread::get_id();
        if (fail) throw concord::error(concord::errc::store_failure, "scan failed");
        return memory_store::scan();
    }
};
} // namespace

TEST_CASE("plan() with threads reads the store on a second thread and makes the same plan", "[engine][threads]") {
    using namespace engine_test;
    watched_store db;
    concord::memory_remote<item> remote;
    concord::memory_witness witness;
    auto make = [&](unsigned threads) {
        auto o = options();
        o.threads = threads;
        o.min_slice = 100;
        return concord::make_reconciler<concord::policy::trust_local>(db, remote, o, sku_identity{});
    };
    auto one = make(1);
    auto two = make(2);
    for (int i = 0; i < 3000; ++i) db.put(make_item("sku-" + std::to_string(i), "n", i));
    one.reconcile(witness);
    for (auto e : db.scan())
        if (e.id % 10 == 0) {
            e.cents += 1;
            db.put(e);
        }
    for (int i = 3000; i < 3300; ++i) db.put(make_item("sku-" + std::to_string(i), "late", i));

    auto session = concord::begin_session(witness, db);
    const auto p1 = one.plan(session);
    CHECK(db.scanned_on == std::this_thread::get_id());
    const auto p2 = two.plan(session);
    CHECK(db.scanned_on != std::this_thread::get_id());
    CHECK(p1.count(concord::case_kind::diverged) == 300);
    CHECK(p1.count(concord::case_kind::local_only) == 300);
    CHECK(plan_text(p1) == plan_text(p2));

    db.fail = true;  // a failing scan on the second thread reaches the caller
    CHECK_THROWS_WITH(two.plan(session), "store_failure: scan failed");
}
