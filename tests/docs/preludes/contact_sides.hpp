// Prelude: docs/tutorial/01-one-entity.md up to "Choose a policy and reconcile": the entity, its
// identity and the two sides with a witness, and the headers of examples/quickstart.
#pragma once
#include "contact.hpp"

#include <iostream>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using identity = concord::identity::natural_key<&contact::email>;

extern concord::memory_store<contact> db;
extern concord::memory_remote<contact> book;
extern concord::memory_witness witness;
