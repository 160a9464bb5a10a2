// Policies composed per case, user-written policies, ask_user decisions (callback, terminal prompt,
// persisted answers), blocking, the factory, and the cases_of view.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include <catch2/catch.hpp>

#include <concord/plan_view.hpp>
#include <concord/decisions.hpp>
#include <concord/prompt.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::case_kind;
using concord::resolution;
namespace policy = concord::policy;

namespace {

/// Orphans of sku "A" (can take money) and "B" (cannot), made by a restore; a never-pushed local
/// item "C"; a duplicate "D".
void restored_world(world& w) {
    w.db.put(make_item("D", "dup"));
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.remote.set_takes_money(true);
    w.db.put(make_item("A", "plan that charges"));
    w.sync<policy::trust_local>();
    w.remote.set_takes_money(false);
    w.db.put(make_item("B", "plain"));
    w.sync<policy::trust_local>();
    const auto d = w.active("D").at(0);
    w.remote.put_external(d.value, d.meta);  // a second object of ours for D (a run without idempotency)
    w.db.restore(backup);
    w.db.put(make_item("C", "new"));
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A user-written strategy: ask only about orphans that can still take money, trust local otherwise.
struct guard_money {
    template <class E>
    resolution decide(const concord::classified<E>& c, const concord::timeline_status& t) const {
        if (c.kind == case_kind::orphan && c.takes_money()) return resolution::ask;
        return policy::trust_local{}.decide(c, t);
    }
};

template <class St, class Re, class Id>
constexpr bool factory_without_policy =
    requires(St& s, Re& r, concord::reconciler_options o, Id id) { concord::make_reconciler(s, r, o, id); };
template <class P, class St, class Re, class Id>
constexpr bool factory_with_policy =
    requires(St& s, Re& r, concord::reconciler_options o, Id id) { concord::make_reconciler<P>(s, r, o, id); };

} // namespace

TEST_CASE("make_reconciler deduces entity, store, remote and identity, the policy has no default", "[factory]") {
    using St = concord::memory_store<item>;
    using Re = concord::memory_remote<item>;
    STATIC_REQUIRE(!factory_without_policy<St, Re, sku_identity>);
    STATIC_REQUIRE(factory_with_policy<policy::trust_local, St, Re, sku_identity>);
    world w;
    auto r = concord::make_reconciler(w.db, w.remote, options(), sku_identity{}, guard_money{});  // policy by value
    STATIC_REQUIRE(std::is_same_v<decltype(r), concord::reconciler<item, St, Re, sku_identity, guard_money>>);
    STATIC_REQUIRE(concord::conflict_policy<guard_money, item>);
    STATIC_REQUIRE(concord::conflict_policy<policy::per_case<policy::trust_local, policy::case_<concord::orphan, policy::ask_user>>, item>);
    auto bad = options();
    bad.owner.integration = "a:b";
    CHECK_THROWS_AS(concord::make_reconciler<policy::trust_local>(w.db, w.remote, bad, sku_identity{}), concord::error);
}

TEST_CASE("per_case: ask about orphans and duplicates, trust local for the rest", "[per_case]") {
    using P = policy::per_case<policy::trust_local, policy::case_<concord::orphan, policy::ask_user>,
                               policy::case_<concord::duplicate, policy::ask_user>>;
    world w;
    restored_world(w);
    auto r = w.reconciler<P>();
    auto session = concord::begin_session(w.witness, w.db);
    auto p = r.plan(session);
    CHECK(p.count(case_kind::orphan) == 2);
    CHECK(p.count(case_kind::duplicate) == 1);
    CHECK(p.count(case_kind::local_only) == 1);
    REQUIRE(p.decisions.size() == 3);
    for (const auto& d : p.decisions) CHECK((d.kind == case_kind::orphan || d.kind == case_kind::duplicate));

    // cases_of: a range-v3 view over the plan's cases of one kind.
    std::size_t orphans = 0;
    for (const auto& c : concord::cases_of(p, case_kind::orphan)) {
        CHECK(c.kind == case_kind::orphan);
        CHECK(!c.local);
        ++orphans;
    }
    CHECK(orphans == 2);
    CHECK(std::ranges::distance(concord::cases_of(p, case_kind::local_only)) == 1);
    CHECK(std::ranges::distance(concord::cases_of(p, case_kind::in_sync)) == 0);  // counted, not listed

    auto rep = r.apply(p, session);
    session.commit();
    // Only C (local_only, trusted local) had a remote effect; everything under a decision is blocked.
    REQUIRE(rep.actions.size() == 1);
    CHECK(rep.actions[0].action == "create_remote");
    CHECK(w.active("C").size() == 1);
    CHECK(w.active("A").size() == 1);
    CHECK(w.active("B").size() == 1);
    CHECK(w.active("D").size() == 2);
    CHECK(w.remote.stats().cancels == 0);
}

TEST_CASE("a user-written policy: ask only about orphans that can take money", "[custom]") {
    world w;
    restored_world(w);
    auto r = w.reconciler<guard_money>();
    auto session = concord::begin_session(w.witness, w.db);
    auto p = r.plan(session);
    REQUIRE(p.decisions.size() == 1);
    CHECK(p.decisions[0].kind == case_kind::orphan);
    CHECK(p.decisions[0].summary.find("[can take money]") != std::string::npos);
    CHECK(p.decisions[0].options.at(0).effect.find("can still take money") != std::string::npos);
    r.apply(p, session);
    session.commit();
    CHECK(w.active("A").size() == 1);  // blocked, still there
    CHECK(w.active("B").empty());      // trusted local: cancelled
    CHECK(w.active("D").size() == 1);  // keep the oldest
    CHECK(w.active("C").size() == 1);
}

TEST_CASE("ask_user: blocked entities are untouched until answered, then resolved once", "[decisions]") {
    world w;
    restored_world(w);
    auto r = w.reconciler<policy::ask_user>();
    for (int run = 0; run < 3; ++run) {  // however often the host reconciles, nothing happens to them
        auto rep = r.reconcile(w.witness);
        CHECK(rep.decisions.size() == 4);
        CHECK(rep.actions.empty());
    }
    CHECK(w.remote.stats().cancels == 0);
    CHECK(w.remote.stats().creates == 3);  // D, A, B (the duplicate came from outside)
    CHECK(w.active("A").size() == 1);
    CHECK(w.active("D").size() == 2);
    CHECK(!w.local("A"));

    SECTION("answered by a callback") {
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        const auto n = r.answer_all(p, [](const concord::decision<item>& d) {
            switch (d.kind) {
            case case_kind::orphan: return resolution::import_local;
            case case_kind::duplicate: return resolution::keep_oldest;
            case case_kind::local_only: return resolution::create_remote;
            default: return resolution::ask;
            }
        });
        CHECK(n == 4);
        // Answering twice with the same choice changes nothing; a different choice is refused.
        const auto id = p.decisions.at(0).id;
        const auto first = *std::find_if(p.decisions.begin(), p.decisions.end(), [&](auto& d) { return d.id == id; });
        CHECK_NOTHROW(r.answer(p, id, first.kind == case_kind::orphan ? resolution::import_local
                                                                      : first.kind == case_kind::duplicate
                                                                            ? resolution::keep_oldest
                                                                            : resolution::create_remote));
        CHECK_THROWS_AS(r.answer(p, "no-such-decision", resolution::keep), concord::error);
        CHECK_THROWS_AS(r.answer(p, id, resolution::report), concord::error);

        // The answers apply on the next plan.
        auto p2 = r.plan(session);
        CHECK(p2.decisions.empty());
        r.apply(p2, session);
        session.commit();
        CHECK(w.local("A"));
        CHECK(w.local("B"));
        CHECK(w.active("D").size() == 1);
        CHECK(w.active("C").size() == 1);
        CHECK(w.remote.stats().creates == 4);
        auto again = r.reconcile(w.witness);
        CHECK(again.actions.empty());
        CHECK(again.decisions.empty());
        CHECK(w.remote.stats().creates == 4);
    }

    SECTION("a different answer after the first is refused") {
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        const auto& d = p.decisions.at(0);
        const auto opts = concord::options_for(d.kind);
        r.answer(p, d.id, opts[0]);
        r.answer(p, d.id, opts[0]);
        try {
            r.answer(p, d.id, opts[1]);
            FAIL("a second, different answer was accepted");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(std::string(e.what()).find("already answered") != std::string::npos);
        }
        CHECK(r.plan(session).decisions.size() == 3);
    }
}

TEST_CASE("terminal prompt: scripted answers, retries on nonsense, skip, end of input", "[prompt]") {
    world w;
    restored_world(w);
    auto r = w.reconciler<policy::ask_user>();
    auto session = concord::begin_session(w.witness, w.db);
    auto p = r.plan(session);
    REQUIRE(p.decisions.size() == 4);
    // Decisions come in identity order; answer by number, by name, after nonsense, and skip one.
    std::istringstream in("banana\n1\n  2  \ns\nkeep_oldest\n");
    std::ostringstream out;
    std::vector<case_kind> kinds;
    for (const auto& d : p.decisions) kinds.push_back(d.kind);
    concord::terminal_prompt prompt(in, out);
    // keep_oldest only fits a duplicate: make the script fit whichever decision comes last.
    if (kinds.back() != case_kind::duplicate) {
        in.str("banana\n1\n  2  \ns\n1\n");
    }
    const auto n = r.answer_all(p, prompt);
    CHECK(n == 3);
    CHECK(prompt.answered() == 3);
    const auto text = out.str();
    CHECK(text.find("'banana' is not an option") != std::string::npos);
    CHECK(text.find("[1] ") != std::string::npos);
    CHECK(text.find("left open") != std::string::npos);
    for (const auto& d : p.decisions) CHECK(text.find(d.summary) != std::string::npos);
    CHECK(r.plan(session).decisions.size() == 1);  // the skipped one stays open

    std::istringstream empty("");
    concord::terminal_prompt dry(empty, out);
    auto p2 = r.plan(session);
    try {
        r.answer_all(p2, dry);
        FAIL("end of input was taken as an answer");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::invalid_argument);
    }
}

TEST_CASE("decisions persisted in a file book and answered later, surviving a restore", "[decisions][file]") {
    const auto dir = std::filesystem::temp_directory_path() / ("concord-engine-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto book_path = concord::file_decision_book::beside(dir / "shop.db");
    std::filesystem::remove(book_path);
    world w;
    make_item("x");
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);  // A is now an orphan

    std::string open_id;
    {  // run 1: the host reconciles unattended and reports the open decision
        concord::file_decision_book book(book_path);
        auto r = w.reconciler<policy::ask_user>();
        r.use_decision_book(book);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.decisions.size() == 1);
        open_id = rep.decisions[0].id;
        CHECK(rep.json().find(open_id) != std::string::npos);
        CHECK(book.size() == 0);
    }
    {  // later: the user answers (another process)
        concord::file_decision_book book(book_path);
        auto r = w.reconciler<policy::ask_user>();
        r.use_decision_book(book);
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions[0].id == open_id);  // stable id across runs
        r.answer(p, open_id, resolution::import_local);
        const auto written = slurp(book_path);
        CHECK(written.find(open_id + " import_local") != std::string::npos);
        r.answer(p, open_id, resolution::import_local);  // twice: nothing changes
        CHECK(slurp(book_path) == written);
    }
    auto before_apply = w.db.snapshot();
    {  // run 3: a fresh reconciler reads the answer and applies it
        concord::file_decision_book book(book_path);
        auto r = w.reconciler<policy::ask_user>();
        r.use_decision_book(book);
        auto rep = r.reconcile(w.witness);
        CHECK(rep.decisions.empty());
        CHECK(w.local("A"));
    }
    {  // the user restores again: the answer is outside the restore scope and still applies
        w.db.restore(before_apply);
        CHECK(!w.local("A"));
        concord::file_decision_book book(book_path);
        auto r = w.reconciler<policy::ask_user>();
        r.use_decision_book(book);
        auto rep = r.reconcile(w.witness);
        CHECK(rep.decisions.empty());
        CHECK(w.local("A"));
        CHECK(r.reconcile(w.witness).actions.empty());
    }
    CHECK(w.remote.stats().creates == 1);
    CHECK(w.remote.stats().cancels == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("an answer applies to its situation, not to every later one with the same entity", "[decisions]") {
    world w;
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A", "one"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);
    auto r = w.reconciler<policy::ask_user>();
    {
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        REQUIRE(p.decisions.size() == 1);
        r.answer(p, p.decisions[0].id, resolution::import_local);
    }
    r.reconcile(w.witness);
    REQUIRE(w.local("A"));

    SECTION("the user deletes the imported entity: a new question, not a re-import") {
        w.db.erase(w.local("A")->id);
        auto rep = r.reconcile(w.witness);
        CHECK(!w.local("A"));
        REQUIRE(rep.decisions.size() == 1);
        CHECK(rep.decisions[0].kind == "orphan");
    }
    SECTION("diverged answered 'pull' does not overwrite the user's later edits for ever") {
        auto e = *w.local("A");
        e.name = "edited";
        w.db.put(e);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.decisions.size() == 1);
        {
            auto session = concord::begin_session(w.witness, w.db);
            auto p = r.plan(session);
            r.answer(p, p.decisions.at(0).id, resolution::pull);
        }
        r.reconcile(w.witness);
        CHECK(w.local("A")->name == "one");
        e = *w.local("A");
        e.name = "edited again";
        w.db.put(e);
        auto again = r.reconcile(w.witness);
        CHECK(w.local("A")->name == "edited again");
        CHECK(again.decisions.size() == 1);
    }
}

TEST_CASE("relinkable with other content: adopted now, the content question answered once", "[decisions]") {
    world w;
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A", "pushed"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);
    w.db.put(make_item("A", "re-created differently"));
    auto r = w.reconciler<policy::ask_user>();
    std::string id;
    {
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        REQUIRE(p.count(case_kind::relinkable) == 1);
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions[0].kind == case_kind::diverged);
        id = p.decisions[0].id;
        r.apply(p, session);  // the link is written, the content stays blocked
        session.commit();
    }
    CHECK(w.db.links().size() == 1);
    CHECK(w.remote.stats().updates == 0);
    {
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        REQUIRE(p.count(case_kind::diverged) == 1);
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions[0].id == id);  // the same question, not a new one
        r.answer(p, id, resolution::push);
    }
    r.reconcile(w.witness);
    CHECK(w.active("A").at(0).value.name == "re-created differently");
    CHECK(r.reconcile(w.witness).actions.empty());
    CHECK(w.remote.stats().creates == 1);
}

TEST_CASE("an identity that is not stable across restores: its matches and, after a restore, one-sided cases are asked",
          "[decisions][identity]") {
    world w;
    auto r = concord::make_reconciler<policy::trust_local>(w.db, w.remote, options(), concord::identity::surrogate_id{});
    w.db.put(make_item("A", "first"));   // id 1
    auto first = r.reconcile(w.witness);  // first run: a local_only is created as usual
    CHECK(w.remote.stats().creates == 1);
    CHECK(first.problems.empty());
    auto backup = w.db.snapshot();
    w.db.put(make_item("B", "undone later"));  // id 2
    auto same = r.reconcile(w.witness);        // same timeline: new entities are created as usual
    CHECK(w.remote.stats().creates == 2);
    CHECK(same.problems.empty());
    w.db.restore(backup);
    w.db.put(make_item("C", "another entity"));  // takes id 2, and with it B's identity
    w.db.put(make_item("B", "the redo"));        // id 3: a new identity for the same conceptual entity

    auto session = concord::begin_session(w.witness, w.db);
    auto p = r.plan(session);
    REQUIRE(p.timeline.kind == concord::verdict::restored);
    CHECK(p.count(case_kind::relinkable) == 1);  // C matched B's object through id 2
    CHECK(p.count(case_kind::local_only) == 1);  // the redo of B
    CHECK(p.actions.empty());                    // trust_local would adopt B's object for C and create B again
    REQUIRE(p.decisions.size() == 2);
    std::set<case_kind> asked;
    for (const auto& d : p.decisions) asked.insert(d.kind);
    CHECK(asked == std::set<case_kind>{case_kind::relinkable, case_kind::local_only});
    REQUIRE(p.problems.size() == 1);
    CHECK(p.problems[0].code == concord::errc::unstable_identity);
    CHECK(p.problems[0].message.find("2 case(s)") != std::string::npos);
    r.apply(p, session);
    session.commit();
    CHECK(w.remote.stats().creates == 2);  // nothing created twice while the user decides

    // An answer settles it like any decision: create the redo (the user knows it is new work).
    {
        auto s2 = concord::begin_session(w.witness, w.db);
        auto p2 = r.plan(s2);
        REQUIRE(p2.decisions.size() == 2);  // the same questions again
        for (const auto& d : p2.decisions)
            if (d.kind == case_kind::local_only) r.answer(p2, d.id, resolution::create_remote);
    }
    auto third = r.reconcile(w.witness);
    CHECK(w.remote.stats().creates == 3);
    REQUIRE(third.decisions.size() == 1);  // C's match is still a question, in a later session too
    CHECK(third.decisions[0].kind == "relinkable");
    {
        auto s3 = concord::begin_session(w.witness, w.db);
        auto p3 = r.plan(s3);
        REQUIRE(p3.decisions.size() == 1);
        r.answer(p3, p3.decisions[0].id, resolution::adopt);  // the user says C is B's object after all
    }
    r.reconcile(w.witness);
    // Nothing one-sided is left on the other side: new work is plain new work again.
    w.db.put(make_item("D", "new"));
    auto fourth = r.reconcile(w.witness);
    CHECK(fourth.problems.empty());
    CHECK(fourth.decisions.empty());
    CHECK(w.remote.stats().creates == 4);

    // A stable identity in the same story is not affected.
    world v;
    v.db.put(make_item("A"));
    v.sync<policy::trust_local>();
    auto vb = v.db.snapshot();
    v.db.put(make_item("B"));
    v.sync<policy::trust_local>();
    v.db.restore(vb);
    v.db.put(make_item("B"));
    auto rep = v.sync<policy::trust_local>();
    CHECK(rep.problems.empty());
    CHECK(rep.counts[static_cast<std::size_t>(case_kind::relinkable)] == 1);
    CHECK(v.remote.stats().creates == 2);
}

TEST_CASE("a reconciler can be moved and copied: answers stay with it", "[factory]") {
    world w;
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);
    std::optional<decltype(w.reconciler<policy::ask_user>())> first;
    first.emplace(w.reconciler<policy::ask_user>());
    {
        auto session = concord::begin_session(w.witness, w.db);
        auto p = first->plan(session);
        REQUIRE(p.decisions.size() == 1);
        first->answer(p, p.decisions[0].id, resolution::cancel_remote);
    }
    auto moved = std::move(*first);
    first.reset();  // the moved-from original is gone
    auto rep = moved.reconcile(w.witness);
    CHECK(rep.decisions.empty());
    CHECK(w.active("A").empty());
}

TEST_CASE("decision ids name the entity type: one book shared by two types keeps their answers apart", "[decisions]") {
    // Two entity types whose identities are equal (one natural key over equal values) share a book:
    // answering one type's question must leave the other's open.
    world w;
    w.db.put(make_item("A"));
    concord::memory_decision_book book;
    auto named = [&](const char* name) {
        auto o = options();
        o.entity_name = name;
        auto r = w.reconciler<policy::ask_user>(o);
        r.use_decision_book(book);
        return r;
    };
    auto plans = named("payment_plan");
    auto charges = named("charge");
    auto session = concord::begin_session(w.witness, w.db);
    auto pp = plans.plan(session);
    auto pc = charges.plan(session);
    REQUIRE(pp.decisions.size() == 1);
    REQUIRE(pc.decisions.size() == 1);
    CHECK(pp.decisions[0].identity == pc.decisions[0].identity);  // the same identity key ...
    CHECK(pp.decisions[0].id != pc.decisions[0].id);              // ... and two questions
    CHECK(named("payment_plan").plan(session).decisions.at(0).id == pp.decisions[0].id);  // stable per type
    plans.answer(pp, pp.decisions[0].id, resolution::create_remote);
    CHECK(plans.plan(session).decisions.empty());
    CHECK(charges.plan(session).decisions.size() == 1);  // still the charge's own question
}

namespace {
/// A host's own decision book that holds a non-answer for every decision (found by the third
/// audit: the built-in books stored "ask" as if it were an answer).
struct non_answer_book {
    resolution held;
    std::optional<resolution> answer(std::string_view) const { return held; }
    void record(std::string_view, resolution) {}
};
} // namespace

TEST_CASE("a book that holds ask, report or nothing leaves the decision open instead of making the case vanish",
          "[decisions]") {
    for (auto held : {resolution::ask, resolution::report, resolution::nothing}) {
        CAPTURE(to_string(held));
        world w;
        restored_world(w);
        auto r = w.reconciler<policy::ask_user>();
        non_answer_book book{held};
        r.use_decision_book(book);
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        CHECK(p.decisions.size() == 4);  // the same questions as with an empty book
        CHECK(p.actions.empty());
        CHECK(p.problems.empty());
    }
}
