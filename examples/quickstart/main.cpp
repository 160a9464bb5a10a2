// quickstart: one custom entity, the reference in-memory store and remote, a restore, a reconcile.
//
// A host keeps contacts locally and pushes them to a remote address book. The user backs up, adds a
// contact (pushed), then restores the backup: the remote now holds a contact the local database has
// forgotten (an orphan), which this policy imports back. Then the user restores again and re-types
// the contact by hand (a new database id): concord adopts the remote copy (relinkable) instead of
// creating a second one.

#include <cstdint>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

struct contact {
    BOOST_HANA_DEFINE_STRUCT(contact, (std::int64_t, id), (std::string, email), (std::string, name));
};

int main() {
    concord::memory_store<contact> db;            // the local, restorable database
    concord::memory_remote<contact> book;         // the remote address book
    concord::memory_witness witness;              // outside the restore scope

    // Trust the local database, except for orphans: import those back so nothing done remotely is lost.
    using policy = concord::policy::per_case<concord::policy::trust_local,
                                             concord::policy::case_<concord::orphan, concord::policy::trust_remote>>;
    auto sync = concord::make_reconciler<policy>(
        db, book, {.owner = {"quickstart-host", "addressbook"}, .entity_name = "contact"},
        concord::identity::natural_key<&contact::email>{});

    db.put({0, "ada@example.com", "Ada"});
    auto r1 = sync.reconcile(witness);
    std::cout << "1. first reconcile: " << concord::to_string(r1.timeline) << ", created "
              << book.stats().creates << " remote contact(s)\n";

    auto backup = db.snapshot();                  // the user takes a backup

    db.put({0, "grace@example.com", "Grace"});
    sync.reconcile(witness);
    std::cout << "2. added Grace: remote holds " << book.active_count() << " contacts\n";

    db.restore(backup);                           // ...and restores it as an "undo"
    std::cout << "3. restored the backup: local holds " << db.size() << " contact(s)\n";

    auto session = concord::begin_session(witness, db);
    auto p = sync.plan(session);
    std::cout << "4. plan after restore: timeline " << concord::to_string(p.timeline.kind) << ", orphans "
              << p.count(concord::case_kind::orphan) << ", in_sync " << p.count(concord::case_kind::in_sync) << "\n";
    std::cout << sync.describe(p).text();
    sync.apply(p, session);
    session.commit();
    std::cout << "5. applied: local holds " << db.size() << " contacts, remote creates so far "
              << book.stats().creates << "\n";

    auto again = sync.reconcile(witness);
    std::cout << "6. second reconcile plans " << again.actions.size() << " action(s): "
              << concord::to_string(again.timeline) << "\n";

    db.restore(backup);                           // undo again...
    db.put({0, "grace@example.com", "Grace"});    // ...and the user re-types Grace (new database id)
    auto redo = sync.reconcile(witness);
    std::cout << "7. after restore + redo: relinkable " << redo.counts[static_cast<std::size_t>(concord::case_kind::relinkable)]
              << ", remote creates still " << book.stats().creates << "\n";
    std::cout << redo.text();

    const bool ok = db.size() == 2 && book.stats().creates == 2 && again.actions.empty() &&
                    redo.counts[static_cast<std::size_t>(concord::case_kind::relinkable)] == 1 &&
                    sync.reconcile(witness).actions.empty();
    std::cout << (ok ? "quickstart: OK" : "quickstart: FAILED") << "\n";
    return ok ? 0 : 1;
}
