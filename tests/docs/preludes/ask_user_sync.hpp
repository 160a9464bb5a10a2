// Prelude: docs/policies/ask_user.md after its first block: `sync` (an ask_user reconciler) and the
// host's database file `db_path`.
#pragma once
#include "policies.hpp"

#include <filesystem>

#include <concord/policy/strategies.hpp>

extern const std::filesystem::path db_path;

namespace doc_snippet {  // a global `sync` would clash with POSIX sync() (<unistd.h>)
extern decltype(concord::make_reconciler<concord::policy::ask_user>(db, remote, options, identity)) sync;
}
