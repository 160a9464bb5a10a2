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
//                 them (host edits since the restore); otherwise checksums, else full_scan
//
// The cursor is the replica's change seq, kept in the host's checkpoint under the reconciler's
// cursor_name(): a restore rewinds it to where the replica stood when that checkpoint was written.
// After each sync it is moved to the replica's head (every change up to there is reconciled).

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <concord/concepts/witness.hpp>
#include <concord/cursor.hpp>
#include <concord/mirror/bisect.hpp>
#include <concord/paging.hpp>
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
};

/// What a sync did: one pass, or two (automatic after a restore).
struct sync_result {
    verdict timeline = verdict::first_run;
    std::vector<pass_result> passes;
    std::optional<std::uint64_t> cursor_before;
    std::optional<std::uint64_t> cursor_after;
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
    template <witness W>
    sync_result sync(W& w, method m = method::automatic) {
        auto s = begin_session(w, r_->store());
        auto res = sync(s, m);
        s.commit();
        return res;
    }

    /// Same, inside a session shared with other reconcilers; the caller commits the session.
    template <witness W>
    sync_result sync(timeline_session<W>& s, method m = method::automatic) {
        sync_result res;
        res.timeline = s.kind();
        res.cursor_before = cursor_of(s.status().store, r_->cursor_name());
        for (auto one : passes_for(m, s.status(), res.cursor_before)) {
            pass_result pr;
            pr.used = one;
            auto p = plan(s, one, pr);
            // Foreign records have no identity of ours: counted in the report, not here.
            pr.identities = p.cases.size() - p.count(case_kind::foreign) + p.count(case_kind::in_sync);
            pr.rep = r_->apply(p, s);
            res.passes.push_back(std::move(pr));
        }
        std::optional<std::uint64_t> cur = res.cursor_before;
        if constexpr (requires(remote_type& rr) { { rr.head() } -> std::convertible_to<std::uint64_t>; })
            cur = r_->remote().head();
        finish_commit(r_->store(), s, r_->cursor_name(), cur, opts_.now());
        res.cursor_after = cur;
        return res;
    }

    /// The plan of one pass (a dry run when not applied). `pr` receives what the pass read.
    template <witness W>
    plan_type plan(const timeline_session<W>& s, method m, pass_result& pr) {
        auto& store = r_->store();
        const auto after = cursor_of(s.status().store, r_->cursor_name());
        if (m == method::change_feed && !after) m = method::full_scan;  // nothing to continue from
        pr.used = m;
        switch (m) {
        case method::change_feed: {
            auto recs = pull_since(r_->remote(), after, r_->options().page_size, &pr.listing);
            if constexpr (remote_can_checksum<remote_type>) recs = whole_identities(std::move(recs), pr.listing);
            return detail::plan_subset(*r_, s.status(), s.database_adopted(), std::move(recs));
        }
        case method::checksums:
            if constexpr (remote_can_checksum<remote_type>) {
                auto local = local_digest::of(r_->identity(), store.scan());
                auto found = bisect(r_->remote(), local, opts_.bisect);
                pr.bisect = found.stats;
                std::set<key128> extra;
                for (const auto& range : found.ranges)
                    for (const auto& k : local.ids_in(range)) extra.insert(k);
                return detail::plan_subset(*r_, s.status(), s.database_adopted(), std::move(found.remote), extra);
            } else {
                throw error(errc::unsupported, "mirror: the replica cannot compute range checksums");
            }
        case method::full_scan:
        case method::automatic: break;
        }
        pr.used = method::full_scan;
        auto recs = pull_since(r_->remote(), std::nullopt, r_->options().page_size, &pr.listing);
        auto p = r_->plan_from(s.status(), s.database_adopted(), store.scan(), store.links(), std::move(recs));
        p.cursor.reset();
        return p;
    }

private:
    /// The feed shows each touched row once, at its latest write, but not the older removals of the
    /// same identities (seq at or below the cursor). The reconciler counts removals to give a
    /// re-creation a fresh idempotency key (a key reused for a removed row would be answered with the
    /// removed row), so every row of each touched identity is fetched: one more call, O(k) rows.
    template <class Recs>
    Recs whole_identities(Recs feed, listing_stats& st) {
        std::set<std::string> ids;
        Recs keep;  // records without an identity (not ours) stay as the feed showed them
        for (auto& rec : feed) {
            auto it = rec.meta.find(std::string(meta_keys::identity));
            if (it != rec.meta.end() && it->second.size() == 32) ids.insert(it->second);
            else keep.push_back(std::move(rec));
        }
        if (ids.empty()) return keep;
        std::vector<key_range> ranges;
        ranges.reserve(ids.size());
        for (const auto& id : ids) ranges.push_back(prefix_range(id));
        auto all = r_->remote().list_ranges(ranges);
        ++st.calls;
        st.rows += all.size();
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
};

} // namespace concord::mirror
