// Regressions of the fourth review of the classification core, one TEST_CASE per finding:
//  1. inbound: a record carrying someone else's owner value that is not a concord tag is foreign;
//  2. reconcilers of two integrations sharing one decision book do not answer each other's questions;
//  3. two local entities sharing an identity do not take that identity's remote records out of the plan;
//  4. plan_from refuses a listing that holds one remote id twice, as list_all does;
//  5. keep_oldest settling a diverged survivor asks the question the next plan asks (same id).
// Each works on plan_from with hand-made inputs (the shape of the reviewer's probes), so what is
// checked is the classification itself: cases, actions, decisions and problems.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <concord/decision_book.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::action_kind;
using concord::case_kind;
using concord::resolution;
namespace policy = concord::policy;

namespace {

using record = concord::remote_record<item>;
using plan_t = concord::plan<item>;

const concord::owner_tag me{"inst-1", "shop"};

concord::timeline_status same_timeline(std::uint64_t generation = 5) {
    concord::timeline_status s;
    s.kind = concord::verdict::same_timeline;
    s.lineage = "abc";
    s.generation = generation;
    return s;
}

item local_item(std::int64_t id, std::string sku, std::string name) {
    auto i = make_item(std::move(sku), std::move(name));
    i.id = id;
    return i;
}

record remote(std::string id, std::uint64_t seq, item value, concord::metadata meta = {}) {
    record r;
    r.remote_id = std::move(id);
    r.seq = seq;
    r.value = std::move(value);
    r.meta = std::move(meta);
    return r;
}

concord::key128 identity_of(const std::string& sku) { return sku_identity{}.key(make_item(sku)); }

concord::reconciler_options options_with(unsigned threads) {
    auto o = options();
    o.threads = threads;
    o.min_slice = 1;  // really split, even these few rows
    return o;
}

/// Every action of the plan that targets this remote object.
std::vector<concord::action<item>> actions_on(const plan_t& p, std::string_view remote_id) {
    std::vector<concord::action<item>> out;
    for (const auto& a : p.actions)
        if (a.remote_id == remote_id) out.push_back(a);
    return out;
}

/// The cases that list this remote object.
std::vector<concord::classified<item>> cases_with(const plan_t& p, std::string_view remote_id) {
    std::vector<concord::classified<item>> out;
    for (const auto& c : p.cases)
        if (std::any_of(c.remote.begin(), c.remote.end(), [&](const record& r) { return r.remote_id == remote_id; }))
            out.push_back(c);
    return out;
}

std::size_t count_kind(const plan_t& p, action_kind k) {
    return static_cast<std::size_t>(std::count_if(p.actions.begin(), p.actions.end(), [&](auto& a) { return a.kind == k; }));
}

/// The concord::error f throws, if any.
template <class F>
std::optional<concord::error> error_of(F&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e;
    }
    return std::nullopt;
}

/// A remote that lists exactly what it was given (records with seq > after, in the given order, at
/// most `limit`): a provider whose listing repeats an object. Counts the cancels asked of it.
struct repeating_remote {
    using entity_type = item;
    std::vector<record> items;
    std::size_t cancels = 0;
    concord::page<item> list(std::optional<std::uint64_t> after, std::size_t limit) {
        concord::page<item> p;
        std::size_t i = 0;
        for (; i < items.size(); ++i) {
            if (after && items[i].seq <= *after) continue;
            if (p.items.size() == limit) break;
            p.items.push_back(items[i]);
        }
        p.has_more = i < items.size();
        return p;
    }
    record cancel(std::string_view remote_id, const std::string&) {
        ++cancels;
        for (auto& r : items)
            if (r.remote_id == remote_id) r.state = concord::remote_state::cancelled;
        return items.front();
    }
};

} // namespace

TEST_CASE("review4: inbound, an owner value that is not a concord tag is someone else's", "[review4][review4-core][inbound]") {
    concord::memory_store<item> db;
    concord::memory_remote<item> rem;
    auto o = options();
    o.inbound = true;
    auto rec = concord::make_reconciler<policy::trust_local>(db, rem, o, sku_identity{});
    const concord::metadata acme{{std::string(concord::meta_keys::owner), "acme-sync"}};
    const auto untagged = remote("r1", 1, make_item("sku-1", "x"));       // inbound: a new entity of ours
    const auto theirs = remote("r2", 2, make_item("sku-1", "y"), acme);   // same identity, another owner

    SECTION("beside an untagged record of the same identity: no duplicate, nothing cancelled") {
        const auto p = rec.plan_from(same_timeline(), true, {}, {}, {untagged, theirs});
        const auto with_theirs = cases_with(p, "r2");
        REQUIRE(with_theirs.size() == 1);
        CHECK(with_theirs[0].kind == case_kind::foreign);
        CHECK(with_theirs[0].remote.size() == 1);
        CHECK_THAT(with_theirs[0].note, Catch::Contains("acme-sync"));
        CHECK(actions_on(p, "r2").empty());
        CHECK(count_kind(p, action_kind::cancel_remote) == 0);
        CHECK(p.count(case_kind::duplicate) == 0);
        CHECK(p.count(case_kind::foreign) == 1);
        // The untagged record is the inbound entity, alone in its case, imported and linked.
        const auto with_ours = cases_with(p, "r1");
        REQUIRE(with_ours.size() == 1);
        CHECK(with_ours[0].kind == case_kind::orphan);
        CHECK(with_ours[0].remote.size() == 1);
        CHECK(count_kind(p, action_kind::upsert_local) == 1);
        CHECK(actions_on(p, "r1").size() == 1);
        CHECK(p.decisions.empty());
    }

    SECTION("alone: a foreign case, not imported") {
        const auto p = rec.plan_from(same_timeline(), true, {}, {}, {theirs});
        REQUIRE(p.cases.size() == 1);
        CHECK(p.cases[0].kind == case_kind::foreign);
        CHECK_THAT(p.cases[0].note, Catch::Contains("acme-sync"));
        CHECK(p.actions.empty());
        CHECK(p.decisions.empty());
    }

    SECTION("not inbound: the same record is foreign too") {
        auto o2 = options();
        auto rec2 = concord::make_reconciler<policy::trust_local>(db, rem, o2, sku_identity{});
        const auto p = rec2.plan_from(same_timeline(), true, {}, {}, {theirs});
        REQUIRE(p.cases.size() == 1);
        CHECK(p.cases[0].kind == case_kind::foreign);
        CHECK(p.actions.empty());
    }
}

TEST_CASE("review4: two integrations sharing a decision book do not answer each other's questions",
          "[review4][review4-core][decisions]") {
    concord::memory_store<item> db;
    concord::memory_remote<item> stripe, paypal;
    concord::memory_decision_book book;  // one book beside the database, as file_decision_book::beside makes
    db.put(make_item("sku-1", "widget"));
    auto o_stripe = options();
    o_stripe.owner = {"inst-1", "stripe"};
    auto o_paypal = options();
    o_paypal.owner = {"inst-1", "paypal"};  // same entity type, same entity_name
    auto a = concord::make_reconciler<policy::ask_user>(db, stripe, o_stripe, sku_identity{});
    auto b = concord::make_reconciler<policy::ask_user>(db, paypal, o_paypal, sku_identity{});
    a.use_decision_book(book);
    b.use_decision_book(book);

    const auto pa = a.plan_from(same_timeline(), true, db.scan(), db.links(), {});
    REQUIRE(pa.decisions.size() == 1);
    CHECK(pa.decisions[0].kind == case_kind::local_only);
    CHECK(pa.actions.empty());
    const auto pb0 = b.plan_from(same_timeline(), true, db.scan(), db.links(), {});
    REQUIRE(pb0.decisions.size() == 1);
    CHECK(pb0.decisions[0].id != pa.decisions[0].id);  // one situation, two remotes: two questions

    a.answer(pa, pa.decisions[0].id, resolution::create_remote);  // "yes, put it on stripe"

    // paypal's question stays open: nothing is created there on stripe's answer.
    const auto pb = b.plan_from(same_timeline(), true, db.scan(), db.links(), {});
    REQUIRE(pb.decisions.size() == 1);
    CHECK(pb.decisions[0].kind == case_kind::local_only);
    CHECK(pb.decisions[0].id == pb0.decisions[0].id);
    CHECK(pb.actions.empty());
    CHECK(count_kind(pb, action_kind::create_remote) == 0);

    // stripe's answer settles stripe's question.
    const auto pa2 = a.plan_from(same_timeline(), true, db.scan(), db.links(), {});
    CHECK(pa2.decisions.empty());
    CHECK(count_kind(pa2, action_kind::create_remote) == 1);

    // paypal can be answered otherwise: it is not "already answered" by stripe's answer.
    CHECK_NOTHROW(b.answer(pb, pb.decisions[0].id, resolution::remove_local));
    const auto pb2 = b.plan_from(same_timeline(), true, db.scan(), db.links(), {});
    CHECK(pb2.decisions.empty());
    CHECK(count_kind(pb2, action_kind::remove_local) == 1);
    CHECK(count_kind(pb2, action_kind::create_remote) == 0);
}

TEST_CASE("review4: two local entities of one identity keep its remote records in the plan", "[review4][review4-core][join]") {
    const auto threads = GENERATE(1u, 2u);
    CAPTURE(threads);
    const bool takes_money = GENERATE(true, false);
    CAPTURE(takes_money);
    concord::memory_store<item> db;
    concord::memory_remote<item> rem;
    auto rec = concord::make_reconciler<policy::trust_local>(db, rem, options_with(threads), sku_identity{});
    const auto k = identity_of("sku-1");
    const auto foreign_rec = remote("r1", 1, make_item("sku-1", "theirs"), concord::stamp_metadata({"inst-2", "shop"}, k, 1));
    auto ours = remote("r2", 2, make_item("sku-1", "ours"), concord::stamp_metadata(me, k, 1));
    ours.takes_money = takes_money;
    // An unrelated identity beside it, in sync, so the join has more than the one group.
    const auto k_other = identity_of("sku-2");
    const auto other_local = local_item(3, "sku-2", "other");
    auto other = remote("r3", 3, make_item("sku-2", "other"), concord::stamp_metadata(me, k_other, 1));
    const std::vector<concord::link> links{{k_other, "r3", 1}};

    const auto p = rec.plan_from(same_timeline(), true,
                                 {local_item(1, "sku-1", "a"), local_item(2, "sku-1", "b"), other_local}, links,
                                 {foreign_rec, ours, other});

    // Another installation's record: still a foreign case.
    const auto with_foreign = cases_with(p, "r1");
    CHECK(with_foreign.size() == 1);
    if (!with_foreign.empty()) {
        CHECK(with_foreign[0].kind == case_kind::foreign);
        CHECK_THAT(with_foreign[0].note, Catch::Contains("inst-2"));
    }
    CHECK(p.count(case_kind::foreign) == 1);

    // Ours: named in a duplicate_local problem (with whether it can take money), not acted upon.
    std::size_t locals_reported = 0, naming_ours = 0;
    for (const auto& pr : p.problems) {
        if (pr.code != concord::errc::duplicate_local) continue;
        if (pr.message.find("two local entities") != std::string::npos) ++locals_reported;
        if (pr.message.find("r2") != std::string::npos) {
            ++naming_ours;
            CHECK_THAT(pr.message, Catch::Contains(k.hex()));
            CHECK((pr.message.find("can take money") != std::string::npos) == takes_money);
        }
    }
    CHECK(locals_reported == 1);
    CHECK(naming_ours == 1);

    // Left alone: no action on either record, none on the two local entities, no question.
    CHECK(actions_on(p, "r1").empty());
    CHECK(actions_on(p, "r2").empty());
    CHECK(p.actions.empty());
    CHECK(p.decisions.empty());
    CHECK(p.count(case_kind::orphan) == 0);
    CHECK(p.count(case_kind::duplicate) == 0);
    CHECK(p.count(case_kind::in_sync) == 1);  // sku-2
}

TEST_CASE("review4: a listing holding one remote id twice is refused with bad_page", "[review4][review4-core][paging]") {
    const std::string id = "pi_dup42";  // distinctive, so "names the id" means something
    const auto k = identity_of("sku-1");
    const auto mine = local_item(7, "sku-1", "mine");
    const auto once = remote(id, 1, make_item("sku-1", "mine"), concord::stamp_metadata(me, k, 1));
    auto again = once;
    again.seq = 2;  // listed twice under two seqs (a provider re-listing an edited object)
    // Re-listed after someone re-stamped it with another identity: an orphan beside its own in-sync case.
    auto restamped = again;
    restamped.value = make_item("sku-9", "mine");
    restamped.meta = concord::stamp_metadata(me, identity_of("sku-9"), 1);
    const std::vector<concord::link> links{{k, id, 1}};

    SECTION("plan_from, one object given twice") {
        for (const auto& listing : {std::vector<record>{once, once}, std::vector<record>{once, again},
                                    std::vector<record>{once, restamped}}) {
            for (unsigned threads : {1u, 2u}) {
                CAPTURE(listing.back().seq, listing.back().value.sku, threads);
                concord::memory_store<item> db;
                concord::memory_remote<item> rem;
                auto rec = concord::make_reconciler<policy::trust_local>(db, rem, options_with(threads), sku_identity{});
                const auto e = error_of([&] { (void)rec.plan_from(same_timeline(), true, {mine}, links, listing); });
                CHECK(e.has_value());
                if (e) {
                    CHECK(e->code() == concord::errc::bad_page);
                    CHECK_THAT(std::string(e->what()), Catch::Contains(id));
                }
                // The same object once is an ordinary plan.
                CHECK_NOTHROW(rec.plan_from(same_timeline(), true, {mine}, links, {once}));
            }
        }
    }

    SECTION("the same listing through a remote, by reconcile: refused the same way, nothing done") {
        for (const auto& listing : {std::vector<record>{once, once}, std::vector<record>{once, again}}) {
            CAPTURE(listing.back().seq);
            concord::memory_store<item> db;
            concord::memory_witness wit;
            db.put(make_item("sku-1", "mine"));
            repeating_remote src{listing};
            auto rec = concord::make_reconciler<policy::trust_local>(db, src, options(), sku_identity{});
            const auto e = error_of([&] { rec.reconcile(wit); });
            REQUIRE(e);
            CHECK(e->code() == concord::errc::bad_page);
            CHECK_THAT(std::string(e->what()), Catch::Contains(id));
            CHECK(src.cancels == 0);
            CHECK(db.size() == 1);
            CHECK(!wit.load());
        }
    }
}

TEST_CASE("review4: keep_oldest asks about a diverged survivor with the id the next plan asks", "[review4][review4-core][decisions]") {
    using P = policy::per_case<policy::trust_local, policy::case_<concord::diverged, policy::ask_user>>;
    const auto threads = GENERATE(1u, 2u);
    CAPTURE(threads);
    concord::memory_store<item> db;
    concord::memory_remote<item> rem;
    auto rec = concord::make_reconciler<P>(db, rem, options_with(threads), sku_identity{});
    const auto mine = local_item(7, "sku-1", "mine");
    const auto k = identity_of("sku-1");
    const auto r1 = remote("r1", 1, make_item("sku-1", "old"), concord::stamp_metadata(me, k, 1));
    const auto r2 = remote("r2", 2, make_item("sku-1", "new"), concord::stamp_metadata(me, k, 2));

    // Plan 1: two objects of ours, the local entity linked to neither. Keep the oldest (r1), cancel
    // r2, link r1; r1 differs from the local entity: that question is asked.
    const auto p1 = rec.plan_from(same_timeline(), true, {mine}, {}, {r1, r2});
    REQUIRE(p1.cases.size() == 1);
    CHECK(p1.cases[0].kind == case_kind::duplicate);
    REQUIRE(actions_on(p1, "r2").size() == 1);
    CHECK(actions_on(p1, "r2")[0].kind == action_kind::cancel_remote);
    REQUIRE(actions_on(p1, "r1").size() == 1);
    CHECK(actions_on(p1, "r1")[0].kind == action_kind::link);
    REQUIRE(p1.decisions.size() == 1);
    CHECK(p1.decisions[0].kind == case_kind::diverged);
    const std::string asked = p1.decisions[0].id;

    // The inputs of the next plan once the apply has cancelled r2 and written the link to r1.
    auto r2_cancelled = r2;
    r2_cancelled.state = concord::remote_state::cancelled;
    const std::vector<concord::link> links{{k, "r1", 5}};
    auto next_plan = [&](const auto& r) {
        return r.plan_from(same_timeline(6), true, {mine}, links, {r1, r2_cancelled});
    };

    // Unanswered, the next plan asks the same question, by the same id.
    const auto p2 = next_plan(rec);
    REQUIRE(p2.cases.size() == 1);
    CHECK(p2.cases[0].kind == case_kind::diverged);
    REQUIRE(p2.decisions.size() == 1);
    CHECK(p2.decisions[0].kind == case_kind::diverged);
    CHECK(p2.decisions[0].id == asked);

    // Answered after the apply (by plan 1's question): the next plan uses the answer.
    rec.answer(p1, asked, resolution::push);
    const auto p3 = next_plan(rec);
    CHECK(p3.decisions.empty());
    const auto on_r1 = actions_on(p3, "r1");
    REQUIRE(on_r1.size() == 1);
    CHECK(on_r1[0].kind == action_kind::update_remote);
    CHECK(on_r1[0].why == resolution::push);
    REQUIRE(on_r1[0].value);
    CHECK(on_r1[0].value->name == "mine");

    // And answered before the apply, plan 1 itself pushes once r1 is linked (the link is being written).
    const auto p1b = rec.plan_from(same_timeline(), true, {mine}, {}, {r1, r2});
    CHECK(p1b.decisions.empty());
    CHECK(count_kind(p1b, action_kind::update_remote) == 1);
}
