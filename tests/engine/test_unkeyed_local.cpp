// A local entity whose identity cannot be computed (an identity member cleared) may be the entity of a
// linked orphan: its object was cancelled (trust_local) or imported a second time (trust_remote) on a
// partial picture. Such orphans are asked about, with a note, until the entity has an identity again.

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

namespace {
struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, sku), (std::string, name));
};
using sku_identity = concord::identity::natural_key<&item::sku>;

template <class Policy>
void check_asked() {
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    concord::memory_witness witness;
    auto setup = concord::make_reconciler<concord::policy::trust_local>(
        db, remote, {.owner = {"host-1", "items"}, .entity_name = "item"}, sku_identity{});
    auto rec = concord::make_reconciler<Policy>(db, remote, {.owner = {"host-1", "items"}, .entity_name = "item"},
                                                sku_identity{});
    db.put({0, "A-1", "anvil"});
    db.put({0, "B-2", "bell"});
    setup.reconcile(witness);  // both pushed and linked
    REQUIRE(remote.active_count() == 2);
    // The user clears A-1's sku in the UI: the row is still there, its identity is not computable.
    for (auto e : db.scan())
        if (e.sku == "A-1") {
            e.sku.clear();
            db.put(e);
        }
    auto s = concord::begin_session(witness, db);
    auto p = rec.plan(s);
    CHECK(p.unkeyed_local == 1);
    CHECK(p.count(concord::case_kind::orphan) == 1);
    CHECK(p.actions.empty());  // neither cancelled nor imported a second time
    REQUIRE(p.decisions.size() == 1);
    CHECK(p.decisions.front().summary.find("no identity this plan could compute") != std::string::npos);
    bool reported = false;
    for (const auto& pr : p.problems) reported = reported || pr.code == concord::errc::empty_identity;
    CHECK(reported);
    rec.apply(p, s);
    s.commit();
    CHECK(remote.active_count() == 2);
    CHECK(db.size() == 2);

    // The sku is typed again: in sync, nothing asked.
    for (auto e : db.scan())
        if (e.sku.empty()) {
            e.sku = "A-1";
            db.put(e);
        }
    auto again = rec.reconcile(witness);
    CHECK(again.actions.empty());
    CHECK(again.decisions.empty());
    CHECK(remote.active_count() == 2);
}
} // namespace

TEST_CASE("a linked orphan beside a local entity without identity is asked about, trust_local",
          "[decisions][identity]") {
    check_asked<concord::policy::trust_local>();
}

TEST_CASE("a linked orphan beside a local entity without identity is asked about, trust_remote",
          "[decisions][identity]") {
    check_asked<concord::policy::trust_remote>();
}

TEST_CASE("an unlinked orphan is still resolved by the policy beside a local entity without identity",
          "[decisions][identity]") {
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    concord::memory_witness witness;
    auto rec = concord::make_reconciler<concord::policy::trust_remote>(
        db, remote, {.owner = {"host-1", "items"}, .entity_name = "item"}, sku_identity{});
    db.put({0, "", "no sku yet"});
    rec.reconcile(witness);  // establishes the lineage; the row without sku is only reported
    const auto gen = db.load_checkpoint()->generation;
    // An object of ours no link names (its create committed remotely, the local write lost).
    remote.create({0, "C-3", "cup"}, concord::stamp_metadata({"host-1", "items"}, sku_identity{}.key(item{0, "C-3", "cup"}), gen),
                  "k-c3");
    auto r = rec.reconcile(witness);
    CHECK(r.decisions.empty());
    CHECK(db.size() == 2);  // imported, as trust_remote says: no link, so it cannot be the row without sku
}
