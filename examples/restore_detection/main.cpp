// restore_detection: how concord notices that a real SQLite database was restored.
//
// A host keeps invoices in an SQLite file and pushes them to a remote. concord keeps a checkpoint
// (lineage id, generation, cursors) *inside* the database and a witness file *beside* it. A backup
// restore rewinds the first but not the second; comparing them gives one of five verdicts:
//
//   1. first_run           nothing recorded yet
//   2. same_timeline       checkpoint and witness agree
//   3. restored            the checkpoint is older than the witness: generations in between are lost
//   4. witness_behind      the witness is older (deleted, restored, or a crash before it was written)
//   5. different_database  another database file was put in place of this one
//
// Every step asserts what it shows; the program exits non-zero if any verdict is not the expected one.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <unistd.h>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents));
};

namespace fs = std::filesystem;

static int failures = 0;

static void expect(bool ok, const std::string& what) {
    std::cout << (ok ? "   ok: " : "   FAILED: ") << what << "\n";
    if (!ok) ++failures;
}

int main() {
    const fs::path dir = fs::temp_directory_path() / ("concord-restore-detection-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path db_path = dir / "shop.db";

    concord::memory_remote<invoice> remote;  // the payment provider: never restored
    int verdicts_seen = 0;
    {
        concord::sqlite_database db(db_path);
        concord::sqlite_store<invoice> invoices(db, "invoices");
        concord::file_witness witness(concord::file_witness::beside(db_path));  // outside the restore scope
        auto sync = concord::make_reconciler<concord::policy::trust_local>(
            invoices, remote, {.owner = {"shop-42", "billing"}, .entity_name = "invoice"},
            concord::identity::natural_key<&invoice::customer, &invoice::number>{});

        std::cout << "1. A new database, never reconciled\n";
        invoices.put({0, "acme", "INV-1", 1200});
        auto r = sync.reconcile(witness);
        std::cout << "   verdict: " << concord::to_string(r.timeline) << " -- " << r.timeline_detail << "\n";
        expect(r.timeline == concord::verdict::first_run, "first_run");
        verdicts_seen += r.timeline == concord::verdict::first_run;

        std::cout << "2. Nothing happened to the file since\n";
        r = sync.reconcile(witness);
        std::cout << "   verdict: " << concord::to_string(r.timeline) << " -- " << r.timeline_detail << "\n";
        expect(r.timeline == concord::verdict::same_timeline, "same_timeline");
        verdicts_seen += r.timeline == concord::verdict::same_timeline;

        std::cout << "3. Backup, more work, then the user restores the backup (into the open connection)\n";
        concord::sqlite_backup(db, dir / "monday.db");
        const auto backup_generation = invoices.load_checkpoint()->generation;
        invoices.put({0, "acme", "INV-2", 5000});
        invoices.put({0, "globex", "INV-3", 700});
        sync.reconcile(witness);
        const auto latest_generation = invoices.load_checkpoint()->generation;
        std::cout << "   remote holds " << remote.active_count() << " invoices, checkpoint generation "
                  << invoices.load_checkpoint()->generation << "\n";
        concord::sqlite_restore(db, dir / "monday.db");
        auto session = concord::begin_session(witness, invoices);
        const auto& st = session.status();
        std::cout << "   verdict: " << concord::to_string(st.kind) << " -- " << st.detail << "\n";
        expect(st.kind == concord::verdict::restored, "restored");
        expect(st.lost_from == backup_generation + 1 && st.lost_to == latest_generation,
               "the generations committed after the backup are reported lost");
        verdicts_seen += st.kind == concord::verdict::restored;
        auto p = sync.plan(session);
        std::cout << sync.describe(p).text();
        expect(p.count(concord::case_kind::orphan) == 2, "the two invoices pushed after the backup are orphans");
        sync.apply(p, session);
        session.commit();
        expect(remote.active_count() == 1, "trust_local cancelled them: the remote matches the restored database");

        std::cout << "4. The witness file was deleted (or a crash hit between the store commit and the witness write)\n";
        fs::remove(witness.path());
        r = sync.reconcile(witness);
        std::cout << "   verdict: " << concord::to_string(r.timeline) << " -- " << r.timeline_detail << "\n";
        expect(r.timeline == concord::verdict::witness_behind, "witness_behind");
        expect(witness.load() && witness.load()->generation == invoices.load_checkpoint()->generation,
               "the witness was repaired from the checkpoint");
        verdicts_seen += r.timeline == concord::verdict::witness_behind;

        std::cout << "5. The user opens another shop's database in place of this one (close, copy, reopen)\n";
        {
            concord::sqlite_database other(dir / "other-shop.db");
            concord::sqlite_store<invoice> other_invoices(other, "invoices");
            other_invoices.put({0, "initech", "INV-9", 300});
            concord::change_batch<invoice> first;  // that database has its own history
            first.new_checkpoint = concord::checkpoint{concord::new_lineage_id(), 4, {}};
            other_invoices.commit(first);
        }
        db.close();
        fs::copy_file(dir / "other-shop.db", db_path, fs::copy_options::overwrite_existing);
        db.reopen();
        auto s5 = concord::begin_session(witness, invoices);
        std::cout << "   verdict: " << concord::to_string(s5.kind()) << " -- " << s5.status().detail << "\n";
        expect(s5.kind() == concord::verdict::different_database, "different_database");
        auto p5 = sync.plan(s5);
        bool destructive = false;
        for (const auto& a : p5.actions) destructive = destructive || a.kind == concord::action_kind::cancel_remote;
        expect(!destructive, "no remote object is cancelled without the user's consent");
        expect(p5.decisions.size() == 1, "the acme invoice becomes a question for the user instead");
        verdicts_seen += s5.kind() == concord::verdict::different_database;
    }
    fs::remove_all(dir);
    if (failures == 0 && verdicts_seen == 5) {
        std::cout << "all five verdicts seen\n";
        return EXIT_SUCCESS;
    }
    std::cout << failures << " check(s) failed\n";
    return EXIT_FAILURE;
}
