// takeover: an object of ours that someone else took over is asked about, never created twice.
//
// A host mirrors subscriptions to a billing provider with trust_local. Then someone with the
// account's key (another installation started from a copy of this database, or support staff in
// the provider's dashboard) rewrites the owner tag of ada's subscription and changes its price. The
// object is no longer provably ours, so concord reports it as foreign and never touches it. Before,
// ada then looked as if the provider had lost her subscription, and trust_local created a second
// one: a second monthly charge. Now the provider still lists an object for her (classified::set_apart),
// so the case goes to the user. Here the user decides ada needs a subscription of her own: it is
// created under a new idempotency key, and the taken-over object stays as it is.

#include <cstdint>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

struct subscription {
    BOOST_HANA_DEFINE_STRUCT(subscription, (std::int64_t, id), (std::string, customer), (std::string, plan),
                             (std::int64_t, cents));
};

int main() {
    concord::memory_store<subscription> db;
    concord::memory_remote<subscription> billing;
    concord::memory_witness witness;
    auto sync = concord::make_reconciler<concord::policy::trust_local>(
        db, billing, {.owner = {"host-1", "billing"}, .entity_name = "subscription"},
        concord::identity::natural_key<&subscription::customer>{});

    db.put({0, "ada", "basic", 900});
    sync.reconcile(witness);
    const auto first = billing.all().front();
    std::cout << "created " << first.remote_id << " for ada\n";

    // Someone else takes the object over: another owner tag, another price.
    auto meta = first.meta;
    meta[std::string(concord::meta_keys::owner)] = "concord/v1:host-2:billing";
    billing.set_metadata_external(first.remote_id, meta);
    auto changed = first.value;
    changed.cents = 1200;
    billing.edit_external(first.remote_id, changed);
    std::cout << "host-2 took " << first.remote_id << " over and set its price to 1200\n\n";

    auto session = concord::begin_session(witness, db);
    auto p = sync.plan(session);
    std::cout << sync.describe(p).text() << '\n';
    bool asked = p.decisions.size() == 1 && p.actions.empty() && p.count(concord::case_kind::foreign) == 1;
    for (const auto& c : p.cases)
        if (c.kind == concord::case_kind::local_only) asked = asked && c.set_apart == 1;

    // The user settles it: ada gets a subscription of her own (remove_local would forget her instead).
    const auto& d = p.decisions.front();
    std::cout << "the user answers " << d.id.substr(0, 12) << "...: create_remote\n";
    sync.answer(p, d.id, concord::resolution::create_remote);
    auto settled = sync.plan(session);
    const auto rep = sync.apply(settled, session);
    session.commit();
    std::cout << rep.text() << '\n';

    const auto after = billing.current(first.remote_id);
    const bool untouched = after && after->value.cents == 1200 && after->meta == meta &&
                           after->state == concord::remote_state::active;
    const auto again = sync.reconcile(witness);
    std::cout << "provider: " << billing.active_count() << " active subscription(s), " << billing.stats().creates
              << " create call(s); " << first.remote_id << (untouched ? " untouched" : " CHANGED")
              << "; next reconcile plans " << again.actions.size() << " action(s), " << again.decisions.size()
              << " decision(s)\n";
    const bool ok = asked && untouched && billing.active_count() == 2 && billing.stats().creates == 2 &&
                    again.actions.empty() && again.decisions.empty();
    std::cout << "takeover: " << (ok ? "OK" : "UNEXPECTED END STATE") << '\n';
    return ok ? 0 : 1;
}
