// Prelude: docs/tutorial/03-policies.md, steps 2 and later: `subscription.hpp` plus `sync` (step 4's
// per-case reconciler; step 2's blocks only use what every reconciler has), step 2's `session` and `plan`.
#pragma once
#include "subscription.hpp"

using tutorial_policy = concord::policy::per_case<concord::policy::trust_local,
                                                  concord::case_<concord::orphan, concord::policy::ask_user>>;
namespace doc_snippet {  // a global `sync` would clash with POSIX sync() (<unistd.h>)
extern decltype(concord::make_reconciler<tutorial_policy>(db, billing, opts, identity{})) sync;
extern decltype(concord::begin_session(witness, db)) session;
extern decltype(sync)::plan_type plan;
}
