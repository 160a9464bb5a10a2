#pragma once
// Restore detection (brief section 3). The store keeps a checkpoint (lineage, generation) *inside*
// the database, so a restore rewinds it; the witness keeps the last committed (lineage, generation)
// *outside* the restore scope. Comparing the two at the start of a reconcile tells what happened:
//
//   store vs witness                         verdict
//   neither exists                           first_run
//   lineage ids differ / store has none      different_database (never resolved destructively
//                                            without consent)
//   same lineage, same generation            same_timeline
//   same lineage, store < witness            restored: generations (store, witness] are lost
//   same lineage, store > witness / no witness  witness_behind: repaired and reported
//
// One timeline serves every reconciler of a database: begin() reads both records once and the
// returned session carries the verdict to all of them; commit() writes the witness last.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <concord/concepts/witness.hpp>
#include <concord/entity.hpp>  // detail::quoted_excerpt
#include <concord/error.hpp>
#include <concord/records.hpp>

namespace concord {

/// The outcome of comparing the store's checkpoint with the witness.
enum class verdict { first_run, same_timeline, restored, different_database, witness_behind };

constexpr std::string_view to_string(verdict v) noexcept {
    switch (v) {
    case verdict::first_run: return "first_run";
    case verdict::same_timeline: return "same_timeline";
    case verdict::restored: return "restored";
    case verdict::different_database: return "different_database";
    case verdict::witness_behind: return "witness_behind";
    }
    return "unknown";
}

/// A new random lineage id (128 bits from the kernel, 32 hex digits). Random on purpose: it
/// names one database's history and is persisted, never derived.
inline std::string new_lineage_id() { return random_key128().hex(); }

/// True when `s` has the form new_lineage_id() writes: 32 lowercase hex digits. Witnesses refuse any
/// other lineage (format_witness and parse_witness), so nothing is saved that a later load would refuse.
constexpr bool is_lineage_id(std::string_view s) noexcept {
    if (s.size() != 32) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

/// Generations at or above 2^63 are refused: the next generation, witness + 1, must never wrap to 0
/// (a wrapped generation would be reused and its lost objects taken for accounted ones).
inline constexpr std::uint64_t witness_generation_limit = std::uint64_t{1} << 63;

/// Session attempts at or above 2^63 are refused the same way: the next attempt, witness + 1, must
/// never wrap to 0 (an attempt of 0 would also write the record back as v1, losing the count).
inline constexpr std::uint64_t witness_attempts_limit = std::uint64_t{1} << 63;

/// What the timeline check found, and the generation this session commits under.
struct timeline_status {
    verdict kind = verdict::first_run;
    std::optional<checkpoint> store;          ///< the store's checkpoint as read
    std::optional<witness_record> witness;    ///< the witness as read
    std::uint64_t lost_from = 0;              ///< restored: first lost generation (store + 1)
    std::uint64_t lost_to = 0;                ///< restored: last lost generation (witness)
    std::string lineage;                      ///< lineage this session commits under
    std::uint64_t generation = 0;             ///< generation this session commits (never reused)
    std::string detail;                       ///< human explanation
    bool interrupted = false;                 ///< the witness says a reconcile was in progress
    std::uint64_t attempt = 1;                ///< this session's number (witness attempts + 1; random on witness_behind), in update keys;
                                              ///< moves on after each mark_in_progress() (see there)
    std::string session_id;                   ///< random per timeline_session: apply() refuses a plan of another session

    /// True if a remote effect stamped with generation g was lost by the restore.
    bool lost(std::uint64_t g) const noexcept {
        return kind == verdict::restored && g >= lost_from && g <= lost_to;
    }
};

/// The verdict for a store checkpoint and a witness record (pure but for the random lineage and, on
/// witness_behind, the random first attempt, at or above 2^32: the witness may have lost attempts
/// used since, see below). A record whose counters
/// are exhausted (a generation at or above witness_generation_limit - 1, so this session's would
/// reach the limit; attempts at or above witness_attempts_limit - 1) is refused before anything is
/// written: the store's checkpoint as errc::checkpoint_corrupt, the witness as errc::witness_corrupt.
/// Otherwise a session would stamp remote objects with a generation its commit then refuses.
/// A lineage that is not is_lineage_id is refused the same way (what the provided stores and witnesses
/// report themselves; a user-written one may not): no witness can save it, and a store's lineage that
/// differs from the witness's only in form is no different database.
inline timeline_status check_timeline(const std::optional<checkpoint>& store, const std::optional<witness_record>& w) {
    if (store && !is_lineage_id(store->lineage))
        throw error(errc::checkpoint_corrupt, "the store's checkpoint is not what concord writes: lineage " +
                                                  detail::quoted_excerpt(store->lineage) +
                                                  " is not 32 lowercase hex digits (a store's load_checkpoint() must "
                                                  "return the lineage its commit() received)");
    if (w && !is_lineage_id(w->lineage))
        throw error(errc::witness_corrupt, "the witness holds lineage " + detail::quoted_excerpt(w->lineage) +
                                               ", which is not 32 lowercase hex digits (a witness's load() must return "
                                               "the lineage its save() received)");
    if (store && store->generation >= witness_generation_limit - 1)
        throw error(errc::checkpoint_corrupt,
                    "the store's checkpoint holds generation " + std::to_string(store->generation) +
                        ", at or past 2^63 - 1: the generation counter is exhausted (the next session's would reach 2^63)");
    if (w && w->generation >= witness_generation_limit - 1)
        throw error(errc::witness_corrupt,
                    "the witness holds generation " + std::to_string(w->generation) +
                        ", at or past 2^63 - 1: the generation counter is exhausted (the next session's would reach 2^63)");
    if (w && w->attempts >= witness_attempts_limit - 1)
        throw error(errc::witness_corrupt, "the witness holds attempts " + std::to_string(w->attempts) +
                                               ", at or past 2^63 - 1: the next session's attempt would reach 2^63");
    timeline_status s;
    s.store = store;
    s.witness = w;
    s.interrupted = w && !w->in_progress.empty();
    s.attempt = (w ? w->attempts : 0) + 1;
    if (!store && !w) {
        s.kind = verdict::first_run;
        s.lineage = new_lineage_id();
        s.generation = 1;
        s.detail = "no checkpoint and no witness: first reconcile of this database";
    } else if (!store) {
        s.kind = verdict::different_database;
        s.lineage = new_lineage_id();
        s.generation = w->generation + 1;
        s.detail = "the store has no checkpoint but the witness remembers lineage " + w->lineage + " at generation " +
                   std::to_string(w->generation) +
                   ": another database, or a restore to before concord's first reconcile";
    } else if (!w) {
        s.kind = verdict::witness_behind;
        s.lineage = store->lineage;
        s.generation = store->generation + 1;
        s.detail = "the witness is missing: repaired from the store's checkpoint (generation " +
                   std::to_string(store->generation) + ")";
    } else if (store->lineage != w->lineage) {
        s.kind = verdict::different_database;
        s.lineage = store->lineage;
        s.generation = std::max(store->generation, w->generation) + 1;
        s.detail = "store lineage " + store->lineage + " differs from the witness lineage " + w->lineage +
                   ": a different database was opened";
    } else if (store->generation == w->generation) {
        s.kind = verdict::same_timeline;
        s.lineage = store->lineage;
        s.generation = store->generation + 1;
        s.detail = "same timeline at generation " + std::to_string(store->generation);
    } else if (store->generation < w->generation) {
        s.kind = verdict::restored;
        s.lineage = store->lineage;
        s.lost_from = store->generation + 1;
        s.lost_to = w->generation;
        s.generation = w->generation + 1;  // lost generation numbers are never reused
        s.detail = "database restored to generation " + std::to_string(store->generation) + "; " +
                   (s.lost_from == s.lost_to ? "generation " + std::to_string(s.lost_from) + " is lost"
                                             : "generations " + std::to_string(s.lost_from) + ".." +
                                                   std::to_string(s.lost_to) + " are lost");
    } else {
        s.kind = verdict::witness_behind;
        s.lineage = store->lineage;
        s.generation = store->generation + 1;
        s.detail = "the witness (generation " + std::to_string(w->generation) + ") is behind the store (generation " +
                   std::to_string(store->generation) + "): repaired";
    }
    if (s.kind == verdict::witness_behind) {
        // A witness deleted, or an older copy put back, has forgotten attempts that sessions of these
        // generations used (one that failed before its store commit leaves its generation to the
        // next): counting on from it would give a change pushed again an earlier push's update key,
        // which a provider replays without applying. Jump to a random point far beyond any count.
        const std::uint64_t fresh = (std::uint64_t{1} << 32) + (random_key128().lo >> 3);  // below 2^62
        s.attempt = std::max(s.attempt, fresh);
    }
    return s;
}

/// One reconcile session over a database: the verdict, shared by every reconciler of the database.
template <witness W>
class timeline_session {
public:
    timeline_session(W& w, timeline_status status) : witness_(&w), status_(std::move(status)) {
        // Two sessions can share lineage and generation (one that never committed, or a restore that
        // lands on witness + 1 again): only this id tells a plan of an earlier session apart.
        if (status_.session_id.empty()) status_.session_id = new_lineage_id();
    }

    const timeline_status& status() const noexcept { return status_; }
    verdict kind() const noexcept { return status_.kind; }

    /// Consent to treat a different database as the new truth: destructive resolutions are allowed
    /// again and commit() moves the witness to this database's lineage.
    void adopt_database() noexcept { adopted_ = true; }
    bool database_adopted() const noexcept { return adopted_ || status_.kind != verdict::different_database; }

    /// The checkpoint a reconciler writes in its final transaction (cursors are merged by the caller).
    checkpoint next_checkpoint(const std::optional<checkpoint>& current) const {
        checkpoint c;
        if (current) c.cursors = current->cursors;
        c.lineage = status_.lineage;
        c.generation = status_.generation;
        return c;
    }

    /// Gives `store` the session's checkpoint in a transaction of its own, unless it holds it already.
    /// Done before the first remote effect of a database's first session: the witness's mark names the
    /// session's new lineage, and a crash after it with a store that never got that lineage would make
    /// every later session a different database. With the store ahead, the next session repairs the
    /// witness instead.
    template <class Store>
    void commit_checkpoint(Store& store) {
        auto cur = store.load_checkpoint();
        if (!(cur && cur->lineage == status_.lineage && cur->generation == status_.generation)) {
            change_batch<typename Store::entity_type> b;
            b.new_checkpoint = next_checkpoint(cur);
            store.commit(b);
        }
        lineage_stored_ = true;
    }

    /// Durably records that a reconcile is under way (before any remote effect). On a database's
    /// first session (no witness, no checkpoint) the store must hold the session's lineage first
    /// (commit_checkpoint, or a commit reported by note_store_committed): else errc::invalid_argument
    /// and nothing is written, since a mark naming a lineage the store never received would make
    /// every later session a different database.
    void mark_in_progress(std::string_view what) {
        if (!lineage_recordable())
            throw error(errc::invalid_argument,
                        "mark_in_progress on the database's first session before the store holds its lineage " +
                            status_.lineage + ": call commit_checkpoint(store) first");
        in_progress_ = std::string(what);
        marked_attempt_ = status_.attempt;
        witness_record r = current_record();
        witness_->save(r);
        marked_ = true;
        // Plans made from now on push under the next attempt (saved by their own apply's mark): the
        // same change A->B planned again after this apply, once someone set the remote back to A, is a
        // new request, not a replay of this one. A plan applied again keeps the key it was made with.
        if (status_.attempt < witness_attempts_limit - 1) ++status_.attempt;
    }

    /// Records a failure so that the same failure next time stops with errc::repeated_failure.
    /// Returns true if the witness already held this same failure. On a database's first session
    /// whose store never received the session's lineage (its first commit failed) nothing is written
    /// and this returns false: the witness must not name a lineage the store does not hold, and the
    /// next session is a first run again.
    bool record_failure(const std::string& what) {
        if (!lineage_recordable()) return false;
        witness_record r = current_record();
        // A witness may keep a long failure text shortened (file_witness keeps its beginning under its
        // size limit): the same failure then reads back as a long prefix of the new text.
        const std::string* before = status_.witness ? &status_.witness->failure : nullptr;
        const bool repeated = before && (*before == what || (before->size() >= 1024 && before->size() < what.size() &&
                                                             what.compare(0, before->size(), *before) == 0));
        r.failure = what;
        witness_->save(r);
        return repeated;
    }

    /// Writes the witness after the store committed. Without consent a different database leaves the
    /// witness alone, so the next reconcile asks again.
    void commit() {
        if (!database_adopted() && (store_committed_ || marked_)) {
            // Not adopted: keep the lineage but remember the generation this session issued, so no
            // later session re-issues it and its remote objects stay accounted for (simulation, seed 20).
            witness_record r = current_record();
            r.in_progress.clear();
            r.failure.clear();
            witness_->save(r);
        }
        if (!database_adopted() || !store_committed_) return;  // nothing committed: the witness stays true
        witness_record r;
        r.lineage = status_.lineage;
        r.generation = status_.generation;
        r.attempts = saved_attempt();  // witness attempts + 1, never below what was saved
        witness_->save(r);
        committed_ = true;
    }

    bool committed() const noexcept { return committed_; }

    /// Called by whoever committed this session's generation to the store (the reconciler's final
    /// batch, a gateway action); commit() writes the witness only after that.
    void note_store_committed() noexcept { store_committed_ = true; }

private:
    /// True when a record this session writes names a lineage the store holds: the witness's own
    /// (current_record keeps it), the store's, or the session's once the store committed it.
    bool lineage_recordable() const noexcept {
        return status_.witness || (status_.store && status_.store->lineage == status_.lineage) || lineage_stored_ ||
               store_committed_;
    }

    /// The attempt this session's records carry: the last one marked (a plan's keys are made with it
    /// or an earlier one), else the session's first. Not status_.attempt, which names the next plans'.
    std::uint64_t saved_attempt() const noexcept { return marked_ ? marked_attempt_ : status_.attempt; }

    witness_record current_record() const {
        witness_record r;
        if (status_.witness) r = *status_.witness;
        else {
            r.lineage = status_.lineage;
            r.generation = 0;
        }
        // Never below a generation this session may stamp on remote objects, or a later session
        // re-issues it and its objects look unaccounted for (found by simulation, seeds 20 and 54).
        const std::uint64_t floor = database_adopted() && status_.generation > 0 ? status_.generation - 1 : status_.generation;
        if (r.generation < floor) r.generation = floor;
        if (r.attempts < saved_attempt()) r.attempts = saved_attempt();  // persisted before any remote effect
        // Once marked, every later save of this session keeps the mark until commit() clears it: a
        // failure recorded after remote effects must still tell the next session it was interrupted.
        if (!in_progress_.empty()) r.in_progress = in_progress_;
        return r;
    }

    W* witness_;
    timeline_status status_;
    bool adopted_ = false;
    bool marked_ = false;
    bool committed_ = false;
    bool store_committed_ = false;
    bool lineage_stored_ = false;  ///< commit_checkpoint() gave a store the session's checkpoint
    std::string in_progress_;  ///< what mark_in_progress() saved, kept by every later save
    std::uint64_t marked_attempt_ = 0;  ///< status_.attempt when mark_in_progress() last saved it
};

/// Reads the store's checkpoint and the witness once and opens a session.
template <witness W, class Store>
timeline_session<W> begin_session(W& w, Store& store) {
    return timeline_session<W>(w, check_timeline(store.load_checkpoint(), w.load()));
}

} // namespace concord
