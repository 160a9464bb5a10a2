// payments: the flagship scenario, narrated.
//
// A small shop keeps invoices and payment plans in a SQLite file. A payment provider (here the
// simulated one, on a manual clock) holds the plans, which charge every month until cancelled, and
// the one-off charges of invoices. Another integrator (a CRM) shares the provider account.
//
// The shop's user backs up, works, restores the backup as an "undo", and redoes work. Without
// concord that leaves payment plans taking money for nobody (orphans) and charges the user repeats
// by hand taken twice. With concord:
//   * every provider action goes through the gateway, which stamps owner, identity and generation;
//   * after the restore a reconcile finds the orphans and, by policy, asks the user about them;
//   * until they are resolved, nothing new may take money from those customers (quarantine), neither
//     through the gateway nor through a reconcile pushing a row the shop wrote (guard_creates);
//   * a redone charge adopts the charge that already exists instead of charging again.
//
// Run it: scripts/quickstart.sh (or build the `payments` target). `payments --postgres <conninfo>`
// runs the same story on an empty PostgreSQL database instead, backed up with pg_dump and restored
// with pg_restore. Exit code 0 means the end state
// was verified: money taken exactly once per conceptual charge, no active orphan, the CRM's
// objects untouched.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/decisions.hpp>
#include <concord/payments/gateway.hpp>
#include <concord/payments/provider.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>
#if CONCORD_PAYMENTS_WITH_POSTGRES
#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>
#endif

namespace pay = concord::payments;

// The shop's own data: invoices. Plans and charges use the provider's entity types.
struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents));
};

// Orphans (remote objects of ours without a local owner) are put to the user; the rest trusts the
// local database.
using policy = concord::policy::per_case<concord::policy::trust_local,
                                         concord::policy::case_<concord::orphan, concord::policy::ask_user>>;

namespace {

int failures = 0;
void expect(bool ok, const std::string& what) {
    std::cout << (ok ? "   ok: " : "   FAILED: ") << what << '\n';
    if (!ok) ++failures;
}
void say(const std::string& s) { std::cout << s << '\n'; }
std::string euros(std::int64_t cents) {
    return std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") + std::to_string(cents % 100) + " EUR";
}

struct temp_folder {
    std::filesystem::path path;
    temp_folder() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "concord-payments-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
        path = tmpl;
    }
    ~temp_folder() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

// The shop's database: a SQLite file, or a PostgreSQL database (--postgres).
struct on_sqlite {
    template <class E> using store = concord::sqlite_store<E>;
    static void backup(concord::sqlite_database& db, const std::filesystem::path& p) { concord::sqlite_backup(db, p); }
    static void restore(concord::sqlite_database& db, const std::filesystem::path& p) { concord::sqlite_restore(db, p); }
};
#if CONCORD_PAYMENTS_WITH_POSTGRES
struct on_postgres {
    template <class E> using store = concord::postgres_store<E>;
    static void backup(concord::postgres_database& db, const std::filesystem::path& p) { concord::postgres_dump(db, p); }
    static void restore(concord::postgres_database& db, const std::filesystem::path& p) { concord::postgres_restore(db, p); }
};
#endif

} // namespace

template <class On, class Database>
int run(Database& db, const std::filesystem::path& db_path, const std::filesystem::path& backup_path) {
    // --- the world ------------------------------------------------------------------------------
    concord::manual_clock clock;                                    // provider time, moved by hand
    pay::provider bank([&] { return clock.now(); });                // the simulated payment provider
    typename On::template store<invoice> invoices(db, "invoices");  // the shop's database
    typename On::template store<pay::payment_plan> plans(db, "payment_plans");
    typename On::template store<pay::charge> charges(db, "charges");
    concord::file_witness witness(concord::file_witness::beside(db_path));         // outside the restore scope
    concord::file_decision_book decisions(concord::file_decision_book::beside(db_path));
    const concord::owner_tag owner{"shop-42", "payments"};

    auto gw = pay::make_gateway(bank, witness, plans, charges, {.owner = owner});
    gw.use_clock(clock);
    auto plan_src = bank.plans();
    auto charge_src = bank.charges();
    auto plan_sync = concord::make_reconciler<policy>(plans, plan_src, {.owner = owner, .entity_name = "payment_plan"},
                                                      pay::plan_identity{});
    auto charge_sync = concord::make_reconciler<policy>(charges, charge_src, {.owner = owner, .entity_name = "charge"},
                                                        pay::charge_identity{});
    plan_sync.use_decision_book(decisions);
    charge_sync.use_decision_book(decisions);

    // One reconcile: one timeline session for both entity types, then the witness. The gateway's
    // quarantine guards the reconcilers' creates too: a plan or charge row for a quarantined customer
    // is not pushed to the provider until the orphan is resolved.
    concord::report charges_report;
    auto reconcile = [&](bool print) {
        auto session = gw.begin();
        gw.guard_creates(plan_sync, session);
        auto pp = plan_sync.plan(session);
        auto cp = charge_sync.plan(session);
        auto r1 = plan_sync.apply(pp, session);
        gw.guard_creates(charge_sync, session);  // the quarantine as the plans' apply left it
        auto r2 = charge_sync.apply(cp, session);
        gw.commit(session);
        if (print) std::cout << r1.text() << r2.text();
        charges_report = r2;
        return std::pair{pp, cp};
    };

    say("concord payments example: a shop, a payment provider, a backup and a restore.");
    say("Database: " + db_path.string() + "\n");

    // --- 1. everyday work -------------------------------------------------------------------------
    say("1. The shop writes two invoices and charges the first one.");
    invoices.put({0, "ada", "INV-1", 1500});
    invoices.put({0, "bob", "INV-2", 900});
    reconcile(false);  // first reconcile: the database gets its timeline (lineage, generation 1)
    auto inv1 = gw.charge_invoice({0, "ada", "INV-1", 1500});
    say("   charged INV-1 for ada: " + inv1.remote_id + " (" + std::string(pay::to_string(inv1.what)) +
        ", key " + inv1.idempotency_key.substr(0, 20) + "...)");

    // --- 2. backup ------------------------------------------------------------------------------------
    On::backup(db, backup_path);
    say("\n2. The user backs the database up (" + backup_path.filename().string() + ").");

    // --- 3. more work after the backup ------------------------------------------------------------------
    say("\n3. After the backup: two monthly payment plans and the charge of INV-2.");
    auto gym = gw.create_plan({0, "ada", "gym/monthly", 2000, 30 * 24 * 3600});
    auto pool = gw.create_plan({0, "bob", "pool/monthly", 3000, 30 * 24 * 3600});
    auto inv2 = gw.charge_invoice({0, "bob", "INV-2", 900});
    say("   plan " + gym.remote_id + " for ada, plan " + pool.remote_id + " for bob, charge " + inv2.remote_id +
        " for bob; each stamped with owner, identity and its session's generation (" +
        std::to_string(gym.generation) + ", " + std::to_string(pool.generation) + ", " + std::to_string(inv2.generation) + ")");
    auto crm = bank.other_integrator("crm");
    auto crm_plan = crm.create(pay::payment_plan{0, "cat", "crm/newsletter", 500, 30 * 24 * 3600}, {{"owner", "crm"}});
    auto lookalike = crm.create(pay::payment_plan{0, "dan", "gym/monthly", 2000, 30 * 24 * 3600},
                                {{std::string(concord::meta_keys::owner), owner.text()}});
    say("   meanwhile the CRM, on the same provider account, created " + crm_plan.remote_id +
        " (its own tag) and " + lookalike.remote_id + " (a tag that looks like ours, but no identity we can account for)");

    // --- 4. restore ------------------------------------------------------------------------------------
    On::restore(db, backup_path);
    say("\n4. The user restores the backup as an undo. Locally: " + std::to_string(plans.size()) + " plans, " +
        std::to_string(charges.size()) + " charge. At the provider: 2 plans of ours still active, and bob's charge.");

    // --- 5. nothing new until a reconcile has looked -------------------------------------------------------
    say("\n5. The user tries to charge INV-2 again right away:");
    try {
        gw.charge_invoice({0, "bob", "INV-2", 900});
        expect(false, "a charge on a restored database must be refused");
    } catch (const concord::error& e) {
        say("   refused: " + std::string(e.what()));
        expect(e.code() == concord::errc::blocked, "refused with errc::blocked");
    }

    // --- 6. reconcile ----------------------------------------------------------------------------------
    say("\n6. Reconcile. The restore is detected; the orphans are put to the user:");
    auto [pp, cp] = reconcile(true);
    expect(pp.timeline.kind == concord::verdict::restored, "timeline verdict: restored");
    expect(pp.count(concord::case_kind::orphan) == 2, "two orphaned payment plans (still able to take money)");
    expect(pp.count(concord::case_kind::foreign) == 2, "the CRM's two plans are foreign: reported, not touched");
    say("   bob's charge " + inv2.remote_id + " of INV-2 is an orphan too: it took money once; the redo in step 9 will claim it.");
    auto q = gw.current_quarantine();
    for (const auto& e : q.entries())
        say("   quarantined: " + e.customer + " (orphan plan " + e.plan_ids.front() + ", " + e.references.front() + ")");

    // --- 7. quarantine ----------------------------------------------------------------------------------
    say("\n7. While bob's orphan plan is unresolved, charging bob is refused:");
    try {
        gw.charge_invoice({0, "bob", "INV-2", 900});
        expect(false, "a charge for a quarantined customer must be refused");
    } catch (const concord::error& e) {
        say("   refused: " + std::string(e.what()));
        expect(e.code() == concord::errc::blocked && q.blocks("bob"), "bob is quarantined");
    }
    say("   The shop's billing job writes bob's INV-3 into the charges table itself. A reconcile pushes such a");
    say("   row (trust_local), but the quarantine guards the reconcilers too (gateway::guard_creates):");
    charges.put({0, "bob", "INV-3", 450});
    reconcile(false);
    for (const auto& a : charges_report.actions)
        if (a.action == "create_remote") say("   " + a.identity_text + ": " + a.outcome + " [" + a.detail + "]");
    expect(charges_report.failed() == 1 && bank.charges_for("bob", "INV-3") == 0,
           "INV-3 not charged while bob is quarantined (errc::blocked, retried by the next reconcile)");

    // --- 8. the user decides ----------------------------------------------------------------------------
    say("\n8. The user answers: ada's gym plan was meant (import it), bob's pool plan was not (cancel it).");
    for (const auto& d : pp.decisions) {
        const auto& c = pp.cases[d.group];
        const bool keep = c.remote.front().value.customer == "ada";
        const auto choice = keep ? concord::resolution::import_local : concord::resolution::cancel_remote;
        plan_sync.answer(pp, d.id, choice);
        say("   " + c.remote.front().remote_id + " (" + c.remote.front().value.reference + ") -> " +
            std::string(concord::to_string(choice)));
    }
    reconcile(true);
    expect(gw.current_quarantine().empty(), "no customer is quarantined any more");
    expect(bank.get<pay::payment_plan>(pool.remote_id)->state == concord::remote_state::cancelled,
           "bob's orphan plan is cancelled at the provider");
    expect(plans.size() == 1, "ada's plan is back in the database");
    expect(bank.charges_for("bob", "INV-3") == 1, "bob is clear: the same reconcile charged INV-3");

    // --- 9. redo ----------------------------------------------------------------------------------------
    say("\n9. The user redoes the charge of INV-2 (it was undone locally by the restore):");
    auto redo = gw.charge_invoice({0, "bob", "INV-2", 900});
    say("   " + std::string(pay::to_string(redo.what)) + " " + redo.remote_id + ": the provider already held it; no second charge");
    expect(redo.what == pay::how::adopted && redo.remote_id == inv2.remote_id, "the existing charge was adopted");

    // --- 10. a month passes -----------------------------------------------------------------------------
    clock.advance(std::chrono::hours(24 * 31));
    say("\n10. A month passes: ada's plan charges, bob's cancelled plan does not.");
    auto [fp, fc] = reconcile(true);

    // --- end state --------------------------------------------------------------------------------------
    say("\nEnd state (the provider's ledger):");
    auto count = [&](auto pred) {
        std::size_t n = 0;
        for (const auto& l : bank.ledger()) n += !l.refunded && pred(l);
        return n;
    };
    for (const auto& l : bank.ledger())
        say("   " + l.charge_id + "  " + l.customer + "  " + l.reference + "  " + euros(l.amount_cents) +
            (l.plan_id.empty() ? "" : "  (plan " + l.plan_id + ")") + (l.refunded ? "  refunded" : ""));
    expect(bank.charges_for("ada", "INV-1") == 1, "INV-1 charged exactly once");
    expect(bank.charges_for("bob", "INV-2") == 1, "INV-2 charged exactly once (the redo did not charge again)");
    expect(count([&](const pay::ledger_entry& l) { return l.plan_id == gym.remote_id; }) == 1,
           "ada's plan took exactly one month");
    expect(count([&](const pay::ledger_entry& l) { return l.plan_id == pool.remote_id; }) == 0,
           "bob's orphan plan never took money");
    expect(bank.charges_for("bob", "INV-3") == 1, "INV-3 charged exactly once");
    expect(bank.money_taken("ada") == 1500 + 2000 && bank.money_taken("bob") == 900 + 450,
           "ada paid 35.00 EUR, bob 13.50 EUR");
    expect(fp.count(concord::case_kind::orphan) == 0 && fc.count(concord::case_kind::orphan) == 0 &&
               fp.decisions.empty() && fc.decisions.empty(),
           "no orphan, no open decision");
    expect(bank.active_count<pay::payment_plan>(concord::meta_keys::owner, owner.text()) == 2,
           "active plans tagged like ours: ada's, and the CRM's look-alike");
    expect(bank.get<pay::payment_plan>(crm_plan.remote_id)->state == concord::remote_state::active &&
               bank.get<pay::payment_plan>(lookalike.remote_id)->state == concord::remote_state::active &&
               bank.get<pay::payment_plan>(lookalike.remote_id)->meta == lookalike.meta,
           "the CRM's objects are untouched");
    expect(bank.stats().creates == 5, "5 provider creates in all: INV-1, two plans, INV-2, INV-3");

    if (failures) {
        std::cout << "\npayments: " << failures << " check(s) FAILED\n";
        return 1;
    }
    std::cout << "\npayments: OK (money taken exactly once per conceptual charge)\n";
    return 0;
}

int main(int argc, char** argv) try {
    temp_folder dir;
    const auto db_path = dir.path / "shop.db";  // with --postgres: where the witness and decisions live
    const auto backup_path = dir.path / "shop-backup.db";
#if CONCORD_PAYMENTS_WITH_POSTGRES
    if (argc == 3 && std::string(argv[1]) == "--postgres") {
        concord::postgres_database db(argv[2]);
        return run<on_postgres>(db, db_path, backup_path);
    }
#endif
    if (argc != 1) {
        std::cerr << "usage: " << argv[0] << " [--postgres <libpq conninfo of an empty database>]\n";
        return 2;
    }
    concord::sqlite_database db(db_path);
    return run<on_sqlite>(db, db_path, backup_path);
} catch (const std::exception& e) {
    std::cerr << "payments: unexpected error: " << e.what() << '\n';
    return 2;
}
