#pragma once
// The inbound shape (brief section 1): a remote reads host data and creates entities that come
// back (shipping labels made from orders). concord pulls them incrementally by cursor ("next N with
// seq > X"), imports new ones, and classifies as stale_inbound those that refer to host data that no
// longer exists, resolved by policy: trust_local discards, trust_remote keeps, ask_user asks.
//
// The cursor lives in the store's checkpoint (key: reconciler::cursor_name()), so a restore rewinds
// it: the next pull re-reads everything the remote created since the restore point and classifies
// it again against the restored data. Entities imported by the lost generations are gone locally, so
// they come back as new (imported again) or, when what they were made from is gone too, as
// stale_inbound.
//
// The cursor never moves past a record that is still waiting for a decision, or whose action
// failed or was skipped (its case changed between plan and apply), or that is left alone because
// two local entities share its identity: the next pull sees it again. A listing the puller cannot
// trust (errc::bad_page) or a cursor the remote refuses (errc::cursor_rejected) stops the pull
// before anything is classified; the documented recovery is full_rescan(), which lists everything
// and resets the cursor.
//
// pull() and full_rescan() hold the store's reconcile lock (when the store offers
// lock_reconcile(scope), e.g. sqlite_store and postgres_store) for their whole session, under the
// reconciler's reconciler_options::lock_scope, as reconciler::reconcile() does: a second pull or
// reconcile of the same database stops with errc::concurrent_reconcile before it reads anything.
// Two pulls interleaved would both import every new record. Hosts driving plan()/apply() in a
// session of their own hold the lock themselves.
//
//   concord::inbound::puller pull(labels_reconciler);       // reconciler_options::inbound = true
//   auto r = pull.pull(witness);                             // incremental
//   auto r2 = pull.full_rescan(witness);                     // recovery, or a periodic check

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <concord/concepts/store.hpp>
#include <concord/concepts/witness.hpp>
#include <concord/cursor.hpp>
#include <concord/error.hpp>
#include <concord/paging.hpp>
#include <concord/report.hpp>
#include <concord/timeline.hpp>

namespace concord::inbound {

/// Settings of a puller.
struct pull_options {
    /// Clock for the checkpoint's commit time (Unix seconds); defaults to the system clock.
    std::function<std::int64_t()> now = unix_now;
};

/// What one pull did.
struct pull_result {
    report rep;                                   ///< the reconciler's report of the apply
    listing_stats listing;                        ///< remote calls and rows of the listing
    bool full = false;                            ///< a full re-scan rather than an incremental pull
    std::optional<std::uint64_t> cursor_before;   ///< the store's cursor when the pull began
    std::optional<std::uint64_t> cursor_after;    ///< the cursor written with the pull's checkpoint
    std::size_t held = 0;                         ///< records the cursor stopped before (open decision, failure)
};

/// Incremental inbound puller over a reconciler built with reconciler_options::inbound = true.
template <class Reconciler>
class puller {
public:
    using plan_type = typename Reconciler::plan_type;

    explicit puller(Reconciler& r, pull_options o = {}) : r_(&r), opts_(std::move(o)) {
        if (!r.options().inbound)
            throw error(errc::invalid_argument, "concord::inbound::puller needs a reconciler with "
                                                "reconciler_options::inbound = true");
        if (!opts_.now) opts_.now = unix_now;
    }

    /// The cursor as the store's checkpoint holds it now.
    std::optional<std::uint64_t> cursor() { return cursor_of(r_->store().load_checkpoint(), r_->cursor_name()); }

    /// Incremental plan: records after the store's cursor, classified against the local entities
    /// with the same identities. Throws errc::bad_page / errc::cursor_rejected (recovery:
    /// plan_full / full_rescan). The plan's cursor is where apply() will leave the cursor, and its
    /// `held` how many records it was kept below.
    template <witness W>
    plan_type plan(const timeline_session<W>& s, listing_stats* stats = nullptr) {
        const auto after = cursor_of(s.status().store, r_->cursor_name());
        auto recs = pull_since(r_->remote(), after, r_->options().page_size, stats);
        auto top = max_seq(recs, after);
        std::vector<std::pair<key128, std::uint64_t>> left_out;  // records a partial listing cannot settle
        auto p = detail::plan_subset(*r_, s.status(), s.database_adopted(), std::move(recs), {}, false, &left_out);
        p.cursor = top;
        hold(p, left_out);
        return p;
    }

    /// Full re-scan plan: every remote record against every local entity; the cursor is reset from
    /// what the listing showed (the documented recovery from a refused page or cursor).
    template <witness W>
    plan_type plan_full(const timeline_session<W>& s, listing_stats* stats = nullptr) {
        auto recs = pull_since(r_->remote(), std::nullopt, r_->options().page_size, stats);
        auto top = max_seq(recs, std::nullopt);
        auto& st = r_->store();
        auto local = st.scan();
        // Records left alone with two local entities of their identity (duplicate_local) hold the
        // cursor, as in plan(): the pull after the host settles its duplicate must see them again.
        std::vector<std::pair<key128, std::uint64_t>> shared;
        detail::note_shared(*r_, detail::shared_identities(*r_, local), recs, shared);
        auto p = r_->plan_from(s.status(), s.database_adopted(), std::move(local), st.links(), std::move(recs));
        p.cursor = top;
        hold(p, shared);
        return p;
    }

    /// Applies a plan, then writes the checkpoint with the cursor (lowered below any record whose
    /// action failed or was skipped, so the next pull retries it) and the commit time. `held`: the
    /// plan's own `held` (records it waits for or could not settle) plus the records of failed and
    /// skipped actions.
    template <witness W>
    report apply(plan_type p, timeline_session<W>& s, std::size_t* held = nullptr) {
        auto cur = p.cursor;
        p.cursor.reset();  // the puller writes the cursor itself, after the outcome is known
        auto rep = r_->apply(p, s);
        // Records the plan holds are counted in p.held already (its decisions', and those held_seqs
        // names: a record held for an identity two local entities share may be classified under
        // another, whose action can fail); a seq names one record of a listing (pull_since refuses a
        // repeated one).
        std::set<std::uint64_t> counted(p.held_seqs.begin(), p.held_seqs.end()), failed;
        for (const auto& d : p.decisions)
            for (const auto& rec : p.cases[d.group].remote) counted.insert(rec.seq);
        bool from_start = false;
        // A skipped action (the local side changed since the plan) left its case as unsettled as a
        // failed one: past it, an incremental pull would never list the record again.
        std::set<std::size_t> unsettled;
        for (std::size_t i = 0; i < rep.actions.size() && i < p.actions.size(); ++i)
            if (rep.actions[i].outcome == "failed" || rep.actions[i].outcome == "skipped")
                unsettled.insert(p.actions[i].group);
        for (const auto seq : detail::held_seqs_of(p, unsettled)) {
            lower(cur, seq, from_start);
            if (!counted.count(seq)) failed.insert(seq);
        }
        // this plan's, not the latest plan()'s: a host may plan twice
        if (held) *held = p.held + failed.size();
        finish_commit(r_->store(), s, r_->cursor_name(), from_start ? std::nullopt : cur, opts_.now(), true);
        return rep;
    }

    /// One incremental pull in its own session: plan, apply, witness. Holds the store's reconcile
    /// lock for the session when it has one (errc::concurrent_reconcile, nothing done, when another
    /// pull or reconcile of the same database holds it).
    template <witness W>
    pull_result pull(W& w) {
        return run(w, false);
    }

    /// The recovery from errc::bad_page and errc::cursor_rejected, and a periodic completeness
    /// check: lists everything, classifies everything (references broken by host deletes are found
    /// here, not by an incremental pull), resets the cursor. Locked like pull().
    template <witness W>
    pull_result full_rescan(W& w) {
        return run(w, true);
    }

private:
    template <class Recs>
    static std::optional<std::uint64_t> max_seq(const Recs& recs, std::optional<std::uint64_t> after) {
        auto top = after;
        for (const auto& r : recs)
            if (!top || r.seq > *top) top = r.seq;
        return top;
    }

    /// Lowers `cur` to just below `seq`. Nothing lies below seq 0: holding such a record sets
    /// `from_start`, and the caller then drops the cursor, so the next pull starts over.
    static void lower(std::optional<std::uint64_t>& cur, std::uint64_t seq, bool& from_start) {
        if (from_start || !cur) return;  // no cursor: the next pull starts over anyway
        if (seq == 0) {
            from_start = true;
            return;
        }
        if (*cur >= seq) cur = seq - 1;
    }

    /// Keeps the plan's cursor below every record whose case waits for a decision, and below the
    /// records the listing could not settle or left alone (`left_out`: identity and seq); counts them in
    /// the plan's `held`, which apply() reports.
    static void hold(plan_type& p, const std::vector<std::pair<key128, std::uint64_t>>& left_out = {}) {
        // Every record held counts once, whether or not it is the one that lowered the cursor. A
        // decision holds its case's records and those set apart from it (held_seqs_of).
        std::set<std::size_t> asked;
        for (const auto& d : p.decisions) asked.insert(d.group);
        auto seqs = detail::held_seqs_of(p, asked);
        for (const auto& rec : left_out) seqs.insert(rec.second);
        bool from_start = false;
        for (const auto seq : seqs) lower(p.cursor, seq, from_start);
        p.held = seqs.size();
        p.held_seqs.assign(seqs.begin(), seqs.end());
        if (from_start) p.cursor.reset();
    }

    /// One whole session under the store's reconcile lock, when the store has one (the way
    /// reconciler::reconcile() takes it, with the same scope).
    template <witness W>
    pull_result run(W& w, bool full) {
        return with_reconcile_lock(r_->store(), r_->options().lock_scope, [&] { return run_unlocked(w, full); });
    }

    template <witness W>
    pull_result run_unlocked(W& w, bool full) {
        pull_result res;
        res.full = full;
        auto s = begin_session(w, r_->store());
        res.cursor_before = cursor_of(s.status().store, r_->cursor_name());
        auto p = full ? plan_full(s, &res.listing) : plan(s, &res.listing);
        res.cursor_after = p.cursor;
        res.rep = apply(std::move(p), s, &res.held);
        res.cursor_after = cursor();
        s.commit();
        return res;
    }

    Reconciler* r_;
    pull_options opts_;
};

} // namespace concord::inbound
