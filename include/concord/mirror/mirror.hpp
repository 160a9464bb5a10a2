#pragma once
// The mirror shape (brief section 1): one-way replication of host entities to a remote copy. The
// host is the truth; after a restore the copy is ahead of it and is rewound: rows created after the
// restore point removed, changed rows put back, removed rows re-created. The reconciler does the
// classification and the writes (a trust_local policy is the usual choice); this driver decides
// *what to read* so that a rewind costs what changed since the restore point, not the table size:
//
//   method        remote reads                                     sees
//   full_scan     every row (N rows, N / page calls)               everything
//   change_feed   rows written after the checkpoint's cursor       everything the replica did since the
//                 (k rows, k / page + 1 calls), then every row of  checkpoint; not host edits, not edits
//                 the touched identities (1 call, ~k rows)         made behind concord's back
//   checksums     ~log16(N / leaf_rows) + 1 checksum round trips,  every difference between the two
//                 then the rows of the differing leaves            sides, whoever made it
//                 (~k * leaf_rows, 1 call)
//   automatic     after a restore with a cursor: change_feed, then checksums when the replica offers
//                 them (host edits since the restore); otherwise checksums, else full_scan. A feed
//                 the replica refuses (errc::cursor_rejected: compacted past the cursor) is replaced
//                 by checksums, else full_scan (pass_result::replaced says so)
//
// The cursor is the replica's change seq, kept in the host's checkpoint under the reconciler's
// cursor_name(): a restore rewinds it to where the replica stood when that checkpoint was written.
// After each sync it is moved to the replica's head as read before the listing (every change up to
// there is reconciled), or to the head after the apply when the seqs in between are exactly the
// sync's own writes. It never moves past a record whose case waits for a decision or whose action
// failed or was skipped: the next feed sees it again (sync_result::held counts them). Holding a
// record at seq 0 (a replica whose seqs start at 0), below which no cursor can stand, drops the
// cursor: the next sync lists from the start. A replica whose head is below the cursor lost writes
// (restored from its own backup, or replaced): its feed is refused with errc::cursor_rejected, and
// automatic reads every difference in the feed's place.
//
// sync(witness) holds the store's reconcile lock (when the store offers lock_reconcile(scope), e.g.
// sqlite_store and postgres_store) for its whole session, under the reconciler's
// reconciler_options::lock_scope, as reconciler::reconcile() does: a second sync or reconcile of the
// same database stops with errc::concurrent_reconcile before it reads anything. sync(session)
// runs inside the caller's session, and the caller holds the lock.
//
// A different database (verdict different_database: another database file opened, or one restored to
// before concord's first sync) is errc::blocked before anything is read or written, unless the
// session adopted it (timeline_session::adopt_database): the replica is that other database's copy.
// A replica that records the lineage of the database it mirrors (lineage() / set_lineage(), as
// sqlite_replica does) is bound to it by the sync; a sync of a database of another lineage is
// errc::blocked too (the case when each database has its own witness and the other's first sync is a
// first_run), until the replica is released (forget_lineage()) or a different database adopted.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <concord/concepts/store.hpp>
#include <concord/concepts/witness.hpp>
#include <concord/cursor.hpp>
#include <concord/mirror/bisect.hpp>
#include <concord/paging.hpp>
#include <concord/plan.hpp>
#include <concord/report.hpp>
#include <concord/timeline.hpp>

namespace concord::mirror {

/// What a sync reads from the replica (see the table in the header comment).
enum class method { full_scan, change_feed, checksums, automatic };

constexpr std::string_view to_string(method m) noexcept {
    switch (m) {
    case method::full_scan: return "full_scan";
    case method::change_feed: return "change_feed";
    case method::checksums: return "checksums";
    case method::automatic: return "automatic";
    }
    return "unknown";
}

/// Settings of a mirror.
struct mirror_options {
    /// Clock for the checkpoint's commit time (Unix seconds); defaults to the system clock.
    std::function<std::int64_t()> now = unix_now;
    bisect_options bisect{};
};

/// One pass of a sync: the method it used, what it read, what it did.
struct pass_result {
    method used = method::full_scan;
    report rep;
    listing_stats listing;          ///< feed or full listing: calls and rows
    bisect_stats bisect;            ///< checksums: round trips, ranges, rows
    std::size_t identities = 0;     ///< identities classified (the plan's scope)
    /// automatic: the method this pass stands in for (change_feed, when the replica refused the
    /// cursor with errc::cursor_rejected) and the refusal; `used` says which pass ran.
    std::optional<method> replaced;
    std::string replaced_because;
};

/// What a sync did: one pass, or two (automatic after a restore).
struct sync_result {
    verdict timeline = verdict::first_run;
    std::vector<pass_result> passes;
    std::optional<std::uint64_t> cursor_before;
    std::optional<std::uint64_t> cursor_after;
    std::size_t held = 0;           ///< records the cursor stopped before (open decision, failure)
    /// Actions applied over all passes.
    std::size_t actions() const {
        std::size_t n = 0;
        for (const auto& p : passes) n += p.rep.actions.size();
        return n;
    }
};

/// Mirror driver over a reconciler whose remote is the replica (e.g. sqlite_replica<E>).
template <class Reconciler>
class mirror {
public:
    using plan_type = typename Reconciler::plan_type;
    using remote_type = std::remove_reference_t<decltype(std::declval<Reconciler&>().remote())>;

    explicit mirror(Reconciler& r, mirror_options o = {}) : r_(&r), opts_(std::move(o)) {
        if (r.options().inbound)
            throw error(errc::invalid_argument, "concord::mirror::mirror needs a reconciler without inbound mode: the "
                                                "host owns every mirrored entity");
        if (!opts_.now) opts_.now = unix_now;
    }

    /// The cursor as the store's checkpoint holds it now.
    std::optional<std::uint64_t> cursor() { return cursor_of(r_->store().load_checkpoint(), r_->cursor_name()); }

    /// Brings the replica to match the host in one session (plan, apply, checkpoint, witness).
    /// Holds the store's reconcile lock for the session when it has one (errc::concurrent_reconcile,
    /// nothing done, when another sync or reconcile of the same database holds it).
    template <witness W>
    sync_result sync(W& w, method m = method::automatic) {
        return with_reconcile_lock(r_->store(), r_->options().lock_scope, [&] { return sync_unlocked(w, m); });
    }

    /// Same, inside a session shared with other reconcilers; the caller commits the session (and
    /// holds the store's reconcile lock around it).
    template <witness W>
    sync_result sync(timeline_session<W>& s, method m = method::automatic) {
        // The replica is a copy of the database the witness remembers: a sync of another one would
        // write its rows into that copy (then a copy of neither) and put the first one's rows to the
        // user as orphans. Only with the user's consent does the replica change databases.
        if (!s.database_adopted())
            throw error(errc::blocked, "mirror sync refused: " + s.status().detail +
                                           ". The replica mirrors that other database: to make it this database's "
                                           "copy, sync inside a session that adopt_database() was called on");
        // A replica keeps the lineage of the database it is the copy of: another database's sync (a
        // first_run, when each database has its own witness) would take every row there for an orphan
        // of its own. A different database this session adopted takes the replica over.
        std::optional<std::string> bound;
        if constexpr (has_lineage) {
            bound = r_->remote().lineage();
            if (bound && *bound != s.status().lineage && s.kind() != verdict::different_database)
                throw error(errc::blocked,
                            "mirror sync refused: the replica is the copy of another database (lineage " +
                                concord::detail::quoted_excerpt(*bound) + "), not of this one (" + s.status().lineage +
                                "); nothing was read or written. To make it this database's copy (the other "
                                "database's rows are then removed), release it with the replica's forget_lineage()");
            // The store holds the session's lineage already (not a first run): the replica is bound
            // before the first write, so no other database's sync can take it for its own meanwhile.
            if (bound != s.status().lineage && s.status().store && s.status().store->lineage == s.status().lineage) {
                r_->remote().set_lineage(s.status().lineage);
                bound = s.status().lineage;
            }
        }
        sync_result res;
        res.timeline = s.kind();
        res.cursor_before = cursor_of(s.status().store, r_->cursor_name());
        // The head before the listing: what others write while this sync runs stays ahead of it.
        std::optional<std::uint64_t> cur = res.cursor_before;
        if constexpr (has_head) cur = r_->remote().head();
        const auto head_before = cur;
        head_ = head_before;  // for plan()'s feed check, without another call
        struct forget {
            std::optional<std::uint64_t>& h;
            ~forget() { h.reset(); }
        } forget_head{head_};
        std::uint64_t own_writes = 0;
        std::vector<std::pair<key128, std::uint64_t>> hold;  // identities the cursor must show again
        auto passes = passes_for(m, s.status(), res.cursor_before);
        for (std::size_t i = 0; i < passes.size(); ++i) {
            pass_result pr;
            pr.used = passes[i];
            std::optional<plan_type> p;
            try {
                p.emplace(plan(s, passes[i], pr));
            } catch (const error& e) {
                // A compacted replica refuses the rewound cursor: a pass that reads every difference
                // does the feed's work (and the planned checksums pass after it is then redundant).
                if (m != method::automatic || pr.used != method::change_feed || e.code() != errc::cursor_rejected)
                    throw;
                pr = pass_result{};
                pr.replaced = method::change_feed;
                pr.replaced_because = e.what();
                pr.used = remote_can_checksum<remote_type> ? method::checksums : method::full_scan;
                passes.resize(i + 1);
                p.emplace(plan(s, pr.used, pr));
            }
            // Foreign records have no identity of ours: counted in the report, not here.
            pr.identities = p->cases.size() - p->count(case_kind::foreign) + p->count(case_kind::in_sync);
            pr.rep = r_->apply(*p, s);
            for (std::size_t a = 0; a < pr.rep.actions.size() && a < p->actions.size(); ++a) {
                const auto& out = pr.rep.actions[a].outcome;
                if (remote_effect(p->actions[a].kind) && (out == "done" || out == "settled")) ++own_writes;
                // A skipped action (its case changed since the plan, or an earlier action of it failed)
                // leaves the case for the next plan: the next feed must show it again.
                if (out == "failed" || out == "skipped") held_case(*p, p->actions[a].group, res.cursor_before, hold);
            }
            for (const auto& d : p->decisions) held_case(*p, d.group, res.cursor_before, hold);
            for (const auto& rec : left_out_)  // what the feed showed but could not settle: shown again
                if (!res.cursor_before || rec.second > *res.cursor_before) hold.push_back(rec);
            res.passes.push_back(std::move(pr));
        }
        if constexpr (has_head) {
            // Past the sync's own writes only when they are all that happened since the head was read
            // (a write someone else made in between would be skipped otherwise).
            const auto now_head = r_->remote().head();
            if (head_before && now_head >= *head_before && now_head - *head_before == own_writes) cur = now_head;
        }
        // Every record held counts once (a seq names one record), whether or not it lowered the cursor.
        std::set<std::uint64_t> held_seqs;
        bool from_start = false;
        for (const auto& [id, seq] : hold) {
            lower(cur, seq, from_start);
            held_seqs.insert(seq);
        }
        res.held = held_seqs.size();
        if (from_start) cur.reset();
        finish_commit(r_->store(), s, r_->cursor_name(), cur, opts_.now(), true);
        if constexpr (has_lineage) {
            // Now that the store holds the lineage (a first run's is new): the replica is its copy.
            if (bound != s.status().lineage) r_->remote().set_lineage(s.status().lineage);
        }
        res.cursor_after = cur;
        return res;
    }

    /// The plan of one pass (a dry run when not applied). `pr` receives what the pass read.
    /// (concord::detail is named in full here and below: inside concord::mirror, `detail` would be
    /// concord::mirror::detail when replica.hpp was included first.)
    template <witness W>
    plan_type plan(const timeline_session<W>& s, method m, pass_result& pr) {
        left_out_.clear();
        auto& store = r_->store();
        const auto after = cursor_of(s.status().store, r_->cursor_name());
        if (m == method::change_feed && !after) m = method::full_scan;  // nothing to continue from
        pr.used = m;
        switch (m) {
        case method::change_feed: {
            if constexpr (has_head) {
                // Seqs only grow: a head below the cursor is a replica that lost writes (restored from
                // its own backup, or replaced by a new one). A feed from there shows none of what it
                // lost, and the cursor would silently go back to the head: refused like a compacted
                // feed, so a pass that reads every difference runs (automatic: in the feed's place).
                const std::uint64_t head = head_ ? *head_ : static_cast<std::uint64_t>(r_->remote().head());
                if (head < *after)
                    throw error(errc::cursor_rejected,
                                "mirror change feed: the replica's head is seq " + std::to_string(head) +
                                    ", below the cursor " + std::to_string(*after) +
                                    ": the replica lost writes (restored or replaced), which no feed shows; " +
                                    std::string(full_rescan_recovery) + " (or use method::checksums)");
            }
            auto recs = pull_since(r_->remote(), after, r_->options().page_size, &pr.listing);
            if constexpr (remote_can_checksum<remote_type>) {
                std::vector<key_range> covered;
                recs = whole_identities(std::move(recs), pr.listing, covered);
                pr.listing.calls += by_content(recs, covered, pr.listing.rows);
            }
            note_listed(recs, after);
            // With checksums the feed was widened to whole identities, so it shows every record of
            // each identity it mentions; without, it cannot show an object gone (plan_subset).
            return concord::detail::plan_subset(*r_, s.status(), s.database_adopted(), std::move(recs), {},
                                                remote_can_checksum<remote_type>, &left_out_);
        }
        case method::checksums:
            if constexpr (remote_can_checksum<remote_type>) {
                auto local = local_digest::of(r_->identity(), store.scan());
                auto found = bisect(r_->remote(), local, opts_.bisect);
                found.stats.round_trips += by_content(found.remote, found.ranges, found.stats.rows_fetched);
                pr.bisect = found.stats;
                std::set<key128> extra;
                for (const auto& range : found.ranges)
                    for (const auto& k : local.ids_in(range)) extra.insert(k);
                note_listed(found.remote, after);
                // Whole key ranges: every record of each identity in them is listed.
                return concord::detail::plan_subset(*r_, s.status(), s.database_adopted(), std::move(found.remote), extra,
                                                    true);
            } else {
                throw error(errc::unsupported, "mirror: the replica cannot compute range checksums");
            }
        case method::full_scan:
        case method::automatic: break;
        }
        pr.used = method::full_scan;
        auto recs = pull_since(r_->remote(), std::nullopt, r_->options().page_size, &pr.listing);
        note_listed(recs, after);
        auto p = r_->plan_from(s.status(), s.database_adopted(), store.scan(), store.links(), std::move(recs));
        p.cursor.reset();
        return p;
    }

private:
    template <witness W>
    sync_result sync_unlocked(W& w, method m) {
        auto s = begin_session(w, r_->store());
        auto res = sync(s, m);
        s.commit();
        return res;
    }

    /// The replica records the lineage of the database it mirrors (sqlite_replica does).
    static constexpr bool has_lineage = requires(remote_type& rr, std::string_view l) {
        { rr.lineage() } -> std::same_as<std::optional<std::string>>;
        rr.set_lineage(l);
    };

    static constexpr bool has_head = requires(remote_type& rr) {
        { rr.head() } -> std::convertible_to<std::uint64_t>;
    };

    /// Notes the identity and seq of each listed record written after the cursor `after` (all when
    /// none): a record of an identity whose case failed or waits for a decision holds the cursor.
    /// A case holds no record of its identity's removals, which the next feed must show too.
    template <class Recs>
    void note_listed(const Recs& recs, std::optional<std::uint64_t> after) {
        listed_.clear();
        for (const auto& rec : recs) {
            if (after && rec.seq <= *after) continue;
            if (auto k = concord::detail::claimed_identity(rec)) listed_.emplace_back(*k, rec.seq);
        }
    }

    /// Adds the records that hold the cursor for case `g`: its own, and every listed record of its
    /// identity, written after `after`.
    void held_case(const plan_type& p, std::size_t g, std::optional<std::uint64_t> after,
                   std::vector<std::pair<key128, std::uint64_t>>& out) const {
        if (g >= p.cases.size()) return;
        const auto& c = p.cases[g];
        for (const auto& rec : c.remote)
            if (!after || rec.seq > *after) out.emplace_back(c.identity, rec.seq);
        if (c.identity == key128{}) return;
        for (const auto& [k, seq] : listed_)
            if (k == c.identity) out.emplace_back(k, seq);
    }

    /// Lowers `cur` to just below `seq` (as inbound::puller does). Nothing lies below seq 0: holding
    /// such a record sets `from_start`, and the caller then drops the cursor, so the next sync lists
    /// from the start (kept, the cursor would pass the record for good).
    static void lower(std::optional<std::uint64_t>& cur, std::uint64_t seq, bool& from_start) {
        if (from_start) return;
        if (seq == 0) {
            from_start = true;
            return;
        }
        if (!cur || *cur >= seq) cur = seq - 1;
    }

    /// A listing of whole key ranges (`covered`) is complete only for the identities its records
    /// claim. A record whose content has another identity (a row rewritten, e.g. behind concord's
    /// back, with another row's key) also joins that identity, whose own rows lie outside the
    /// ranges: planned without them, its entity would look as if its object were gone. So the rows
    /// of every such identity are listed too, until the listing holds every record of each identity
    /// its records join; `rows` counts the rows added. Returns the range listings made.
    template <class Recs>
    std::size_t by_content(Recs& recs, std::vector<key_range>& covered, std::size_t& rows) {
        std::size_t calls = 0;
        std::set<std::string> seen;
        for (const auto& rec : recs) seen.insert(rec.remote_id);
        for (std::size_t from = 0;;) {
            // Disjoint ranges: the last one starting at or before a key is the only one that can hold it.
            std::sort(covered.begin(), covered.end(), [](const key_range& a, const key_range& b) { return a.lo < b.lo; });
            std::set<std::string> ids;
            for (std::size_t i = from; i < recs.size(); ++i)
                for (const auto& k : concord::detail::record_identities(*r_, recs[i])) {
                    const auto hex = k.hex();
                    auto c = std::upper_bound(covered.begin(), covered.end(), hex,
                                              [](const std::string& x, const key_range& r) { return x < r.lo; });
                    if (c == covered.begin() || !std::prev(c)->contains(hex)) ids.insert(hex);
                }
            if (ids.empty()) return calls;
            std::vector<key_range> ranges;
            for (const auto& id : ids) ranges.push_back(prefix_range(id));
            auto more = r_->remote().list_ranges(ranges);
            ++calls;
            rows += more.size();
            check_range_listing(more, ranges, "mirror listing (the rows of identities its records join by content)");
            covered.insert(covered.end(), ranges.begin(), ranges.end());
            from = recs.size();
            for (auto& rec : more)
                if (seen.insert(rec.remote_id).second) recs.push_back(std::move(rec));
        }
    }

    /// The feed shows each touched row once, at its latest write, but not the older removals of the
    /// same identities (seq at or below the cursor). The reconciler counts removals to give a
    /// re-creation a fresh idempotency key (a key reused for a removed row would be answered with the
    /// removed row), so every row of each touched identity is fetched: one more call, O(k) rows.
    template <class Recs>
    Recs whole_identities(Recs feed, listing_stats& st, std::vector<key_range>& covered) {
        std::set<std::string> ids;
        Recs keep;  // records without an identity (not ours) stay as the feed showed them
        Recs touched;
        for (auto& rec : feed) {
            auto it = rec.meta.find(std::string(meta_keys::identity));
            if (it != rec.meta.end() && it->second.size() == 32) {
                ids.insert(it->second);
                touched.push_back(std::move(rec));
            } else {
                keep.push_back(std::move(rec));
            }
        }
        if (ids.empty()) return keep;
        std::vector<key_range> ranges;
        ranges.reserve(ids.size());
        for (const auto& id : ids) ranges.push_back(prefix_range(id));
        covered = ranges;
        auto all = r_->remote().list_ranges(ranges);
        ++st.calls;
        st.rows += all.size();
        check_range_listing(all, ranges, "mirror change feed (the rows of its identities)");
        // A range listing may leave removed rows out (only sqlite_replica is known to include them): a
        // record the feed showed stays in, or a removal after the restore point would be dropped (the
        // row never re-created, and the cursor past it).
        std::set<std::string> listed;
        for (const auto& rec : all) listed.insert(rec.remote_id);
        for (auto& rec : touched)
            if (!listed.count(rec.remote_id)) keep.push_back(std::move(rec));
        for (auto& rec : all) keep.push_back(std::move(rec));
        return keep;
    }

    std::vector<method> passes_for(method m, const timeline_status& st, std::optional<std::uint64_t> cur) const {
        if (m != method::automatic) return {m};
        constexpr bool sums = remote_can_checksum<remote_type>;
        if (st.kind == verdict::restored && cur) {
            if (sums) return {method::change_feed, method::checksums};
            return {method::change_feed};
        }
        if (sums) return {method::checksums};
        return {method::full_scan};
    }

    Reconciler* r_;
    mirror_options opts_;
    std::vector<std::pair<key128, std::uint64_t>> listed_;  ///< of the last plan(), see note_listed
    std::vector<std::pair<key128, std::uint64_t>> left_out_;  ///< of the last plan(): records plan_subset left out
    std::optional<std::uint64_t> head_;  ///< during sync(): the replica's head read before the listing
};

} // namespace concord::mirror
