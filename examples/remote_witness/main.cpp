// remote_witness: a witness that a restore of the user's folder cannot rewind.
//
// concord notices a restore by comparing the checkpoint kept *inside* the database with a witness
// kept *outside* the restore scope. The usual witness is a file beside the database
// (concord::file_witness): restoring the database file leaves it alone. But users also restore their
// whole folder (a home-folder backup), or carry a backup to a new machine. Then the witness file
// comes back as old as the database, or does not come back at all, and the restore goes unnoticed.
//
// concord::remote_witness keeps the same record in the metadata of small marker objects on the
// remote (created, then cancelled at once so they can never act). The remote is never restored with
// the host, so after any restore it still remembers the last generation this installation committed.
//
// The same week runs twice on a real SQLite file and a simulated provider, once per witness:
//   reconcile INV-1, back up the folder, add INV-2 and INV-3 and reconcile (both pushed),
//   restore the folder, the user re-types INV-2, concord starts again.
// Act 1 (file witness): the witness agrees with the restored database, so INV-3 is an orphan nothing
//   explains and the lost generation number would be issued again.
// Act 2 (remote witness): the verdict is `restored`; INV-3 is cancelled as work the restore undid,
//   the re-typed INV-2 is adopted, and nothing is created twice.
//
// Every step checks what it shows; the program exits non-zero if any check fails.

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include <unistd.h>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/remote_witness.hpp>
#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents));
};

namespace fs = std::filesystem;
using provider_t = concord::memory_remote<invoice>;  // the payment provider: never restored
using invoice_identity = concord::identity::natural_key<&invoice::customer, &invoice::number>;

// Undo on the provider what a *detected* restore undid locally. An orphan nothing explains (it may
// be work done elsewhere) is put to the user instead. Everything else: trust the local database.
struct undo_restored_work {
    template <class E>
    concord::resolution decide(const concord::classified<E>& c, const concord::timeline_status& t) const {
        if (c.kind == concord::case_kind::orphan)
            return c.from_lost_generation ? concord::resolution::cancel_remote : concord::resolution::ask;
        return concord::policy::trust_local{}.decide(c, t);
    }
};

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
    std::cout << (ok ? "   ok: " : "   FAILED: ") << what << "\n";
    if (!ok) ++failures;
}

void print_indented(const std::string& text) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) std::cout << "   | " << line << "\n";
}

void print_verdict(const concord::timeline_status& st) {
    std::cout << "   verdict: " << concord::to_string(st.kind) << " -- " << st.detail << "\n";
}

// A folder backup as a backup tool takes it: the database through SQLite's online backup API, every
// other file (the witness file among them) copied as it is.
void backup_folder(concord::sqlite_database& db, const fs::path& to) {
    fs::create_directories(to);
    concord::sqlite_backup(db, to / db.path().filename());
    for (const auto& f : fs::directory_iterator(db.path().parent_path()))
        if (f.is_regular_file() && f.path() != db.path())
            fs::copy_file(f.path(), to / f.path().filename(), fs::copy_options::overwrite_existing);
}

// ...and restores it: the database into the open connection, the other files copied back over.
void restore_folder(concord::sqlite_database& db, const fs::path& from) {
    concord::sqlite_restore(db, from / db.path().filename());
    for (const auto& f : fs::directory_iterator(from))
        if (f.is_regular_file() && f.path().filename() != db.path().filename())
            fs::copy_file(f.path(), db.path().parent_path() / f.path().filename(),
                          fs::copy_options::overwrite_existing);
}

// The witness whose markers a tally leaves out: a remote_witness has them, a file witness has none.
using markers_t = concord::remote_witness<provider_t>;
const markers_t* markers_of(const markers_t& w) { return &w; }
template <class W>
const markers_t* markers_of(const W&) { return nullptr; }

// What the provider holds, witness markers apart.
struct provider_tally {
    std::size_t markers = 0;
    std::size_t active_markers = 0;
    std::size_t invoices_created = 0;
    std::size_t invoices_active = 0;
    std::map<std::string, std::size_t> objects_per_number;
};

provider_tally tally(const provider_t& provider, const markers_t* witness) {
    provider_tally t;
    for (const auto& r : provider.all()) {
        const bool active = r.state == concord::remote_state::active;
        if (witness && witness->is_marker(r)) {
            ++t.markers;
            t.active_markers += active;
        } else {
            ++t.invoices_created;
            t.invoices_active += active;
            ++t.objects_per_number[r.value.number];
        }
    }
    return t;
}

const concord::classified<invoice>* find_case(const concord::plan<invoice>& p, concord::case_kind k) {
    for (const auto& c : p.cases)
        if (c.kind == k) return &c;
    return nullptr;
}

struct week {
    std::uint64_t backed_up = 0;  ///< checkpoint generation in the backup
    std::uint64_t latest = 0;     ///< checkpoint generation the restore threw away
};

// The user's week, the same in both acts; only the witness differs.
template <class Sync, class Witness>
week live_a_week(concord::sqlite_database& db, concord::sqlite_store<invoice>& invoices, Sync& sync, Witness& witness,
                 const fs::path& backup) {
    week w;
    invoices.put({0, "acme", "INV-1", 1200});
    auto r = sync.reconcile(witness);
    std::cout << "   INV-1 added and reconciled (" << concord::to_string(r.timeline) << ", generation " << r.generation
              << ")\n";

    backup_folder(db, backup);
    w.backed_up = invoices.load_checkpoint()->generation;
    std::cout << "   the whole folder backed up at generation " << w.backed_up << "\n";

    invoices.put({0, "acme", "INV-2", 5000});
    invoices.put({0, "globex", "INV-3", 700});
    r = sync.reconcile(witness);
    w.latest = invoices.load_checkpoint()->generation;
    std::cout << "   INV-2 and INV-3 added and reconciled (generation " << w.latest << "): the provider holds "
              << tally(sync.remote(), markers_of(witness)).invoices_active << " live invoices\n";

    restore_folder(db, backup);
    std::cout << "   the user restores the folder: the database holds " << invoices.size() << " invoice(s) again\n";
    const auto retyped = invoices.put({0, "acme", "INV-2", 5000});
    std::cout << "   the user re-types INV-2 (database id " << retyped << ")\n";
    return w;
}

} // namespace

int main() try {
    const fs::path dir = fs::temp_directory_path() / ("concord-remote-witness-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const concord::reconciler_options options{.owner = {"shop-42", "billing"}, .entity_name = "invoice"};

    std::cout << "Act 1: the witness is a file beside the database (concord::file_witness)\n";
    concord::verdict file_verdict{};
    {
        fs::create_directories(dir / "act1" / "home");
        concord::sqlite_database db(dir / "act1" / "home" / "shop.db");
        concord::sqlite_store<invoice> invoices(db, "invoices");
        provider_t provider;
        concord::file_witness witness(concord::file_witness::beside(db.path()));
        auto sync = concord::make_reconciler<undo_restored_work>(invoices, provider, options, invoice_identity{});

        const week w = live_a_week(db, invoices, sync, witness, dir / "act1" / "backup");

        std::cout << "1a. concord starts again; the witness file came back from the backup with the database\n";
        auto session = concord::begin_session(witness, invoices);
        print_verdict(session.status());
        file_verdict = session.kind();
        expect(session.kind() == concord::verdict::same_timeline,
               "the restored witness agrees with the restored database: the restore goes unnoticed");
        auto p = sync.plan(session);  // a dry run: this act changes nothing
        print_indented(sync.describe(p).text());
        const auto* orphan = find_case(p, concord::case_kind::orphan);
        expect(p.count(concord::case_kind::orphan) == 1 && orphan && !orphan->from_lost_generation,
               "INV-3 is an orphan, but nothing says a restore undid it");
        expect(p.decisions.size() == 1,
               "so the policy cannot undo it: the user is asked about work they already undid");
        expect(p.timeline.generation > w.backed_up && p.timeline.generation <= w.latest,
               "this session would issue generation " + std::to_string(p.timeline.generation) +
                   " again, a number the lost work already carries");

        std::cout << "1b. a new machine: the folder restored without the witness file\n";
        fs::remove(witness.path());
        auto fresh = concord::begin_session(witness, invoices);
        print_verdict(fresh.status());
        expect(fresh.kind() == concord::verdict::witness_behind, "a missing witness is repaired, not a restore either");
        auto p2 = sync.plan(fresh);
        const auto* orphan2 = find_case(p2, concord::case_kind::orphan);
        expect(orphan2 && !orphan2->from_lost_generation, "INV-3 is still an orphan nothing explains");
    }

    std::cout << "Act 2: the witness lives on the provider (concord::remote_witness)\n";
    concord::timeline_status remote_status;
    provider_tally final_tally;
    {
        fs::create_directories(dir / "act2" / "home");
        concord::sqlite_database db(dir / "act2" / "home" / "shop.db");
        concord::sqlite_store<invoice> invoices(db, "invoices");
        provider_t provider;
        concord::remote_witness<provider_t> witness(provider, options.owner);
        auto sync = concord::make_reconciler<undo_restored_work>(invoices, provider, options, invoice_identity{});

        const week w = live_a_week(db, invoices, sync, witness, dir / "act2" / "backup");
        const auto before = tally(provider, &witness);
        std::cout << "   meanwhile the provider holds " << before.markers << " witness markers (" << witness.saves()
                  << " witness saves), " << before.active_markers << " of them active\n";
        expect(before.markers == witness.saves() && before.active_markers == 0,
               "one marker per save, cancelled at once: markers can never act");

        std::cout << "2a. concord starts again (a new process, or a new machine: only the restored folder is local)\n";
        concord::remote_witness<provider_t> remote(provider, options.owner);  // a cold start reads the provider
        auto session = concord::begin_session(remote, invoices);
        remote_status = session.status();
        print_verdict(remote_status);
        expect(session.kind() == concord::verdict::restored, "the provider testifies: restored");
        expect(remote_status.lost_from == w.backed_up + 1 && remote_status.lost_to == w.latest,
               "the generations committed after the backup are reported lost");
        expect(remote_status.generation > w.latest, "this session commits generation " +
                                                        std::to_string(remote_status.generation) +
                                                        ": a lost number is never issued again");

        auto p = sync.plan(session);
        print_indented(sync.describe(p).text());
        const auto* orphan = find_case(p, concord::case_kind::orphan);
        expect(p.count(concord::case_kind::orphan) == 1 && orphan && orphan->from_lost_generation,
               "INV-3 is an orphan created by a generation the restore lost");
        expect(p.count(concord::case_kind::relinkable) == 1, "the re-typed INV-2 matches the object already pushed");
        expect(p.count(concord::case_kind::foreign) == 0 && p.problems.empty(),
               "the witness markers are neither classified nor reported");
        expect(p.decisions.empty(), "nothing needs the user");

        std::cout << "2b. apply the plan\n";
        const auto applied = sync.apply(p, session);
        session.commit();
        print_indented(applied.text());
        expect(applied.failed() == 0, "every action done");

        final_tally = tally(provider, &witness);
        bool each_once = !final_tally.objects_per_number.empty();
        for (const auto& [number, objects] : final_tally.objects_per_number) each_once = each_once && objects == 1;
        bool inv3_cancelled = false;
        for (const auto& r : provider.all())
            if (!witness.is_marker(r) && r.value.number == "INV-3")
                inv3_cancelled = r.state == concord::remote_state::cancelled;
        std::cout << "   the provider created " << final_tally.invoices_created << " invoice objects for "
                  << final_tally.objects_per_number.size() << " invoice numbers; " << final_tally.invoices_active
                  << " are live, the database holds " << invoices.size() << "\n";
        expect(each_once, "nothing was created twice (INV-2 was adopted, not pushed again)");
        expect(inv3_cancelled, "INV-3 was cancelled: an invoice the user undid can no longer be paid");
        expect(final_tally.invoices_active == invoices.size(), "the provider holds exactly what the database holds");

        const auto again = sync.reconcile(remote);
        std::cout << "2c. the next reconcile: " << concord::to_string(again.timeline) << ", " << again.actions.size()
                  << " action(s)\n";
        expect(again.timeline == concord::verdict::same_timeline && again.actions.empty(), "settled");
    }
    fs::remove_all(dir);

    if (failures != 0) {
        std::cout << failures << " check(s) failed\nremote_witness: FAILED\n";
        return EXIT_FAILURE;
    }
    std::cout << "remote_witness: OK (file witness: " << concord::to_string(file_verdict)
              << ", remote witness: " << concord::to_string(remote_status.kind) << ", " << remote_status.detail
              << "; "
              << final_tally.invoices_created << " invoice objects created, one per invoice, "
              << final_tally.invoices_active << " live)\n";
    return EXIT_SUCCESS;
} catch (const std::exception& e) {
    std::cout << "error: " << e.what() << "\nremote_witness: FAILED\n";
    return EXIT_FAILURE;
}
