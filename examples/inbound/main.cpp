// inbound: a shipping service reads the host's orders and creates labels that flow back. The host
// pulls them incrementally by cursor ("next N with seq > X"). The user restores a backup taken
// before order A-3 existed; the label the service made for A-3 now refers to an order that is gone:
// concord classifies it stale_inbound and, as the seed says, confirms with the user before
// discarding it (ask_user). Labels whose orders survived the restore are kept.
//
// The host database is a real SQLite file (orders and labels), restored with SQLite's backup API;
// the witness and the user's answers live beside it, outside the restore scope.

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/decisions.hpp>
#include <concord/identity.hpp>
#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::int64_t, id), (std::string, number), (std::string, address));
};
struct label {
    BOOST_HANA_DEFINE_STRUCT(label, (std::int64_t, id), (std::string, order_number), (std::string, carrier),
                             (std::string, tracking));
};

int main() {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "concord-example-inbound";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path file = dir / "shop.db";

    concord::sqlite_database db(file);
    concord::sqlite_store<order> orders(db, "orders");
    concord::sqlite_store<label> labels(db, "labels");
    concord::file_witness witness(concord::file_witness::beside(file));
    concord::file_decision_book answers(concord::file_decision_book::beside(file));
    concord::memory_remote<label> service;  // the shipping service (a third party)

    // Trust the host for everything, but put stale labels to the user first.
    using policy = concord::policy::per_case<concord::policy::trust_local,
                                             concord::policy::case_<concord::stale_inbound, concord::policy::ask_user>>;
    auto sync = concord::make_reconciler<policy>(
        labels, service,
        {.owner = {"shop-1", "shipping"}, .entity_name = "label", .page_size = 2, .inbound = true},
        concord::identity::natural_key<&label::tracking>{});
    sync.use_decision_book(answers);
    sync.set_reference_check([&](const label& l) {  // a label refers to its order
        for (const auto& o : orders.scan())
            if (o.number == l.order_number) return true;
        return false;
    });
    concord::inbound::puller pull(sync);

    auto ship = [&](const std::string& number) {  // the service reads an order and makes a label
        return service.put_external({0, number, "post", "TRK-" + number}).remote_id;
    };

    orders.put({0, "A-1", "1 Main St"});
    orders.put({0, "A-2", "2 Side St"});
    ship("A-1");
    ship("A-2");
    auto r1 = pull.pull(witness);
    std::cout << "1. first pull: " << labels.size() << " labels imported, " << r1.listing.calls << " calls, "
              << r1.listing.rows << " rows, cursor " << *r1.cursor_after << "\n";

    const fs::path backup = dir / "shop-backup.db";
    concord::sqlite_backup(db, backup);
    std::cout << "2. backup taken\n";

    orders.put({0, "A-3", "3 Hill Rd"});
    const auto stale_label = ship("A-3");
    auto r2 = pull.pull(witness);
    std::cout << "3. order A-3 and its label: pull read " << r2.listing.rows << " row(s), " << labels.size()
              << " labels, cursor " << *r2.cursor_after << "\n";

    concord::sqlite_restore(db, backup);
    std::cout << "4. backup restored: " << orders.size() << " orders, " << labels.size() << " labels, cursor "
              << *pull.cursor() << "\n";

    auto r3 = pull.pull(witness);  // re-pulls from the rewound cursor
    std::cout << "5. pull after restore: timeline " << concord::to_string(r3.rep.timeline) << ", stale_inbound "
              << r3.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] << ", decisions "
              << r3.rep.decisions.size() << ", cursor held at " << *r3.cursor_after << "\n";
    for (const auto& d : r3.rep.decisions) std::cout << "   asks: " << d.summary << "\n";

    // The user confirms (a prompt or a UI would ask; here the answer is given in code).
    {
        auto s = concord::begin_session(witness, labels);
        auto p = pull.plan(s);
        sync.answer_all(p, [](const auto& d) {
            std::cout << "   user confirms: discard " << d.identity.hex().substr(0, 8) << "...\n";
            return concord::resolution::discard;
        });
    }
    auto r4 = pull.pull(witness);
    const bool voided = service.current(stale_label)->state == concord::remote_state::cancelled;
    std::cout << "6. after the answer: " << r4.rep.actions.size() << " action(s), label at the service "
              << (voided ? "voided" : "still active") << ", " << labels.size() << " labels, cursor "
              << *r4.cursor_after << "\n";

    auto r5 = pull.pull(witness);
    std::cout << "7. next pull: " << r5.listing.rows << " rows, " << r5.rep.actions.size() << " actions\n";

    const bool ok = r3.rep.timeline == concord::verdict::restored && r3.rep.decisions.size() == 1 &&
                    *r3.cursor_after == 2 && voided && labels.size() == 2 && *r4.cursor_after == 3 &&
                    r5.listing.rows == 0 && r5.rep.actions.empty();
    fs::remove_all(dir);
    std::cout << (ok ? "inbound: OK\n" : "inbound: FAILED\n");
    return ok ? 0 : 1;
}
