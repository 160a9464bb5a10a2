// Two databases of one installation (the same owner tag: a second shop opened with the same
// configuration, a test database beside production), each with its own witness, reconcile against
// one remote. The second database's first reconcile has no checkpoint and an empty witness: nothing
// proves that the objects the first one created are from this database's lost history, so they
// must not be cancelled by trust_local. A database restored to before its first reconcile (its
// witness remembers a lineage) is another story: its orphans really are its own.
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;

namespace {

/// A second database of the same installation, beside a world's: its own store and witness, the
/// world's remote.
struct second_db {
    concord::memory_store<item> db;
    concord::memory_witness witness;

    template <class Policy>
    concord::report sync(concord::memory_remote<item>& remote) {
        auto r = concord::make_reconciler<Policy>(db, remote, options(), sku_identity{});
        return r.reconcile(witness);
    }
};

std::size_t active_count(const concord::memory_remote<item>& remote) {
    std::size_t n = 0;
    for (const auto& r : remote.all()) n += r.state == concord::remote_state::active;
    return n;
}

} // namespace

TEST_CASE("first run beside another database of the same owner: its objects are asked about, not cancelled",
          "[engine][ownership]") {
    world a;
    a.db.put(make_item("A1"));
    a.db.put(make_item("A2"));
    a.sync<concord::policy::trust_local>();  // generation 1
    REQUIRE(active_count(a.remote) == 2);

    second_db b;
    const auto rep = b.sync<concord::policy::trust_local>(a.remote);
    CHECK(rep.timeline == concord::verdict::first_run);
    CHECK(count_actions(rep, "cancel_remote") == 0);
    CHECK(active_count(a.remote) == 2);  // A's objects still bill
    CHECK(rep.decisions.size() == 2);    // put to the user, who may import them or cancel them
    CHECK(rep.counts[static_cast<std::size_t>(concord::case_kind::orphan)] == 2);

    // A goes on working: nothing of A's is lost either.
    const auto again = a.sync<concord::policy::trust_local>();
    CHECK(count_actions(again, "create_remote") == 0);
    CHECK(active_count(a.remote) == 2);
}

TEST_CASE("first run beside another database of the same owner: trust_remote still imports",
          "[engine][ownership]") {
    world a;
    a.db.put(make_item("A1"));
    a.sync<concord::policy::trust_local>();
    second_db b;
    const auto rep = b.sync<concord::policy::trust_remote>(a.remote);
    CHECK(count_actions(rep, "upsert_local") == 1);  // importing is not destructive
    CHECK(b.db.scan().size() == 1);
    CHECK(active_count(a.remote) == 1);
}

TEST_CASE("restored to before the first reconcile: the witness remembers, the orphans are ours",
          "[engine][ownership]") {
    world a;
    const auto before = a.db.snapshot();  // empty, no checkpoint
    a.db.put(make_item("A1"));
    a.sync<concord::policy::trust_local>();
    a.db.restore(before);
    auto r = a.reconciler<concord::policy::trust_local>();
    auto session = concord::begin_session(a.witness, a.db);
    REQUIRE(session.kind() == concord::verdict::different_database);  // today's verdict: asked first
    auto p = r.plan(session);
    CHECK(p.decisions.size() == 1);
    session.adopt_database();  // the user says: this is my database, restored
    auto p2 = r.plan(session);
    REQUIRE(p2.actions.size() >= 1);
    const auto rep = r.apply(p2, session);
    session.commit();
    CHECK(count_actions(rep, "cancel_remote") == 1);
    CHECK(active_count(a.remote) == 0);
}
