// ask_user: a terminal prompt settles what the library must not decide alone.
//
// A host keeps subscriptions locally and mirrors them to a billing provider. The user backs up,
// signs two customers up (pushed: one is a plan that can take money), then restores the backup.
// The provider now holds two subscriptions the local database has forgotten: orphans. The policy
// trusts the local database for everything except orphans, which it puts to the user.
//
// Run it interactively (answers from the keyboard) or with a file of scripted answers:
//     ask_user                 # reads answers from stdin
//     ask_user answers.txt     # reads answers from the file (what its test does)

#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/prompt.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

struct subscription {
    BOOST_HANA_DEFINE_STRUCT(subscription, (std::int64_t, id), (std::string, customer), (std::string, plan),
                             (std::int64_t, cents));
};

int main(int argc, char** argv) {
    std::ifstream script;
    if (argc > 1) {
        script.open(argv[1]);
        if (!script) {
            std::cerr << "cannot open " << argv[1] << '\n';
            return 2;
        }
    }
    std::istream& answers = argc > 1 ? static_cast<std::istream&>(script) : std::cin;

    concord::memory_store<subscription> db;
    concord::memory_remote<subscription> billing;
    concord::memory_witness witness;
    concord::memory_decision_book book;  // a real host keeps answers in a file_decision_book

    using policy = concord::policy::per_case<concord::policy::trust_local,
                                             concord::case_<concord::orphan, concord::policy::ask_user>>;
    auto sync = concord::make_reconciler<policy>(db, billing, {.owner = {"host-1", "billing"}, .entity_name = "subscription"},
                                                 concord::identity::natural_key<&subscription::customer>{});
    sync.use_decision_book(book);

    db.put({0, "ada", "basic", 900});
    sync.reconcile(witness);
    auto backup = db.snapshot();
    db.put({0, "grace", "pro", 2900});      // a plan that charges every month
    billing.set_takes_money(true);
    sync.reconcile(witness);
    billing.set_takes_money(false);
    db.put({0, "linus", "trial", 0});      // a free trial
    sync.reconcile(witness);
    db.restore(backup);                    // undo: grace and linus are gone locally, not at the provider
    std::cout << "restored the backup: local " << db.size() << " subscription(s), provider " << billing.active_count()
              << " active\n";

    auto session = concord::begin_session(witness, db);
    auto p = sync.plan(session);
    std::cout << sync.describe(p).text();

    concord::terminal_prompt prompt(answers, std::cout);
    const auto answered = sync.answer_all(p, prompt);
    std::cout << "\nanswered " << answered << " of " << p.decisions.size() << " decision(s)\n";

    auto settled = sync.plan(session);     // the answers are in the book: plan again and apply
    auto rep = sync.apply(settled, session);
    session.commit();
    std::cout << rep.text();

    auto again = sync.reconcile(witness);
    std::cout << "local " << db.size() << ", provider active " << billing.active_count() << ", open decisions "
              << again.decisions.size() << ", next reconcile plans " << again.actions.size() << " action(s)\n";

    // The scripted answers cancel linus's trial and import grace's paying plan back.
    bool grace_back = false;
    for (const auto& s : db.scan()) grace_back |= s.customer == "grace";
    const bool ok = grace_back && answered == 2 && db.size() == 2 && billing.active_count() == 2 && billing.stats().cancels == 1 &&
                    again.actions.empty() && again.decisions.empty();
    std::cout << (ok ? "OK" : "UNEXPECTED END STATE") << '\n';
    return ok ? 0 : 1;
}
