// apply(): crash at every step then converge, retries and timeouts, reports, foreign look-alikes
// and bad input.

#include <stdexcept>

#include <catch2/catch.hpp>

#include <concord/clock.hpp>
#include <concord/remote_witness.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::case_kind;
namespace policy = concord::policy;

namespace {

/// A restored world with one of every actionable case for trust_local:
/// O orphan (cancel), C local_only (create), V diverged (update), R relinkable (link),
/// D duplicate (cancel the younger), S stale_inbound (cancel + remove local), K in sync.
void busy_world(world& w) {
    w.orders.insert("o-1");
    w.db.put(make_item("K", "kept"));
    auto v = w.db.put(make_item("V", "before"));
    w.db.put(make_item("D", "dup"));
    w.db.put(make_item("S", "label", 1, "o-1"));
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("O", "after backup"));
    w.db.put(make_item("R", "redo me"));
    w.sync<policy::trust_local>();
    const auto d = w.active("D").at(0);
    w.remote.put_external(d.value, d.meta);
    w.db.restore(backup);
    w.orders.erase("o-1");
    w.db.put(make_item("C", "new"));
    w.db.put(make_item("R", "redo me"));
    auto edited = *w.db.get(v);
    edited.name = "after";
    w.db.put(edited);
}

/// The converged state of busy_world under trust_local.
void check_converged(const world& w) {
    for (const char* sku : {"K", "V", "D", "R", "C"}) {
        INFO(sku);
        CHECK(w.active(sku).size() == 1);
        REQUIRE(w.local(sku));
    }
    CHECK(w.active("O").empty());
    CHECK(w.active("S").empty());
    CHECK(!w.local("O"));
    CHECK(!w.local("S"));
    CHECK(w.local("V")->name == "after");
    CHECK(w.active("V").at(0).value.name == "after");
    CHECK(w.db.size() == 5);
}

struct crash : std::runtime_error {
    crash() : std::runtime_error("simulated crash") {}
};

} // namespace

TEST_CASE("crash at every step of apply, then reconcile again: converged, no duplicate remote effect", "[crash]") {
    // How many steps does an uninterrupted apply take, and what remote effects does it have?
    std::size_t steps = 0;
    world ref;
    busy_world(ref);
    const auto base = ref.remote.stats();
    {
        auto o = options();
        o.batch_size = 2;
        auto r = ref.reconciler<policy::trust_local>(o);
        r.set_step_hook([&](std::string_view) { ++steps; });
        r.reconcile(ref.witness);
    }
    check_converged(ref);
    const auto creates = ref.remote.stats().creates - base.creates;
    const auto cancels = ref.remote.stats().cancels - base.cancels;
    const auto updates = ref.remote.stats().updates - base.updates;
    CHECK(creates == 1);
    CHECK(cancels == 3);
    CHECK(updates == 1);
    REQUIRE(steps >= 10);

    for (std::size_t n = 1; n <= steps; ++n) {
        DYNAMIC_SECTION("crash at step " << n) {
            world w;
            busy_world(w);
            auto o = options();
            o.batch_size = 2;
            std::string where;
            {
                auto r = w.reconciler<policy::trust_local>(o);
                std::size_t k = 0;
                r.set_step_hook([&](std::string_view what) {
                    if (++k == n) {
                        where = std::string(what);
                        throw crash();
                    }
                });
                CHECK_THROWS_AS(r.reconcile(w.witness), crash);
            }
            INFO("crashed " << where);
            auto r = w.reconciler<policy::trust_local>(o);
            r.reconcile(w.witness);
            CHECK(r.reconcile(w.witness).actions.empty());
            check_converged(w);
            CHECK(w.remote.stats().creates - base.creates == creates);
            CHECK(w.remote.stats().cancels - base.cancels == cancels);
            CHECK(w.remote.stats().updates - base.updates <= updates);
        }
    }
}

TEST_CASE("transient errors and rate limits are retried with the same key, with backoff", "[retry]") {
    world w;
    concord::manual_clock clock;
    w.db.put(make_item("A"));
    auto r = w.reconciler<policy::trust_local>();
    r.use_clock(clock);

    SECTION("recovered") {
        w.remote.inject(concord::fault::transient);
        w.remote.inject(concord::fault::rate_limit);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.actions.size() == 1);
        CHECK(rep.actions[0].outcome == "done");
        CHECK(rep.actions[0].attempts == 3);
        CHECK(w.remote.stats().creates == 1);
        const concord::retry_policy rp;
        CHECK(clock.slept_ms() == (rp.delay(0) + rp.delay(1)).count());
        CHECK(r.reconcile(w.witness).actions.empty());
    }

    SECTION("exhausted: a typed, reported failure; the next reconcile uses the same key") {
        w.remote.inject(concord::fault::transient, 5);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.actions.size() == 1);
        CHECK(rep.actions[0].outcome == "failed");
        CHECK(rep.actions[0].error == "retries_exhausted");
        CHECK(rep.actions[0].attempts == 5);
        CHECK(rep.failed() == 1);
        CHECK(rep.json().find("\"error\":\"retries_exhausted\"") != std::string::npos);
        CHECK(w.remote.stats().creates == 0);
        const auto slept = clock.slept_ms();
        CHECK(slept > 0);
        CHECK(slept <= 4 * concord::retry_policy{}.max_delay.count());  // bounded
        auto again = r.reconcile(w.witness);
        REQUIRE(again.actions.size() == 1);
        CHECK(again.actions[0].outcome == "done");
        CHECK(again.actions[0].idempotency_key == rep.actions[0].idempotency_key);
        CHECK(w.remote.stats().creates == 1);
    }
}

namespace {
/// A remote without key look-up: timeouts must be settled by listing and matching the identity.
struct listing_only_remote {
    using entity_type = item;
    concord::memory_remote<item>* m;
    static concord::metadata_limits limits() { return {}; }
    concord::page<item> list(std::optional<std::uint64_t> after, std::size_t limit) { return m->list(after, limit); }
    concord::remote_record<item> create(const item& e, const concord::metadata& md, const std::string& key) {
        return m->create(e, md, key);
    }
    concord::remote_record<item> cancel(std::string_view id, const std::string& key) { return m->cancel(id, key); }
};
} // namespace

TEST_CASE("outcome-unknown timeouts are settled by look-up before any retry", "[timeout]") {
    world w;
    concord::manual_clock clock;
    w.db.put(make_item("A"));

    SECTION("applied, then the answer was lost: settled by the key") {
        auto r = w.reconciler<policy::trust_local>();
        r.use_clock(clock);
        w.remote.inject(concord::fault::timeout_after);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.actions.size() == 1);
        CHECK(rep.actions[0].outcome == "settled");
        CHECK(rep.actions[0].attempts == 1);
        CHECK(w.remote.stats().creates == 1);
        CHECK(w.remote.stats().replays == 0);  // nothing was sent again
        CHECK(w.db.links().size() == 1);
        CHECK(clock.slept_ms() == 0);
        CHECK(r.reconcile(w.witness).actions.empty());
    }

    SECTION("never arrived: the look-up finds nothing, the retry creates once") {
        auto r = w.reconciler<policy::trust_local>();
        r.use_clock(clock);
        w.remote.inject(concord::fault::timeout_before);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.actions.size() == 1);
        CHECK(rep.actions[0].outcome == "done");
        CHECK(rep.actions[0].attempts == 2);
        CHECK(w.remote.stats().creates == 1);
    }

    SECTION("a remote without key look-up: settled by listing the identity") {
        listing_only_remote lr{&w.remote};
        auto r = concord::make_reconciler<policy::trust_local>(w.db, lr, options(), sku_identity{});
        r.use_clock(clock);
        w.remote.inject(concord::fault::timeout_after);
        auto rep = r.reconcile(w.witness);
        REQUIRE(rep.actions.size() == 1);
        CHECK(rep.actions[0].outcome == "settled");
        CHECK(w.remote.stats().creates == 1);
        CHECK(r.reconcile(w.witness).actions.empty());
    }

    // A look-alike carrying our tag and A's identity, but no generation and other content, turns up
    // between the plan and the apply (older than anything the create makes, so first in the listing).
    SECTION("a remote without key look-up: a look-alike of the identity is not what the create made") {
        listing_only_remote lr{&w.remote};
        auto r = concord::make_reconciler<policy::trust_local>(w.db, lr, options(), sku_identity{});
        r.use_clock(clock);
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        REQUIRE(p.actions.size() == 1);
        concord::metadata fake{{std::string(concord::meta_keys::owner), options().owner.text()},
                               {std::string(concord::meta_keys::identity), p.actions[0].identity.hex()}};
        const auto other = w.remote.put_external(make_item("Z", "not ours", 999), fake);
        const bool answer_lost = GENERATE(true, false);
        w.remote.inject(answer_lost ? concord::fault::timeout_after : concord::fault::timeout_before);
        auto rep = r.apply(p, s);
        s.commit();
        REQUIRE(rep.actions.size() == 1);
        CHECK(rep.actions[0].outcome == (answer_lost ? "settled" : "done"));
        CHECK(rep.actions[0].remote_id != other.remote_id);
        CHECK(w.remote.stats().creates == 1);  // A's own object exists, made once
        REQUIRE(w.active("A").size() == 1);
        REQUIRE(w.db.links().size() == 1);
        CHECK(w.db.links()[0].remote_id == w.active("A")[0].remote_id);
        CHECK(w.remote.current(other.remote_id)->value.sku == "Z");  // untouched
    }
}

namespace {
/// A remote whose create answers with another object than the one asked for: what a replay of an
/// earlier request under the same key returns when that object was edited since.
struct replaying_remote {
    using entity_type = item;
    concord::memory_remote<item>* m;
    std::string answer;  // the remote id every create answers with
    static concord::metadata_limits limits() { return {}; }
    concord::page<item> list(std::optional<std::uint64_t> after, std::size_t limit) { return m->list(after, limit); }
    concord::remote_record<item> create(const item&, const concord::metadata&, const std::string&) {
        return *m->current(answer);
    }
    concord::remote_record<item> cancel(std::string_view id, const std::string& key) { return m->cancel(id, key); }
};
} // namespace

TEST_CASE("a create answered with an object of another identity is not linked", "[apply]") {
    world w;
    const auto other = w.remote.put_external(make_item("B", "someone else's"));
    w.db.put(make_item("A"));
    replaying_remote rr{&w.remote, other.remote_id};
    auto r = concord::make_reconciler<policy::trust_local>(w.db, rr, options(), sku_identity{});
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    auto rep = r.apply(p, s);
    s.commit();
    std::size_t creates = 0;
    for (const auto& a : rep.actions) {
        if (a.action != "create_remote") continue;
        ++creates;
        CHECK(a.outcome == "failed");
        CHECK(a.error == "idempotency_conflict");
        CHECK_THAT(a.detail, Catch::Contains(other.remote_id) && Catch::Contains("not linked"));
    }
    CHECK(creates == 1);
    CHECK(w.db.links().empty());
}

TEST_CASE("a create of ours edited into another identity is not created again under the same key", "[apply]") {
    // A create went through, then the process ended before the local commit (no link); then someone
    // edited the object's identity field on the remote, so it is no longer provably ours.
    world w;
    w.sync<policy::trust_local>();
    w.db.put(make_item("A", "widget", 100));
    std::string first_key;
    {
        auto r = w.reconciler<policy::trust_local>();
        r.set_step_hook([](std::string_view s) {
            if (s.substr(0, 19) == "after create_remote") throw crash();
        });
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        REQUIRE(p.actions.size() == 1);
        first_key = p.actions[0].idempotency_key;
        CHECK_THROWS_AS(r.apply(p, s), crash);
    }
    REQUIRE(w.remote.all().size() == 1);
    const auto made = w.remote.all()[0];
    auto edited = made.value;
    edited.sku = "A-edited";
    w.remote.edit_external(made.remote_id, edited);

    auto r = w.reconciler<policy::trust_local>();
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    const concord::classified<item>* a = nullptr;
    for (const auto& c : p.cases)
        if (c.kind == case_kind::local_only) a = &c;
    REQUIRE(a);
    CHECK(a->set_apart == 1);
    CHECK_THAT(a->note, Catch::Contains(made.remote_id));
    CHECK(p.count(case_kind::foreign) == 1);
    CHECK(p.actions.empty());  // asked, not created again (same key: the remote would replay the edited object)
    REQUIRE(p.decisions.size() == 1);
    r.answer(p, p.decisions[0].id, concord::resolution::create_remote);
    auto p2 = r.plan(s);
    REQUIRE(p2.actions.size() == 1);
    CHECK(p2.actions[0].idempotency_key != first_key);  // a new request: the set-apart object counts
    r.apply(p2, s);
    s.commit();
    CHECK(w.remote.stats().replays == 0);
    REQUIRE(w.active("A").size() == 1);
    CHECK(w.active("A")[0].remote_id != made.remote_id);
    CHECK(w.remote.current(made.remote_id)->value.sku == "A-edited");  // untouched
}

TEST_CASE("a failed apply keeps the witness's in-progress mark for the next session", "[apply]") {
    world w;
    w.sync<policy::trust_local>();
    w.db.put(make_item("A"));
    w.db.fail_next_commits(1);  // the local commit after the remote create fails
    auto r = w.reconciler<policy::trust_local>();
    {
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        CHECK_THROWS_AS(r.apply(p, s), concord::store_error);
    }
    CHECK(w.remote.stats().creates == 1);
    const auto rec = w.witness.load();
    REQUIRE(rec);
    CHECK_THAT(rec->in_progress, Catch::Contains("reconcile of"));
    CHECK_THAT(rec->failure, Catch::Contains("injected commit failure"));
    auto next = concord::begin_session(w.witness, w.db);
    CHECK(next.status().interrupted);
    // ... and the next reconcile finishes the work (links the object the create made) and clears it.
    CHECK(r.reconcile(w.witness).problems.empty());
    CHECK(w.db.links().size() == 1);
    CHECK(w.remote.stats().creates == 1);
    CHECK(w.witness.load()->in_progress.empty());
}

TEST_CASE("reports: counts, every action with key and outcome, decisions, stable between runs", "[report]") {
    auto run = [](auto policy_tag) {
        using P = decltype(policy_tag);
        world w;
        busy_world(w);
        auto r = w.reconciler<P>();
        auto session = concord::begin_session(w.witness, w.db);
        auto p = r.plan(session);
        auto dry = r.describe(p);
        auto done = r.apply(p, session);
        session.commit();
        return std::pair{dry, done};
    };
    auto [dry, done] = run(policy::trust_local{});
    auto [dry2, done2] = run(policy::trust_local{});
    CHECK(dry.json() == dry2.json());
    CHECK(done.json() == done2.json());
    CHECK(done.text() == done2.text());

    const auto j = done.json();
    CHECK(j.find("\"timeline\":\"restored\"") != std::string::npos);
    CHECK(j.find("\"counts\":{\"in_sync\":1,\"diverged\":1,\"local_only\":1,\"orphan\":1,\"relinkable\":1,"
                 "\"duplicate\":1,\"stale_inbound\":1,\"foreign\":0}") != std::string::npos);
    CHECK(j.find("\"dry_run\":false") != std::string::npos);
    CHECK(dry.json().find("\"dry_run\":true") != std::string::npos);
    REQUIRE(done.actions.size() >= 6);
    for (const auto& a : done.actions) {
        INFO(a.action);
        CHECK(a.outcome == "done");
        CHECK(j.find("\"identity\":\"" + a.identity + "\"") != std::string::npos);
        // The entity in words, and it is the one the key names.
        REQUIRE(a.identity_text.size() > 6);
        REQUIRE(a.identity_text.rfind("sku=\"", 0) == 0);
        REQUIRE(a.identity_text.back() == '"');
        item named;
        named.sku = a.identity_text.substr(5, a.identity_text.size() - 6);
        CHECK(sku_identity{}.key(named).hex() == a.identity);
        CHECK(j.find("\"identity\":\"" + a.identity + "\",\"identity_text\":\"sku=\\\"" + named.sku + "\\\"\"") !=
              std::string::npos);
        CHECK(done.text().find("id=" + a.identity.substr(0, 12) + " [" + a.identity_text + "]") != std::string::npos);
        if (a.action == "create_remote" || a.action == "update_remote" || a.action == "cancel_remote") {
            CHECK(a.idempotency_key.size() == 68);
            CHECK(j.find("\"idempotency_key\":\"" + a.idempotency_key + "\",\"outcome\":\"done\"") != std::string::npos);
        }
    }
    // Balanced JSON (no string in this report holds a brace).
    CHECK(std::count(j.begin(), j.end(), '{') == std::count(j.begin(), j.end(), '}'));
    CHECK(std::count(j.begin(), j.end(), '[') == std::count(j.begin(), j.end(), ']'));
    const auto t = done.text();
    CHECK(t.find("reconcile [item] timeline: restored") != std::string::npos);
    CHECK(t.find("orphan=1") != std::string::npos);
    CHECK(t.find("cancel_remote (cancel_remote)") != std::string::npos);
    CHECK(dry.text().find("would create_remote") != std::string::npos);

    auto [ask_dry, ask_done] = run(policy::ask_user{});
    CHECK(ask_done.decisions.size() == 5);
    const auto aj = ask_done.json();
    for (const auto& d : ask_done.decisions) {
        CHECK(aj.find("\"id\":\"" + d.id + "\"") != std::string::npos);
        CHECK(d.options.size() == 2);
    }
    CHECK(aj.find("\"case\":\"orphan\"") != std::string::npos);
    CHECK(ask_done.text().find("DECISION") != std::string::npos);
}

TEST_CASE("foreign records and look-alikes are never touched, whatever the strategy", "[foreign]") {
    world w;
    w.sync<policy::trust_local>();  // generation 1 committed
    const auto ours = concord::owner_tag{"inst-1", "shop"}.text();
    const auto key_of = [](const std::string& sku) { return sku_identity{}.key(make_item(sku)).hex(); };
    w.remote.put_external(make_item("N"), {});                                                   // no tag
    w.remote.put_external(make_item("T"), {{"concord_owner", "concord/v1:inst-2:shop"}, {"concord_id", key_of("T")}, {"concord_gen", "1"}});
    w.remote.put_external(make_item("W"), {{"concord_owner", ours}, {"concord_id", key_of("other")}, {"concord_gen", "1"}});
    w.remote.put_external(make_item("X"), {{"concord_owner", ours}, {"concord_id", "not-hex"}, {"concord_gen", "1"}});
    w.remote.put_external(make_item("G"), {{"concord_owner", ours}, {"concord_id", key_of("G")}, {"concord_gen", "99"}});
    w.remote.put_external(make_item("Z"), {{"concord_owner", ours}, {"concord_id", key_of("Z")}, {"concord_gen", "0"}});
    w.remote.put_external(make_item("M"), {{"concord_owner", "concord/v1:broken"}, {"concord_id", key_of("M")}, {"concord_gen", "1"}});
    w.db.put(make_item("W"));  // a local W must not adopt the look-alike with the wrong identity, nor copy it

    auto r = w.reconciler<policy::trust_local>();
    auto session = concord::begin_session(w.witness, w.db);
    auto p = r.plan(session);
    CHECK(p.count(case_kind::foreign) == 7);
    CHECK(p.count(case_kind::orphan) == 0);
    // W: the look-alike holds W's content, so creating W would make a second one: the user decides.
    CHECK(p.count(case_kind::local_only) == 1);
    REQUIRE(p.decisions.size() == 1);
    CHECK(p.decisions.front().kind == case_kind::local_only);
    CHECK(p.decisions.front().summary.find("not provably ours") != std::string::npos);
    bool malformed_reported = false;
    for (const auto& pr : p.problems) malformed_reported |= pr.code == concord::errc::malformed_owner_tag;
    CHECK(malformed_reported);
    CHECK(p.actions.empty());
    auto rep = r.apply(p, session);
    session.commit();
    CHECK(w.remote.stats().cancels == 0);
    CHECK(w.remote.stats().updates == 0);
    for (const char* sku : {"N", "T", "X", "G", "Z", "M"}) CHECK(w.active(sku).size() == 1);
    CHECK(w.active("W").size() == 1);
    CHECK(rep.text().find("malformed owner tag") != std::string::npos);
    for (auto& rec : w.remote.all())
        if (rec.value.sku != "W") CHECK(rec.value.name == "thing");
}

namespace {
/// A RemoteSource that pages badly on purpose.
struct bad_remote {
    using entity_type = item;
    enum class mode { backwards, repeat_id, oversize } how;
    static concord::remote_record<item> rec(std::uint64_t seq, std::string id) {
        concord::remote_record<item> r;
        r.seq = seq;
        r.remote_id = std::move(id);
        r.value = make_item("B" + std::to_string(seq));
        return r;
    }
    concord::page<item> list(std::optional<std::uint64_t> after, std::size_t limit) {
        concord::page<item> p;
        switch (how) {
        case mode::backwards:
            p.items = after ? std::vector{rec(3, "x3")} : std::vector{rec(5, "x5"), rec(6, "x6")};
            p.has_more = !after;
            break;
        case mode::repeat_id:
            p.items = !after ? std::vector{rec(1, "x1")} : std::vector{rec(2, "x1")};
            p.has_more = !after;
            break;
        case mode::oversize:
            for (std::size_t i = 1; i <= limit + 1; ++i) p.items.push_back(rec(i, "x" + std::to_string(i)));
            break;
        }
        return p;
    }
};
} // namespace

TEST_CASE("bad input: a typed error or a reported problem, nothing deleted", "[bad_input]") {
    SECTION("remote pages that go backwards, repeat an id or hold more than asked") {
        for (auto how : {bad_remote::mode::backwards, bad_remote::mode::repeat_id, bad_remote::mode::oversize}) {
            concord::memory_store<item> db;
            concord::memory_witness wit;
            db.put(make_item("L"));
            bad_remote remote{how};
            auto o = options();
            o.page_size = 4;
            auto r = concord::make_reconciler<policy::trust_remote>(db, remote, o, sku_identity{});
            try {
                r.reconcile(wit);
                FAIL("a bad listing was accepted");
            } catch (const concord::error& e) {
                CHECK(e.code() == concord::errc::bad_page);
            }
            CHECK(db.size() == 1);  // trust_remote would have removed L on the strength of a bad listing
            CHECK(!wit.load());
        }
    }

    SECTION("two local entities with one identity: reported, both left alone") {
        world w;
        w.db.put(make_item("A", "first"));
        w.sync<policy::trust_local>();
        w.db.put(make_item("A", "second"));
        for (int i = 0; i < 2; ++i) {
            auto rep = (i == 0) ? w.sync<policy::trust_local>() : w.sync<policy::trust_remote>();
            CHECK(rep.actions.empty());
            CHECK(rep.text().find("duplicate_local") != std::string::npos);
        }
        CHECK(w.db.size() == 2);
        CHECK(w.active("A").size() == 1);
        CHECK(w.remote.stats().cancels == 0);
        CHECK(w.remote.stats().creates == 1);
    }

    SECTION("an entity without an identity: reported, not pushed") {
        world w;
        w.db.put(make_item(""));
        auto rep = w.sync<policy::trust_local>();
        CHECK(rep.actions.empty());
        CHECK(rep.json().find("empty_identity") != std::string::npos);
        CHECK(w.remote.stats().creates == 0);
        CHECK(w.db.size() == 1);
    }
}

TEST_CASE("applying one plan twice, or after the host changed the store, duplicates nothing", "[apply]") {
    world w;
    w.db.put(make_item("L", "local only"));
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A", "after backup"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);
    w.db.put(make_item("N", "never pushed"));
    // trust_remote: import orphan A, remove local-only N.
    auto r = w.reconciler<policy::trust_remote>();
    auto session = concord::begin_session(w.witness, w.db);
    auto p = r.plan(session);
    REQUIRE(p.count(case_kind::orphan) == 1);
    REQUIRE(p.count(case_kind::local_only) == 1);

    SECTION("the same plan applied twice") {
        r.apply(p, session);
        auto second = r.apply(p, session);
        session.commit();
        CHECK(w.db.size() == 2);  // L and the imported A, once
        CHECK(w.local("A"));
        CHECK(!w.local("N"));
        std::size_t skipped = 0;
        for (const auto& a : second.actions) {
            CHECK(a.outcome != "failed");
            skipped += a.outcome == "skipped";
        }
        CHECK(skipped == 2);  // the removal (id now reused by A) and the import
    }
    SECTION("the user re-created A and deleted N between plan and apply") {
        w.db.put(make_item("A", "after backup"));
        w.db.erase(w.local("N")->id);
        auto rep = r.apply(p, session);
        session.commit();
        CHECK(w.db.size() == 2);
        for (const auto& a : rep.actions) CHECK(a.outcome != "failed");
    }
    CHECK(r.reconcile(w.witness).actions.empty());
    CHECK(w.db.size() == 2);
    CHECK(w.remote.stats().cancels == 0);
}

TEST_CASE("an edit undone and redone is pushed every time (update keys are per operation instance)", "[apply]") {
    world w;
    auto id = w.db.put(make_item("A", "thing"));
    w.sync<policy::trust_local>();
    for (const char* name : {"x", "thing", "x", "thing", "x"}) {
        auto e = *w.db.get(id);
        e.name = name;
        w.db.put(e);
        auto rep = w.sync<policy::trust_local>();
        REQUIRE(rep.actions.size() == 1);
        CHECK(w.active("A").at(0).value.name == name);
    }
    CHECK(w.remote.stats().updates == 5);
    CHECK(w.sync<policy::trust_local>().actions.empty());
}

TEST_CASE("remote_witness retries its marker calls, and cancels a marker it could not cancel before", "[apply][remote_witness]") {
    concord::memory_remote<item> remote;
    concord::remote_witness<concord::memory_remote<item>> w(remote, options().owner);
    concord::manual_clock clock;
    w.use_clock(clock);
    concord::witness_record rec;
    rec.lineage = "0123456789abcdef0123456789abcdef";
    rec.generation = 3;
    auto markers = [&](concord::remote_state st) {
        std::size_t n = 0;
        for (const auto& r : remote.all()) n += w.is_marker(r) && r.state == st;
        return n;
    };

    SECTION("a 429 on the cancel, a timeout on the create: retried under the same keys") {
        remote.inject(concord::fault::timeout_after);  // the create went through, the answer was lost
        remote.inject(concord::fault::rate_limit);     // the first cancel is refused
        w.save(rec);
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(markers(concord::remote_state::cancelled) == 1);  // one marker: the retry replayed the create
        CHECK(clock.slept_ms() > 0);
        CHECK(w.uncancelled().empty());
        REQUIRE(w.load());
        CHECK(w.load()->generation == 3);
    }

    SECTION("a cancel that fails every attempt: reported, remembered, cancelled first by the next save") {
        remote.inject(concord::fault::none);
        remote.inject(concord::fault::rate_limit, 5);  // retry_policy's default max_attempts
        try {
            w.save(rec);
            FAIL("save() should have thrown");
        } catch (const concord::remote_error& e) {
            CHECK(e.code() == concord::errc::retries_exhausted);
        }
        CHECK(markers(concord::remote_state::active) == 1);
        REQUIRE(w.uncancelled().size() == 1);
        rec.generation = 4;
        w.save(rec);
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(markers(concord::remote_state::cancelled) == 2);
        CHECK(w.uncancelled().empty());
        CHECK(w.load()->generation == 4);
    }

    SECTION("fewer attempts allowed; a remembered marker someone cancelled meanwhile") {
        remote.inject(concord::fault::none);
        remote.inject(concord::fault::rate_limit, 2);
        w.set_retry({.max_attempts = 2});
        CHECK_THROWS_AS(w.save(rec), concord::remote_error);
        CHECK(w.uncancelled().size() == 1);
        remote.cancel_external(w.uncancelled()[0]);  // cancelled by hand meanwhile: a replayable cancel
        w.save(rec);
        CHECK(w.uncancelled().empty());
        CHECK(markers(concord::remote_state::active) == 0);
    }
}

TEST_CASE("a crash in the first reconcile, after a remote effect, does not make the database a stranger", "[crash]") {
    // Before its first commit the store has no checkpoint; a witness marked in progress with the new
    // lineage would otherwise make the next session see a different database.
    world w;
    w.db.put(make_item("A"));
    {
        auto r = w.reconciler<policy::trust_local>();
        r.set_step_hook([](std::string_view s) {
            if (s == "before local commit") throw crash();
        });
        auto s = concord::begin_session(w.witness, w.db);
        REQUIRE(s.kind() == concord::verdict::first_run);
        auto p = r.plan(s);
        CHECK_THROWS_AS(r.apply(p, s), crash);
    }
    CHECK(w.remote.stats().creates == 1);
    auto next = concord::begin_session(w.witness, w.db);
    CHECK(next.kind() != concord::verdict::different_database);
    CHECK(next.status().interrupted);
    auto rep = w.sync<policy::trust_local>();  // converges without adopting anything by hand
    CHECK(rep.problems.empty());
    CHECK(w.db.links().size() == 1);
    CHECK(w.remote.stats().creates == 1);
    CHECK(w.active("A").size() == 1);
}
