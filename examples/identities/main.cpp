// identities: the identity policy decides whether redoing undone work after a restore charges twice.
//
// The article concord comes from: users restore their database as an "undo" and then redo some of the
// undone work. "If the user then chooses to recreate some entity that was interacting with the third
// party service, there is no guarantee that its identity will be the same, even if it represents the
// same conceptual thing. For example, IDs generated at the database level might differ based on the
// order of operations."
//
// The same story runs once per identity policy, against the in-memory reference database and provider:
//   1. acme's invoice N-1 exists and is charged. The user takes a backup.
//   2. The user issues invoice acme/N-2 (database id 2); concord creates its charge.
//   3. The user restores the backup: N-2 is gone locally, its charge is still at the provider.
//   4. The user redoes the day's work in another order: first a new invoice globex/G-7, which gets the
//      id the restore freed (2), then acme/N-2 again, which now gets id 3.
//   5. concord reconciles.
//
// With surrogate_id (identity = database id), id 3 looks like a new invoice: a policy that acted would
// charge acme/N-2 a second time, under a new idempotency key the provider cannot match, and hand N-2's
// charge to globex/G-7, which now has id 2. Those are the two failures in docs/idempotency.md. concord
// knows the identity proves nothing across a restore (stable_across_restores = false), so it does not
// act on such cases: it puts them to the user and reports an errc::unstable_identity problem. Nothing is
// charged twice, but the user must settle what a stable identity settles alone.
// natural_key<customer, number> and client_token<token> recognise the redo as the same invoice:
// relinkable, adopted, charged once, nothing asked.
//
// The client token is generated once, when the user first issues the invoice, and travels with the
// invoice outside the database (here, the document the user types in again). A token generated again
// for the redo would make a new entity, like any random key ("Why random keys fail" in that page).
//
// The program checks every outcome below and exits 1 if one is not what the text says.

#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/cases.hpp>
#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/plan_view.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents), (std::string, token));
};

namespace {

// Create what the provider lacks, but never cancel or overwrite on our own: orphans and content
// mismatches become questions. Nothing is then hidden by a cancel, so the provider's objects show
// exactly what each identity policy made concord create.
using policy = concord::policy::per_case<concord::policy::trust_local,
                                         concord::policy::case_<concord::orphan, concord::policy::ask_user>,
                                         concord::policy::case_<concord::diverged, concord::policy::ask_user>>;

std::string label(const invoice& i) { return i.customer + "/" + i.number; }
// "The same invoice" as the user means it; used only to count, never by concord.
bool same_invoice(const invoice& a, const invoice& b) { return a.customer == b.customer && a.number == b.number; }

// What the user types in. Each is made once, token included, and typed in again for the redo.
struct documents {
    invoice n1, n2, g7;
};

// One run of the story, as the library reported it.
struct outcome {
    std::string_view policy;
    bool stable = false;              // Identity::stable_across_restores
    std::size_t n2_charges = 0;       // provider objects holding acme/N-2
    std::size_t creates = 0;          // objects the provider created over the whole story
    std::string first_charge;         // acme/N-2's charge from step 2
    std::vector<std::string> n2_keys; // idempotency keys of acme/N-2's creates
    std::string redo_case, other_case;     // case of the redone acme/N-2 and of globex/G-7 after the redo
    std::string redo_charge, other_charge; // the charge each one is linked to afterwards
    std::size_t decisions = 0, problems = 0;
    std::string problem;              // the first problem of the plan, "<errc name>: <message>"
    bool settled = false;             // the next reconcile has nothing to do and nothing to ask
};

// reconcile(), spelt out: the plan is kept so that its cases and actions can be read.
template <class Sync>
auto reconcile_keeping_plan(Sync& sync, concord::memory_witness& witness) {
    auto session = concord::begin_session(witness, sync.store());
    auto p = sync.plan(session);
    auto rep = sync.apply(p, session);
    session.commit();
    return std::pair{std::move(p), std::move(rep)};
}

// The idempotency keys of the creates of `which` in an applied plan (report actions follow plan order).
void note_creates(const concord::plan<invoice>& p, const concord::report& rep, const invoice& which,
                  std::vector<std::string>& keys) {
    for (std::size_t i = 0; i < p.actions.size(); ++i)
        if (p.actions[i].kind == concord::action_kind::create_remote && same_invoice(*p.actions[i].value, which))
            keys.push_back(rep.actions[i].idempotency_key);
}

// The remote id the store links to the identity of local entity `local_id`, or "none".
template <class Sync>
std::string linked_charge(const Sync& sync, const concord::memory_store<invoice>& db, std::int64_t local_id) {
    const auto e = db.get(local_id);
    if (!e) return "none";
    const auto id = sync.identity().key(*e);
    for (const auto& l : db.links())
        if (l.identity == id) return l.remote_id;
    return "none";
}

std::string case_line(const concord::classified<invoice>& c) {
    std::string s = std::string(concord::to_string(c.kind)) + "  [" + c.identity_text + "]";
    if (c.local) s += "  local " + label(*c.local) + " (id " + std::to_string(c.local->id) + ")";
    for (const auto& r : c.remote) s += "  remote " + r.remote_id + " " + label(r.value);
    if (!c.fields.empty()) {
        s += "  differs in";
        for (const auto& f : c.fields) s += " " + f;
    }
    return s;
}

template <class Identity>
outcome run(std::string_view name, const documents& doc) {
    concord::memory_store<invoice> db;        // the local, restorable database
    concord::memory_remote<invoice> provider; // the payment provider
    concord::memory_witness witness;          // outside the restore scope
    auto sync = concord::make_reconciler<policy>(
        db, provider, {.owner = {"identities-host", "billing"}, .entity_name = "invoice"}, Identity{});

    outcome out;
    out.policy = name;
    out.stable = Identity::stable_across_restores;
    std::cout << "--- " << name << " (stable_across_restores = " << std::boolalpha << out.stable << ")\n";

    db.put(doc.n1);                           // 1. N-1 charged, then a backup
    sync.reconcile(witness);
    const auto backup = db.snapshot();

    const auto n2_first_id = db.put(doc.n2);  // 2. N-2 issued and charged
    {
        const auto [p, rep] = reconcile_keeping_plan(sync, witness);
        note_creates(p, rep, doc.n2, out.n2_keys);
        for (const auto& a : rep.actions)
            if (a.action == concord::to_string(concord::action_kind::create_remote)) out.first_charge = a.remote_id;
    }
    std::cout << "  2. issued " << label(doc.n2) << " as id " << n2_first_id << ", charged as " << out.first_charge << "\n";

    db.restore(backup);                       // 3. the undo
    const auto g7_id = db.put(doc.g7);        // 4. the redo, in another order
    const auto n2_redo_id = db.put(doc.n2);
    std::cout << "  3-4. restored; then " << label(doc.g7) << " got id " << g7_id << " and the redone "
              << label(doc.n2) << " id " << n2_redo_id << "\n";

    {                                         // 5. the reconcile after the redo
        const auto [p, rep] = reconcile_keeping_plan(sync, witness);
        std::cout << "  5. plan after the redo (timeline " << concord::to_string(p.timeline.kind) << "):\n";
        for (const auto k : concord::all_cases) {
            if (k == concord::case_kind::in_sync) continue;  // only counted, never listed
            for (const auto& c : concord::cases_of(p, k)) {
                std::cout << "     " << case_line(c) << "\n";
                if (!c.local) continue;
                if (c.local->id == n2_redo_id) out.redo_case = concord::to_string(c.kind);
                if (c.local->id == g7_id) out.other_case = concord::to_string(c.kind);
            }
        }
        note_creates(p, rep, doc.n2, out.n2_keys);
        out.decisions = p.decisions.size();
        out.problems = p.problems.size();
        if (!p.problems.empty())
            out.problem = std::string(concord::to_string(p.problems[0].code)) + ": " + p.problems[0].message;
        for (const auto& d : p.decisions) {  // the whole summary is in d.summary; the gist is enough here
            const auto& c = p.cases[d.group];
            std::cout << "     question (" << concord::to_string(d.kind) << "): local "
                      << (c.local ? label(*c.local) : "none") << " vs remote "
                      << (c.remote.empty() ? "none" : c.remote.front().remote_id + " " + label(c.remote.front().value))
                      << "; options:";
            for (const auto& o : d.options) std::cout << " " << concord::to_string(o.choice);
            std::cout << "\n";
        }
    }

    out.redo_charge = linked_charge(sync, db, n2_redo_id);
    out.other_charge = linked_charge(sync, db, g7_id);
    for (const auto& r : provider.all()) out.n2_charges += same_invoice(r.value, doc.n2);
    out.creates = provider.stats().creates;
    const auto again = sync.reconcile(witness);
    out.settled = again.actions.empty() && again.decisions.empty();

    std::cout << "  acme/N-2 create keys:";
    for (const auto& k : out.n2_keys) std::cout << " " << k.substr(0, 20) << "...";
    std::cout << "\n";
    if (!out.problem.empty()) std::cout << "  problem: " << out.problem << "\n";
    return out;
}

} // namespace

int main() {
    // Each invoice is made once; the token when the user first issues it, never from a database id.
    const documents doc{{0, "acme", "N-1", 12'000, concord::new_client_token()},
                        {0, "acme", "N-2", 25'000, concord::new_client_token()},
                        {0, "globex", "G-7", 9'900, concord::new_client_token()}};

    const std::vector<outcome> runs{
        run<concord::identity::surrogate_id>("surrogate_id", doc),
        run<concord::identity::natural_key<&invoice::customer, &invoice::number>>("natural_key", doc),
        run<concord::identity::client_token<&invoice::token>>("client_token", doc),
    };

    std::cout << "\n" << std::left << std::setw(14) << "policy" << std::setw(8) << "stable" << std::setw(18)
              << "acme/N-2 charges" << std::setw(9) << "creates" << std::setw(30) << "redone acme/N-2 -> charge"
              << "globex/G-7 -> charge\n";
    for (const auto& r : runs)
        std::cout << std::setw(14) << r.policy << std::setw(8) << (r.stable ? "yes" : "no") << std::setw(18)
                  << r.n2_charges << std::setw(9) << r.creates << std::setw(30)
                  << (r.redo_case + " -> " + r.redo_charge) << r.other_case << " -> " << r.other_charge
                  << (r.decisions ? "  (" + std::to_string(r.decisions) + " questions open)" : "") << "\n";

    // surrogate_id: the cases where the article's bug would happen (the redo looks new, globex's invoice
    // matches N-2's charge) are put to the user instead: nothing charged twice, nothing linked, both asked.
    const auto& bad = runs[0];
    bool ok = bad.n2_charges == 1 && bad.n2_keys.size() == 1 && bad.redo_case == "local_only" &&
              bad.redo_charge == "none" && bad.other_case == "relinkable" && bad.other_charge == "none" &&
              bad.decisions == 2 && bad.problems == 1 && bad.problem.rfind("unstable_identity: ", 0) == 0 &&
              !bad.settled;
    // natural_key and client_token: the redo adopts the first charge, globex gets its own, nothing is asked.
    for (std::size_t i = 1; i < runs.size(); ++i) {
        const auto& r = runs[i];
        ok = ok && r.n2_charges == 1 && r.n2_keys.size() == 1 && r.redo_case == "relinkable" &&
             r.redo_charge == r.first_charge && r.other_case == "local_only" && r.other_charge != "none" &&
             r.other_charge != r.first_charge && r.decisions == 0 && r.problems == 0 && r.settled;
    }

    if (!ok) {
        std::cout << "identities: FAILED\n";
        return 1;
    }
    std::cout << "identities: OK (acme/N-2 charged " << bad.n2_charges << " time(s) under " << bad.policy
              << ", which left " << bad.decisions << " questions to the user; " << runs[1].n2_charges << " under "
              << runs[1].policy << " and " << runs[2].n2_charges << " under " << runs[2].policy
              << ", settled alone)\n";
    return 0;
}
