#pragma once
// Reconciling a PostgreSQL database under its reconcile lock. Two reconcilers started at once
// against one database (two processes, two hosts, two threads with their own connections) must not
// both act: the first takes a session-level advisory lock, the second gets errc::concurrent_reconcile
// ("another reconcile is running") before it reads or changes anything.

#include <string_view>

#include <concord/concepts/witness.hpp>
#include <concord/postgres/database.hpp>
#include <concord/report.hpp>

namespace concord {

/// sync.reconcile(w) while holding db's reconcile lock of `scope` (one scope per database unless
/// integrations are truly independent). Throws errc::concurrent_reconcile, having done nothing, when
/// another reconcile holds it. Hosts that drive begin_session/plan/apply themselves take
/// db.lock_reconcile() around the whole session instead.
/// reconciler::reconcile() already takes the lock named by reconciler_options::lock_scope when its
/// store is a postgres_store; this function is for reconcilers over other stores on the same database.
template <class Reconciler, witness W>
report locked_reconcile(postgres_database& db, Reconciler& sync, W& w, std::string_view scope = "concord") {
    auto lock = db.lock_reconcile(scope);
    return sync.reconcile_unlocked(w);
}

} // namespace concord
