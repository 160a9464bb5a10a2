// A recorded answer is not applied, like a policy's choice, while local entities have no identity:
// the linked orphan it settled may be one of them. Here the user had the deleted item imported back
// (import_local, kept in the book: answers outlive restores), then cleared its sku in the UI. The
// orphan comes back, and applying that answer again would import a second copy of an entity the
// database still holds: it is a new question, asked with the note.

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::case_kind;
using concord::resolution;
namespace policy = concord::policy;

TEST_CASE("a recorded answer to a linked orphan is held while a local entity has no identity",
          "[decisions][identity]") {
    using ask_orphans = policy::per_case<policy::trust_local, concord::case_<concord::orphan, policy::ask_user>>;
    world w;
    w.db.put(make_item("A-1", "anvil"));
    w.db.put(make_item("B-2", "bell"));
    w.sync<policy::trust_local>();  // both pushed and linked
    REQUIRE(w.remote.active_count() == 2);

    auto r = w.reconciler<ask_orphans>();
    concord::memory_decision_book book;
    r.use_decision_book(book);

    // The user deletes A-1 and, asked about its object, has it imported back.
    REQUIRE(w.db.erase(w.local("A-1")->id));
    {
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        REQUIRE(p.decisions.size() == 1);
        REQUIRE(p.decisions.front().kind == case_kind::orphan);
        r.answer(p, p.decisions.front().id, resolution::import_local);
        auto again = r.plan(s);
        CHECK(count_actions(r.apply(again, s), "upsert_local") == 1);
        s.commit();
    }
    REQUIRE(w.db.size() == 2);
    REQUIRE(w.local("A-1"));
    REQUIRE(book.size() == 1);

    // Later the user clears A-1's sku: the row is still there, its identity is not computable.
    auto a1 = *w.local("A-1");
    a1.sku.clear();
    w.db.put(a1);
    {
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        CHECK(p.unkeyed_local == 1);
        CHECK(p.count(case_kind::orphan) == 1);
        CHECK(p.actions.empty());  // the recorded import is not applied to a partial picture
        CHECK(p.decisions.size() == 1);  // asked again, with the note
        for (const auto& d : p.decisions)
            CHECK(d.summary.find("no identity this plan could compute") != std::string::npos);
        r.apply(p, s);
        s.commit();
    }
    CHECK(w.db.size() == 2);  // no second copy of the anvil
    CHECK(w.remote.active_count() == 2);

    // The sku is typed again: in sync, nothing asked, the answer still recorded.
    a1.sku = "A-1";
    w.db.put(a1);
    auto rep = r.reconcile(w.witness);
    CHECK(rep.actions.empty());
    CHECK(rep.decisions.empty());
    CHECK(w.db.size() == 2);
    CHECK(book.size() == 1);
}

TEST_CASE("an answer given with the unkeyed note is applied while the doubt lasts", "[decisions][identity]") {
    using ask_orphans = policy::per_case<policy::trust_local, concord::case_<concord::orphan, policy::ask_user>>;
    world w;
    w.db.put(make_item("A-1", "anvil"));
    w.db.put(make_item("B-2", "bell"));
    w.sync<policy::trust_local>();
    auto r = w.reconciler<ask_orphans>();
    concord::memory_decision_book book;
    r.use_decision_book(book);

    // The user clears A-1's sku, is asked about its object with the note, and cancels it anyway.
    auto a1 = *w.local("A-1");
    a1.sku.clear();
    w.db.put(a1);
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    REQUIRE(p.decisions.size() == 1);
    r.answer(p, p.decisions.front().id, resolution::cancel_remote);
    auto again = r.plan(s);
    CHECK(again.decisions.empty());
    CHECK(count_actions(r.apply(again, s), "cancel_remote") == 1);
    s.commit();
    CHECK(w.remote.active_count() == 1);
}
