// Prelude: docs/policies/*.md. A reconciler's arguments as the pages name them: `db`, `remote`,
// `options`, `identity` (over `invoice`, with the in-memory models).
#pragma once
#include "invoice.hpp"

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/reconciler.hpp>

extern concord::memory_store<invoice> db;
extern concord::memory_remote<invoice> remote;
extern const concord::reconciler_options options;
extern const concord::identity::natural_key<&invoice::customer, &invoice::number> identity;
