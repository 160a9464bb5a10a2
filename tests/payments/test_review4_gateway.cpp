// Regressions of the fourth review of the payments gateway (the engine side is in
// tests/engine/test_review4_apply.cpp):
//  3. each gateway action holds the store's reconcile lock, and reuses a local row of the identity
//     written since its scan instead of inserting a second one (two host workers at once);
//  4. a create the provider answers with an object cancelled since (a replay) is
//     errc::idempotency_conflict, not recorded;
//  5. gateway::guard_creates puts the quarantine into the host's own reconcilers: their creates for
//     a quarantined customer are refused before anything is sent (world::reconcile in fixture.hpp
//     guards both of its reconcilers that way, so every scenario runs as a host should).
// Two workers are modelled by running the second inside the first's step hook (or witness write).

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>

#include "fixture.hpp"

using namespace payments_test;

namespace {

std::optional<concord::errc> code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    return std::nullopt;
}

template <class Store>
std::size_t rows_for(Store& st, std::string_view reference) {
    std::size_t n = 0;
    for (const auto& e : st.scan()) n += e.reference == reference;
    return n;
}

/// A temporary folder, removed with everything in it.
struct scratch_folder {
    std::filesystem::path path;
    scratch_folder() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "concord-review4-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~scratch_folder() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    scratch_folder(const scratch_folder&) = delete;
    scratch_folder& operator=(const scratch_folder&) = delete;
};

/// One SQLite file opened by two host workers: a connection, stores and a file witness each.
struct two_workers {
    scratch_folder dir;
    concord::manual_clock clock;
    pay::provider bank{[this] { return clock.now(); }};
    concord::owner_tag owner{"shop-1", "payments"};
    concord::sqlite_database c1{dir.path / "host.db"}, c2{dir.path / "host.db"};
    concord::sqlite_store<pay::payment_plan> plans1{c1, "payment_plans"}, plans2{c2, "payment_plans"};
    concord::sqlite_store<pay::charge> charges1{c1, "charges"}, charges2{c2, "charges"};
    concord::file_witness w1{concord::file_witness::beside(c1.path())}, w2{concord::file_witness::beside(c2.path())};
    pay::gateway<concord::file_witness, concord::sqlite_store<pay::payment_plan>, concord::sqlite_store<pay::charge>>
        gw1{bank, w1, plans1, charges1, {.owner = owner}}, gw2{bank, w2, plans2, charges2, {.owner = owner}};
    two_workers() {
        gw1.use_clock(clock);
        gw2.use_clock(clock);
        gw1.charge_invoice({0, "ada", "INV-0", 100});  // the database's first session
    }
};

/// A memory witness that calls `on_save` after each write (to run another worker in the middle of
/// an action: the gateway writes its in-progress mark right before its provider call).
struct hooked_witness {
    concord::memory_witness inner;
    std::function<void(const concord::witness_record&)> on_save;
    std::optional<concord::witness_record> load() { return inner.load(); }
    void save(const concord::witness_record& r) {
        inner.save(r);
        if (on_save) on_save(r);
    }
};

} // namespace

// --- 3. concurrent gateway actions ----------------------------------------------------------------

TEST_CASE("review4 gateway: two workers charging one invoice at once leave one local row (memory)",
          "[review4][payments][concurrency]") {
    world<memory_db> w;
    w.gw.charge_invoice(w.invoice("ada", "INV-0", 100));
    auto gw2 = pay::make_gateway(w.bank, w.witness, w.db.plans, w.db.charges, {.owner = w.owner});
    gw2.use_clock(w.clock);
    std::optional<pay::outcome<pay::charge>> second;
    w.gw.set_step_hook([&](std::string_view what) {
        if (what == "after provider call" && !second) second = gw2.charge_invoice(w.invoice("ada", "INV-1", 1500));
    });
    auto first = w.gw.charge_invoice(w.invoice("ada", "INV-1", 1500));
    w.gw.set_step_hook({});
    REQUIRE(second);
    CHECK(second->what == pay::how::adopted);
    CHECK(second->remote_id == first.remote_id);
    CHECK(first.local.id == second->local.id);
    CHECK(rows_for(w.db.charges, "INV-1") == 1);
    CHECK(w.bank.charges_for("ada", "INV-1") == 1);
    w.template reconcile<trust_local, trust_local>();
    CHECK(w.last_charges_plan.problems.empty());  // no "two local entities share identity"
    // The refund takes the money back and the database forgets the charge.
    CHECK(w.gw.refund("ada", "INV-1").what == pay::how::cancelled);
    w.template reconcile<trust_local, trust_local>();
    CHECK(rows_for(w.db.charges, "INV-1") == 0);
    CHECK(w.bank.charges_for("ada", "INV-1") == 0);
    CHECK(w.bank.money_taken("ada") == 100);
}

TEST_CASE("review4 gateway: a second worker's action waits for the first's lock (SQLite, two connections)",
          "[review4][payments][concurrency][sqlite]") {
    two_workers t;
    std::optional<concord::errc> refused;
    bool ran = false;
    t.gw1.set_step_hook([&](std::string_view what) {
        if (what == "after provider call" && !ran) {
            ran = true;
            refused = code_of([&] { t.gw2.charge_invoice({0, "ada", "INV-1", 1500}); });
        }
    });
    auto first = t.gw1.charge_invoice({0, "ada", "INV-1", 1500});
    t.gw1.set_step_hook({});
    REQUIRE(ran);
    CHECK(refused == concord::errc::concurrent_reconcile);
    CHECK(first.what == pay::how::created);
    CHECK(rows_for(t.charges1, "INV-1") == 1);
    CHECK(t.bank.charges_for("ada", "INV-1") == 1);
    // Tried again once the first has finished, the second worker finds the charge done.
    CHECK(t.gw2.charge_invoice({0, "ada", "INV-1", 1500}).what == pay::how::already_done);
    CHECK(rows_for(t.charges2, "INV-1") == 1);
    CHECK(t.bank.charges_for("ada", "INV-1") == 1);
}

TEST_CASE("review4 gateway: a reconcile cannot run during a gateway action (SQLite, two connections)",
          "[review4][payments][concurrency][sqlite]") {
    two_workers t;
    auto csrc = t.bank.charges();
    auto charges_r = concord::make_reconciler<trust_local>(t.charges2, csrc, {.owner = t.owner, .entity_name = "charge"},
                                                           pay::charge_identity{});
    std::optional<concord::errc> refused;
    bool ran = false;
    t.gw1.set_step_hook([&](std::string_view what) {
        // The charge exists at the provider, its row not yet: a reconcile now would take it for an orphan.
        if (what == "after provider call" && !ran) {
            ran = true;
            refused = code_of([&] { charges_r.reconcile(t.w2); });
        }
    });
    auto first = t.gw1.charge_invoice({0, "ada", "INV-1", 1500});
    t.gw1.set_step_hook({});
    REQUIRE(ran);
    CHECK(refused == concord::errc::concurrent_reconcile);
    auto rec = t.bank.get<pay::charge>(first.remote_id);
    REQUIRE(rec);
    CHECK(rec->state == concord::remote_state::active);  // not refunded as an orphan
    CHECK(t.bank.charges_for("ada", "INV-1") == 1);
    // Afterwards the reconcile finds the charge in sync.
    auto rep = charges_r.reconcile(t.w2);
    CHECK(rep.failed() == 0);
    CHECK(t.bank.charges_for("ada", "INV-1") == 1);
    CHECK(rows_for(t.charges2, "INV-1") == 1);
}

TEST_CASE("review4 gateway: an action while another session holds the reconcile lock does nothing",
          "[review4][payments][concurrency][sqlite]") {
    two_workers t;
    const auto creates = t.bank.stats().creates;
    {
        auto lock = t.charges2.lock_reconcile("concord");  // e.g. the other worker's reconcile
        CHECK(code_of([&] { t.gw1.charge_invoice({0, "ada", "INV-1", 1500}); }) == concord::errc::concurrent_reconcile);
        CHECK(t.bank.stats().creates == creates);
        CHECK(rows_for(t.charges1, "INV-1") == 0);
    }
    CHECK(t.gw1.charge_invoice({0, "ada", "INV-1", 1500}).what == pay::how::created);
    CHECK(t.bank.charges_for("ada", "INV-1") == 1);
}

TEST_CASE("review4 gateway: a host's session from begin() keeps other workers' actions out until commit",
          "[review4][payments][concurrency][sqlite]") {
    two_workers t;
    const auto creates = t.bank.stats().creates;
    {
        auto s = t.gw2.begin();  // worker 2's reconcile session: plan, apply, ...
        CHECK(s.holds_lock());
        // ... a charge another worker makes meanwhile would be an orphan to this session's plan
        CHECK(code_of([&] { t.gw1.charge_invoice({0, "ada", "INV-1", 1500}); }) == concord::errc::concurrent_reconcile);
        CHECK(code_of([&] { (void)t.gw1.begin(); }) == concord::errc::concurrent_reconcile);
        CHECK(t.bank.stats().creates == creates);
        CHECK(t.gw1.current_quarantine().empty());  // reading needs no lock
        t.gw2.commit(s);
        CHECK_FALSE(s.holds_lock());  // released by commit()
        CHECK(t.gw1.charge_invoice({0, "ada", "INV-1", 1500}).what == pay::how::created);
    }
    {
        auto s = t.gw2.begin();
        // A session left without commit() (a different database without consent, an exception)
        // releases the lock when it is destroyed.
    }
    CHECK(t.gw1.charge_invoice({0, "ada", "INV-2", 700}).what == pay::how::created);
    CHECK(t.bank.charges_for("ada", "INV-1") == 1);
    CHECK(t.bank.charges_for("ada", "INV-2") == 1);
}

// --- 4. a create answered with a cancelled object -------------------------------------------------

TEST_CASE("review4 gateway: a create answered with a charge refunded since is idempotency_conflict, not recorded",
          "[review4][payments][idempotency]") {
    concord::manual_clock clock;
    pay::provider bank{[&] { return clock.now(); }};
    memory_db db;
    hooked_witness witness;
    const concord::owner_tag owner{"shop-1", "payments"};
    auto gw1 = pay::make_gateway(bank, witness, db.plans, db.charges, {.owner = owner});
    auto gw2 = pay::make_gateway(bank, witness, db.plans, db.charges, {.owner = owner});
    gw1.use_clock(clock);
    gw2.use_clock(clock);
    gw1.charge_invoice({0, "ada", "INV-0", 100});
    // Between worker 1's listing and its provider call, worker 2 charges the same invoice (the same
    // request: same key, same stamp) and refunds it.
    bool fired = false;
    std::string other;
    witness.on_save = [&](const concord::witness_record& r) {
        if (fired || r.in_progress.empty()) return;
        fired = true;
        other = gw2.charge_invoice({0, "ada", "INV-1", 1500}).remote_id;
        gw2.refund("ada", "INV-1");
    };
    CHECK(code_of([&] { gw1.charge_invoice({0, "ada", "INV-1", 1500}); }) == concord::errc::idempotency_conflict);
    witness.on_save = {};
    REQUIRE(fired);
    REQUIRE(bank.get<pay::charge>(other)->state == concord::remote_state::cancelled);
    CHECK(rows_for(db.charges, "INV-1") == 0);  // no row for a refunded charge
    for (const auto& l : db.charges.links()) CHECK(l.remote_id != other);
    CHECK(bank.charges_for("ada", "INV-1") == 0);
    // Charged again, it is a new request (the refunded one counts): one live charge, recorded once.
    auto again = gw1.charge_invoice({0, "ada", "INV-1", 1500});
    CHECK(again.what == pay::how::created);
    CHECK(again.remote_id != other);
    CHECK(rows_for(db.charges, "INV-1") == 1);
    CHECK(bank.charges_for("ada", "INV-1") == 1);
    CHECK(bank.money_taken("ada") == 1600);
}

// --- 5. the quarantine in the host's reconcilers (API added by the fix: guard_creates) ------------

TEST_CASE("review4 gateway: guard_creates refuses a reconcile's creates for a quarantined customer",
          "[review4][payments][quarantine]") {
    world<memory_db> w;
    w.gw.create_plan(w.monthly("bob", "pool/monthly", 3000));
    for (const auto& p : w.db.plans.scan()) w.db.plans.erase(p.id);  // bob's plan is an orphan: bob is quarantined
    w.db.plans.put(w.monthly("bob", "spa/monthly", 4000));           // rows the host wrote, not pushed yet
    w.db.charges.put(w.invoice("bob", "INV-9", 900));
    w.db.charges.put(w.invoice("ada", "INV-8", 700));
    auto src = w.bank.plans();
    auto csrc = w.bank.charges();
    auto plans_r = concord::make_reconciler<ask_orphans>(w.db.plans, src, {.owner = w.owner, .entity_name = "payment_plan"},
                                                         pay::plan_identity{});
    auto charges_r = concord::make_reconciler<trust_local>(w.db.charges, csrc, {.owner = w.owner, .entity_name = "charge"},
                                                           pay::charge_identity{});
    plans_r.use_decision_book(w.book);
    const auto plans_before = w.bank.all<pay::payment_plan>().size();

    auto s = w.gw.begin();
    w.gw.guard_creates(plans_r, s);
    auto pp = plans_r.plan(s);
    REQUIRE(pp.decisions.size() == 1);  // the orphan is put to the user, left open
    auto prep = plans_r.apply(pp, s);
    w.gw.guard_creates(charges_r, s);  // the quarantine as the plans reconcile left it
    auto crep = charges_r.apply(charges_r.plan(s), s);
    w.gw.commit(s);
    CHECK(prep.failed() == 1);
    for (const auto& a : prep.actions)
        if (a.action == "create_remote") CHECK(a.error == "blocked");
    CHECK(w.bank.all<pay::payment_plan>().size() == plans_before);  // no second plan for bob
    CHECK(crep.failed() == 1);
    for (const auto& a : crep.actions)
        if (a.action == "create_remote" && a.outcome == "failed") CHECK(a.error == "blocked");
    CHECK(w.bank.charges_for("bob", "INV-9") == 0);
    CHECK(w.bank.charges_for("ada", "INV-8") == 1);  // another customer is not held up
    CHECK(w.bank.money_taken("bob") == 0);

    // The user cancels the orphan: bob is clear, and the next reconciles push his rows.
    plans_r.answer(pp, pp.decisions.front().id, concord::resolution::cancel_remote);
    for (int i = 0; i < 2; ++i) {
        auto s2 = w.gw.begin();
        w.gw.guard_creates(plans_r, s2);
        plans_r.apply(plans_r.plan(s2), s2);
        w.gw.guard_creates(charges_r, s2);
        charges_r.apply(charges_r.plan(s2), s2);
        w.gw.commit(s2);
    }
    CHECK(w.gw.current_quarantine().empty());
    CHECK(w.bank.charges_for("bob", "INV-9") == 1);
    CHECK(w.bank.active_count<pay::payment_plan>(concord::meta_keys::owner, w.owner.text()) == 1);  // spa, pool cancelled
    CHECK(w.bank.money_taken("bob") == 900);
}

TEST_CASE("review4 gateway: a reconcile that leaves a money-taking orphan open does not charge its customer",
          "[review4][payments][quarantine]") {
    world<memory_db> w;  // world::reconcile guards both reconcilers, as a host should
    w.gw.create_plan(w.monthly("bob", "pool/monthly", 3000));
    w.db.charges.put(w.invoice("bob", "INV-9", 900));  // a charge row the host wrote, not pushed yet
    for (const auto& p : w.db.plans.scan()) w.db.plans.erase(p.id);  // the plan row vanishes locally
    REQUIRE(w.gw.current_quarantine().blocks("bob"));
    auto p = w.template reconcile<ask_orphans, trust_local>();  // the orphan is asked about, left open
    CHECK(p.decisions.size() == 1);
    CHECK(w.gw.current_quarantine().blocks("bob"));
    CHECK(w.bank.charges_for("bob", "INV-9") == 0);
    // Once the user cancels the orphan, the same reconcile pushes the charge.
    w.template reconcile<ask_orphans, trust_local>([](const auto&) { return concord::resolution::cancel_remote; });
    CHECK(w.gw.current_quarantine().empty());
    CHECK(w.bank.charges_for("bob", "INV-9") == 1);
    CHECK(w.bank.money_taken("bob") == 900);
}
