// Prelude: docs/tutorial/02-restores.md, "Sessions": one database (`store`) with its `witness` and two
// reconcilers on it, `customers` and `charges` (two entity types).
#pragma once
#include "contact.hpp"

#include <iostream>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

struct payment {
    BOOST_HANA_DEFINE_STRUCT(payment, (std::int64_t, id), (std::string, customer), (std::int64_t, cents));
};

extern concord::memory_store<contact> store;
extern concord::memory_store<payment> payment_store;
extern concord::memory_remote<contact> contact_remote;
extern concord::memory_remote<payment> payment_remote;
extern concord::memory_witness witness;
extern decltype(concord::make_reconciler<concord::policy::trust_local>(
    store, contact_remote, {}, concord::identity::natural_key<&contact::email>{})) customers;
extern decltype(concord::make_reconciler<concord::policy::trust_local>(
    payment_store, payment_remote, {}, concord::identity::natural_key<&payment::customer>{})) charges;
