// Prelude: docs/store-adapters.md, "PostgreSQL": `invoice` and a reconciler `sync` of the host's (its
// store and remote do not matter to the snippet; in-memory models here).
#pragma once
#include "invoice.hpp"

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

extern concord::memory_store<invoice> invoice_store;
extern concord::memory_remote<invoice> invoice_remote;
namespace doc_snippet {  // a global `sync` would clash with POSIX sync() (<unistd.h>)
extern decltype(concord::make_reconciler<concord::policy::trust_local>(
    invoice_store, invoice_remote, {}, concord::identity::natural_key<&invoice::customer, &invoice::number>{})) sync;
}
