// Prelude: docs/scans.md, "Orphans need more than a watermark": a store, its witness and a reconciler
// `rec` over a remote that can list by creation time (the in-memory models), with <concord/cursor.hpp>.
#pragma once
#include "invoice.hpp"

#include <concord/cursor.hpp>
#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

extern concord::memory_store<invoice> store;
extern concord::memory_remote<invoice> remote;
extern concord::memory_witness witness;
extern decltype(concord::make_reconciler<concord::policy::trust_local>(
    store, remote, {}, concord::identity::natural_key<&invoice::customer, &invoice::number>{})) rec;
