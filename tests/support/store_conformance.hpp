#pragma once
// A reusable conformance suite for Store adapters (SQLite, PostgreSQL, ...): the behaviour of
// concord::memory_store, the reference, on a real database, including real backups and restores
// and the timeline verdicts a restore must produce.
//
// Use: write a fixture and expand the macro once per fixture in a test TU:
//
//     struct my_fixture {
//         using store_type = concord::my_store<concord::conformance::item>;
//         using backup_type = ...;                       // whatever names a backup
//         my_fixture();                                  // a fresh, empty database
//         store_type& store();                           // the store under test (table "items")
//         std::unique_ptr<store_type> open_store(std::string table);  // same database, another table
//         backup_type backup();                          // a real backup of the whole database
//         void restore(const backup_type&);              // a real restore (the host's connection model)
//     };
//     CONCORD_STORE_CONFORMANCE_TESTS(my_fixture, "my store")
//
// Every TEST_CASE is named "<label>: <what>" and tagged [conformance].

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/timeline.hpp>
#include <concord/witness.hpp>

#include "lineages.hpp"

namespace concord::conformance {

/// Exercises every column kind: integers, floating point, bool, enum, text, optionals.
enum class item_kind : std::int32_t { plain = 0, fragile = 7, negative = -3 };

struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, sku), (std::string, title), (std::int64_t, cents),
                             (double, weight), (bool, active), (item_kind, kind), (std::optional<std::string>, note),
                             (std::optional<std::int64_t>, parent));
};

inline item make_item(std::string sku, std::int64_t cents = 100) {
    item i{};
    i.sku = std::move(sku);
    i.title = "title of " + i.sku;
    i.cents = cents;
    i.weight = 0.5;
    i.active = true;
    return i;
}

inline std::vector<std::string> skus(const std::vector<item>& v) {
    std::vector<std::string> out;
    for (const auto& i : v) out.push_back(i.sku);
    std::sort(out.begin(), out.end());
    return out;
}

inline checkpoint make_checkpoint(std::string lineage, std::uint64_t gen, std::map<std::string, std::uint64_t> cursors = {}) {
    checkpoint c;
    c.lineage = std::move(lineage);
    c.generation = gen;
    c.cursors = std::move(cursors);
    return c;
}

using remote_type = memory_remote<item>;
using identity_type = identity::natural_key<&item::sku>;

/// The reconciler the scenarios use: trust_local, natural key on sku.
template <class Store>
auto make_sync(Store& s, remote_type& r) {
    return make_reconciler<policy::trust_local>(s, r, {.owner = {"conformance", "shop"}, .entity_name = "item"},
                                                identity_type{});
}

template <class Store>
std::optional<std::uint64_t> cursor_of(Store& s, const std::string& name) {
    auto cp = s.load_checkpoint();
    if (!cp) return std::nullopt;
    auto it = cp->cursors.find(name);
    if (it == cp->cursors.end()) return std::nullopt;
    return it->second;
}

// ------------------------------------------------------------------------------------ basics

template <class F>
void empty_store(F& f) {
    auto& s = f.store();
    CHECK(s.scan().empty());
    CHECK(s.links().empty());
    CHECK(!s.load_checkpoint());
    CHECK(s.size() == 0);
    CHECK(!s.get(1));
    CHECK(!s.erase(1));
}

template <class F>
void ids_like_rowids(F& f) {
    auto& s = f.store();
    CHECK(s.put(make_item("a")) == 1);
    CHECK(s.put(make_item("b")) == 2);
    CHECK(s.put(make_item("c")) == 3);
    CHECK(s.erase(3));
    CHECK(s.put(make_item("d")) == 3);  // max + 1: the highest id is reused, as SQLite rowids are
    CHECK(s.erase(1));
    CHECK(s.put(make_item("e")) == 4);
    CHECK(s.size() == 3);
    auto replaced = make_item("b2");
    replaced.id = 2;
    CHECK(s.put(replaced) == 2);
    REQUIRE(s.get(2));
    CHECK(s.get(2)->sku == "b2");
    CHECK(s.size() == 3);
    auto explicit_id = make_item("x");
    explicit_id.id = 10;
    CHECK(s.put(explicit_id) == 10);
    CHECK(s.put(make_item("y")) == 11);
    CHECK(!s.erase(99));
    CHECK(s.size() == 5);
}

template <class F>
void values_round_trip(F& f) {
    auto& s = f.store();
    item a = make_item("unicode-ü-€-𝄞");
    a.title = "";
    a.cents = -9'007'199'254'740'993;
    a.weight = -1.25e-7;
    a.active = false;
    a.kind = item_kind::negative;
    a.note = std::string("line1\nline2 'quoted' \"double\"");
    a.parent = -1;
    item b = make_item("plain");
    b.kind = item_kind::fragile;
    b.note = std::string();  // present but empty is not absent
    item c = make_item("nulls");
    a.id = s.put(a);
    b.id = s.put(b);
    c.id = s.put(c);
    for (const auto& want : {a, b, c}) {
        auto got = s.get(want.id);
        REQUIRE(got);
        CHECK(got->id == want.id);
        CHECK(fingerprint(*got) == fingerprint(want));
        CHECK(differing_fields(*got, want).empty());
    }
    CHECK(s.get(b.id)->note.has_value());
    CHECK(!s.get(c.id)->note.has_value());
    CHECK(!s.get(c.id)->parent.has_value());
    auto all = s.scan();
    REQUIRE(all.size() == 3);
    CHECK(all[0].id < all[1].id);
    CHECK(all[1].id < all[2].id);
}

template <class F>
void commit_applies_everything(F& f) {
    auto& s = f.store();
    const auto keep = s.put(make_item("keep"));
    const auto gone = s.put(make_item("gone"));
    change_batch<item> b;
    b.upserts.push_back(make_item("new1"));
    b.upserts.push_back(make_item("new2"));
    auto edited = make_item("keep", 999);
    edited.id = keep;
    b.upserts.push_back(edited);
    b.removals.push_back(gone);
    b.link_upserts.push_back({key128{0, 1}, "r1", 1});
    b.link_upserts.push_back({key128{0, 2}, "r2", 1});
    b.new_checkpoint = make_checkpoint(test::lineage_id('a'), 1, {{"shop/item", 42}, {"shop/other", 7}});
    s.commit(b);
    CHECK(skus(s.scan()) == std::vector<std::string>{"keep", "new1", "new2"});
    CHECK(s.get(keep)->cents == 999);
    REQUIRE(s.get(gone));
    CHECK(s.get(gone)->sku == "new1");  // removals run first; the freed highest id is reused, as in SQLite
    CHECK(s.links().size() == 2);
    CHECK(s.load_checkpoint() == b.new_checkpoint);

    change_batch<item> b2;
    b2.link_removals.push_back(key128{0, 1});
    b2.link_upserts.push_back({key128{0, 2}, "r2-replaced", 2});
    b2.new_checkpoint = make_checkpoint(test::lineage_id('a'), 2, {{"shop/item", 50}});
    s.commit(b2);
    auto links = s.links();
    REQUIRE(links.size() == 1);
    CHECK(links[0] == link{key128{0, 2}, "r2-replaced", 2});
    CHECK(s.load_checkpoint() == b2.new_checkpoint);

    change_batch<item> b3;  // no checkpoint: the old one stays
    b3.upserts.push_back(make_item("new3"));
    s.commit(b3);
    CHECK(s.load_checkpoint() == b2.new_checkpoint);
    CHECK(s.size() == 4);
}

template <class F>
void commit_all_or_nothing(F& f) {
    auto& s = f.store();
    s.put(make_item("a"));
    change_batch<item> first;
    first.link_upserts.push_back({key128{1, 1}, "r1", 1});
    first.new_checkpoint = make_checkpoint(test::lineage_id('1'), 1, {{"c", 3}});
    s.commit(first);
    const auto rows = s.scan();
    const auto links = s.links();

    change_batch<item> bad;
    bad.upserts.push_back(make_item("b"));
    bad.link_upserts.push_back({key128{2, 2}, "r2", 2});
    bad.link_removals.push_back(key128{1, 1});
    bad.new_checkpoint = make_checkpoint(test::lineage_id('1'), 2, {{"c", 9}});
    bad.removals.push_back(12345);  // unknown local id
    CHECK_THROWS_AS(s.commit(bad), concord::error);
    CHECK(skus(s.scan()) == skus(rows));
    CHECK(s.links() == links);
    CHECK(s.load_checkpoint() == first.new_checkpoint);
    // The store is still usable afterwards.
    bad.removals.clear();
    s.commit(bad);
    CHECK(s.size() == 2);
    CHECK(s.load_checkpoint() == bad.new_checkpoint);
}

/// Rows equal in id and content (the entity type has no operator==).
inline bool same_rows(const std::vector<item>& a, const std::vector<item>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].id != b[i].id || fingerprint(a[i]) != fingerprint(b[i])) return false;
    return true;
}

/// A checkpoint whose lineage is not a lineage id (is_lineage_id) is refused with
/// errc::invalid_argument naming the value, and nothing of its batch is written: no witness could
/// name that lineage, so a reconcile on it could never save its witness.
template <class F>
void commit_refuses_bad_lineage(F& f) {
    auto& s = f.store();
    const auto kept = s.put(make_item("kept"));
    const auto gone = s.put(make_item("gone"));
    change_batch<item> first;
    first.link_upserts.push_back({key128{1, 1}, "r1", 1});
    first.new_checkpoint = make_checkpoint(test::lineage_id('c'), 1, {{"shop/item", 3}});
    s.commit(first);
    auto other = f.open_store("other_items");
    const auto rows = s.scan();
    const auto links = s.links();

    change_batch<item> b;  // touches everything a batch can: rows, links, checkpoint
    auto edited = make_item("kept", 999);
    edited.id = kept;
    b.upserts = {make_item("new"), edited};
    b.removals = {gone};
    b.link_upserts.push_back({key128{2, 2}, "r2", 2});
    b.link_removals.push_back(key128{1, 1});
    for (const auto& bad : test::bad_lineages()) {
        INFO("lineage " << bad);
        b.new_checkpoint = make_checkpoint(bad, 2, {{"shop/item", 9}});
        bool refused = false;
        try {
            s.commit(b);
        } catch (const error& e) {
            refused = true;
            CHECK(e.code() == errc::invalid_argument);
            CHECK(std::string(e.what()).find("\"" + bad + "\"") != std::string::npos);  // names the value, quoted
        }
        CHECK(refused);
        CHECK(same_rows(s.scan(), rows));
        CHECK(s.links() == links);
        CHECK(s.load_checkpoint() == first.new_checkpoint);
        CHECK(other->load_checkpoint() == first.new_checkpoint);
        CHECK(other->links().empty());
        CHECK(other->size() == 0);
    }
    // The store is still usable, and the same batch with a lineage id goes through.
    b.new_checkpoint = make_checkpoint(test::lineage_id('c'), 2, {{"shop/item", 9}});
    s.commit(b);
    CHECK(skus(s.scan()) == std::vector<std::string>{"kept", "new"});
    CHECK(s.get(kept)->cents == 999);
    CHECK(s.links() == std::vector<link>{{key128{2, 2}, "r2", 2}});
    CHECK(s.load_checkpoint() == b.new_checkpoint);
}

template <class F>
void checkpoint_shared_links_per_table(F& f) {
    auto& a = f.store();
    auto b = f.open_store("other_items");
    change_batch<item> ba;
    ba.link_upserts.push_back({key128{5, 5}, "ra", 1});
    ba.new_checkpoint = make_checkpoint(test::lineage_id('5'), 1, {{"shop/item", 1}});
    a.commit(ba);
    CHECK(b->load_checkpoint() == ba.new_checkpoint);  // one checkpoint per database
    CHECK(b->links().empty());                         // links are per table
    change_batch<item> bb;
    bb.upserts.push_back(make_item("only-in-b"));
    bb.link_upserts.push_back({key128{5, 5}, "rb", 2});
    bb.new_checkpoint = make_checkpoint(test::lineage_id('5'), 2, {{"shop/item", 1}, {"shop/other", 4}});
    b->commit(bb);
    CHECK(a.load_checkpoint() == bb.new_checkpoint);
    REQUIRE(a.links().size() == 1);
    CHECK(a.links()[0].remote_id == "ra");
    REQUIRE(b->links().size() == 1);
    CHECK(b->links()[0].remote_id == "rb");
    CHECK(a.size() == 0);
    CHECK(b->size() == 1);
}

template <class F>
void restore_rewinds_everything(F& f) {
    auto& s = f.store();
    std::vector<typename F::backup_type> backups;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::vector<link>> links;
    std::vector<std::optional<checkpoint>> cps;
    auto remember = [&] {
        backups.push_back(f.backup());
        rows.push_back(skus(s.scan()));
        links.push_back(s.links());
        cps.push_back(s.load_checkpoint());
    };
    remember();  // empty
    for (std::uint64_t g = 1; g <= 3; ++g) {
        change_batch<item> b;
        b.upserts.push_back(make_item("gen" + std::to_string(g)));
        b.link_upserts.push_back({key128{0, g}, "r" + std::to_string(g), g});
        b.new_checkpoint = make_checkpoint(test::lineage_id('2'), g, {{"shop/item", 10 * g}});
        s.commit(b);
        remember();
    }
    // Restore to each earlier backup, out of order, including twice in a row.
    for (std::size_t k : {2u, 0u, 3u, 1u, 1u, 2u}) {
        f.restore(backups[k]);
        INFO("restored backup " << k);
        CHECK(skus(s.scan()) == rows[k]);
        CHECK(s.links() == links[k]);
        CHECK(s.load_checkpoint() == cps[k]);
    }
    // New work after a restore gets ids from the restored rows (ids are reused, as in SQLite).
    f.restore(backups[1]);
    CHECK(s.put(make_item("after")) == 2);
}

// ------------------------------------------------------------------------------------ timeline

template <class F>
void timeline_verdicts(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);

    s.put(make_item("a"));
    CHECK(sync.reconcile(w).timeline == verdict::first_run);
    CHECK(sync.reconcile(w).timeline == verdict::same_timeline);
    const auto b1 = f.backup();
    const auto gen_b1 = s.load_checkpoint()->generation;

    s.put(make_item("b"));
    CHECK(sync.reconcile(w).timeline == verdict::same_timeline);
    s.put(make_item("c"));
    sync.reconcile(w);
    const auto witness_gen = w.load()->generation;
    CHECK(remote.active_count() == 3);

    f.restore(b1);
    auto session = begin_session(w, s);
    CHECK(session.kind() == verdict::restored);
    CHECK(session.status().lost_from == gen_b1 + 1);
    CHECK(session.status().lost_to == witness_gen);
    CHECK(session.status().generation == witness_gen + 1);  // lost generation numbers are never reused
    auto p = sync.plan(session);
    CHECK(p.count(case_kind::orphan) == 2);
    for (const auto& c : p.cases)
        if (c.kind == case_kind::orphan) CHECK(c.from_lost_generation);
    sync.apply(p, session);
    session.commit();
    CHECK(remote.active_count() == 1);  // trust_local extends the restore to the remote
    CHECK(s.load_checkpoint()->generation == witness_gen + 1);
    CHECK(w.load()->generation == witness_gen + 1);
    CHECK(sync.reconcile(w).timeline == verdict::same_timeline);
}

template <class F>
void restore_to_each_backup(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    std::vector<typename F::backup_type> backups;
    std::vector<std::uint64_t> gens;
    for (int i = 0; i < 4; ++i) {
        s.put(make_item("item" + std::to_string(i)));
        sync.reconcile(w);
        backups.push_back(f.backup());
        gens.push_back(s.load_checkpoint()->generation);
    }
    const auto top = w.load()->generation;
    CHECK(top == gens.back());
    for (std::size_t k = 0; k + 1 < backups.size(); ++k) {
        f.restore(backups[k]);
        auto session = begin_session(w, s);  // read only: nothing committed, the witness stays at top
        INFO("backup " << k);
        CHECK(session.kind() == verdict::restored);
        CHECK(session.status().lost_from == gens[k] + 1);
        CHECK(session.status().lost_to == top);
        CHECK(s.size() == k + 1);
    }
    f.restore(backups.back());
    CHECK(begin_session(w, s).kind() == verdict::same_timeline);
}

template <class F>
void restore_twice_in_a_row(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    s.put(make_item("a"));
    sync.reconcile(w);
    const auto b1 = f.backup();
    const auto g1 = s.load_checkpoint()->generation;
    s.put(make_item("b"));
    sync.reconcile(w);
    const auto b2 = f.backup();
    s.put(make_item("c"));
    sync.reconcile(w);

    // Twice without a reconcile between: the second restore decides.
    f.restore(b2);
    f.restore(b1);
    auto st = begin_session(w, s).status();
    CHECK(st.kind == verdict::restored);
    CHECK(st.lost_from == g1 + 1);

    // Restore, reconcile, restore the same backup again: detected again, with the new generation lost too.
    auto r1 = sync.reconcile(w);
    CHECK(r1.timeline == verdict::restored);
    const auto after_first = w.load()->generation;
    CHECK(remote.active_count() == 1);
    f.restore(b1);
    auto st2 = begin_session(w, s).status();
    CHECK(st2.kind == verdict::restored);
    CHECK(st2.lost_from == g1 + 1);
    CHECK(st2.lost_to == after_first);
    auto r2 = sync.reconcile(w);
    CHECK(r2.timeline == verdict::restored);
    CHECK(remote.stats().creates == 3);  // nothing was pushed twice
    CHECK(remote.active_count() == 1);
    CHECK(sync.reconcile(w).timeline == verdict::same_timeline);
}

template <class F>
void restore_then_new_work(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    s.put(make_item("a"));
    sync.reconcile(w);
    const auto b1 = f.backup();
    s.put(make_item("redo-me"));
    sync.reconcile(w);
    CHECK(remote.stats().creates == 2);

    f.restore(b1);
    const auto again = s.put(make_item("redo-me"));  // the user redoes the undone work
    s.put(make_item("brand-new"));
    CHECK(again == 2);  // the restored database hands out the same id again
    auto session = begin_session(w, s);
    REQUIRE(session.kind() == verdict::restored);
    auto p = sync.plan(session);
    CHECK(p.count(case_kind::relinkable) == 1);
    CHECK(p.count(case_kind::local_only) == 1);
    CHECK(p.count(case_kind::orphan) == 0);
    sync.apply(p, session);
    session.commit();
    CHECK(remote.stats().creates == 3);  // redo adopted the existing remote object; only brand-new was created
    CHECK(remote.active_count() == 3);
    CHECK(s.links().size() == 3);
    auto next = sync.reconcile(w);
    CHECK(next.timeline == verdict::same_timeline);
    CHECK(next.actions.empty());
}

template <class F>
void cursors_rewind_with_restore(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    const auto name = sync.cursor_name();
    s.put(make_item("a"));
    s.put(make_item("b"));
    sync.reconcile(w);  // pushes a and b; the cursor covers what was listed before the pushes
    sync.reconcile(w);  // lists them: the cursor reaches b
    const auto c1 = cursor_of(s, name);
    REQUIRE(c1);
    CHECK(*c1 == remote.all().back().seq);
    const auto b1 = f.backup();
    s.put(make_item("c"));
    s.put(make_item("d"));
    sync.reconcile(w);
    sync.reconcile(w);
    const auto c2 = cursor_of(s, name);
    REQUIRE(c2);
    CHECK(*c2 > *c1);
    f.restore(b1);
    CHECK(cursor_of(s, name) == c1);  // the restore rewound the high-water mark
    auto rep = sync.reconcile(w);    // re-pulled from the rewound cursor and classified again
    CHECK(rep.timeline == verdict::restored);
    CHECK(rep.counts[static_cast<std::size_t>(case_kind::orphan)] == 2);
    CHECK(cursor_of(s, name) == c2);
}

template <class F>
void witness_missing_or_behind(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    s.put(make_item("a"));
    sync.reconcile(w);
    const auto old = w.load();
    s.put(make_item("b"));
    sync.reconcile(w);
    const auto gen = s.load_checkpoint()->generation;

    w.erase();  // the witness was deleted
    auto st = begin_session(w, s).status();
    CHECK(st.kind == verdict::witness_behind);
    auto rep = sync.reconcile(w);
    CHECK(rep.timeline == verdict::witness_behind);
    REQUIRE(w.load());
    CHECK(w.load()->generation == s.load_checkpoint()->generation);
    CHECK(w.load()->lineage == s.load_checkpoint()->lineage);

    w.set(old);  // an older witness (restored from a backup of its own)
    auto st2 = begin_session(w, s).status();
    CHECK(st2.kind == verdict::witness_behind);
    CHECK(!st2.lost(gen));
    CHECK(sync.reconcile(w).timeline == verdict::witness_behind);
    CHECK(sync.reconcile(w).timeline == verdict::same_timeline);
    CHECK(remote.stats().creates == 2);
    CHECK(remote.active_count() == 2);
}

template <class F>
void crash_between_store_and_witness(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    s.put(make_item("a"));
    sync.reconcile(w);
    s.put(make_item("b"));
    sync.set_step_hook([](std::string_view at) {
        if (at == "after local commit") throw std::runtime_error("power cut");
    });
    CHECK_THROWS_AS(sync.reconcile(w), std::runtime_error);
    sync.set_step_hook({});
    CHECK(s.load_checkpoint()->generation == w.load()->generation + 1);  // the store committed, the witness did not
    auto st = begin_session(w, s).status();
    CHECK(st.kind == verdict::witness_behind);
    CHECK(st.interrupted);
    auto rep = sync.reconcile(w);
    CHECK(rep.timeline == verdict::witness_behind);
    CHECK(rep.actions.empty());
    CHECK(remote.stats().creates == 2);  // nothing duplicated
    CHECK(w.load()->in_progress.empty());
    CHECK(sync.reconcile(w).timeline == verdict::same_timeline);
}

template <class F>
void restore_before_first_reconcile_is_different_database(F& f) {
    auto& s = f.store();
    remote_type remote;
    memory_witness w;
    auto sync = make_sync(s, remote);
    s.put(make_item("a"));
    const auto before_concord = f.backup();
    sync.reconcile(w);
    s.put(make_item("b"));
    sync.reconcile(w);
    const auto witness_before = w.load();

    f.restore(before_concord);
    auto session = begin_session(w, s);
    CHECK(session.kind() == verdict::different_database);
    auto p = sync.plan(session);
    for (const auto& a : p.actions) CHECK(a.kind != action_kind::cancel_remote);  // never destructive without consent
    sync.apply(p, session);
    session.commit();
    CHECK(remote.active_count() == 2);
    REQUIRE(w.load());
    CHECK(w.load()->lineage == witness_before->lineage);  // no consent: the witness keeps its lineage,
    CHECK(begin_session(w, s).kind() == verdict::different_database);  // so the next reconcile asks again
}

} // namespace concord::conformance

#define CONCORD_CONFORMANCE_CASE(Fixture, label, what, fn)                                                            \
    TEST_CASE(label ": " what, "[conformance]") {                                                                     \
        Fixture f;                                                                                                     \
        ::concord::conformance::fn(f);                                                                                 \
    }

/// Registers every conformance test for `Fixture`, named "<label>: <what>".
#define CONCORD_STORE_CONFORMANCE_TESTS(Fixture, label)                                                              \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "an empty store", empty_store)                                           \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "ids are assigned like rowids", ids_like_rowids)                         \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "values round-trip", values_round_trip)                                  \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "commit applies rows + links + checkpoint", commit_applies_everything)  \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "commit is all or nothing", commit_all_or_nothing)                       \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "commit refuses a lineage that is not a lineage id, writing nothing",    \
                             commit_refuses_bad_lineage)                                                               \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "one checkpoint per database, links per table",                          \
                             checkpoint_shared_links_per_table)                                                        \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "a restore rewinds rows, links, checkpoint and cursors",                 \
                             restore_rewinds_everything)                                                               \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "timeline verdicts across a restore", timeline_verdicts)                 \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "restore to each earlier backup", restore_to_each_backup)                \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "restore twice in a row", restore_twice_in_a_row)                        \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "restore, new work, reconcile", restore_then_new_work)                   \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "cursors rewind with a restore", cursors_rewind_with_restore)            \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "witness deleted or older than the store", witness_missing_or_behind)   \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "crash between store commit and witness write",                          \
                             crash_between_store_and_witness)                                                          \
    CONCORD_CONFORMANCE_CASE(Fixture, label, "restore to before the first reconcile is a different database",         \
                             restore_before_first_reconcile_is_different_database)
