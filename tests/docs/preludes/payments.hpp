// Prelude: docs/tutorial/04-payments.md (and docs/shapes/linked.md): the pieces of "The pieces"
// (`bank`, `db`, `plans`, `charges`, `witness`, `decisions`, `owner`), the gateway `gw` and the
// reconcile of "After a restore" (`plan_sync`, its plan `p`).
#pragma once
#include <concord/decisions.hpp>
#include <concord/payments/gateway.hpp>
#include <concord/payments/provider.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

namespace pay = concord::payments;

extern pay::provider bank;
extern concord::sqlite_database db;
extern concord::sqlite_store<pay::payment_plan> plans;
extern concord::sqlite_store<pay::charge> charges;
extern concord::file_witness witness;
extern concord::file_decision_book decisions;
extern const concord::owner_tag owner;
extern decltype(pay::make_gateway(bank, witness, plans, charges, {.owner = owner})) gw;

using payments_policy = concord::policy::per_case<concord::policy::trust_local,
                                                  concord::policy::case_<concord::orphan, concord::policy::ask_user>>;
extern decltype(bank.plans()) plan_src;
extern decltype(concord::make_reconciler<payments_policy>(plans, plan_src, {.owner = owner, .entity_name = "payment_plan"},
                                                          pay::plan_identity{})) plan_sync;
extern decltype(plan_sync)::plan_type p;
