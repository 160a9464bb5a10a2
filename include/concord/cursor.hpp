#pragma once
// Incremental cursor paging ("next N with seq > X") that refuses bad pages, scans bounded by
// creation time, and the small pieces the inbound and mirror shapes share: a plan restricted to the
// identities a partial listing saw, and the final checkpoint write carrying the cursor and the
// commit time.
//
// What each scan can see (docs/scans.md has the long form):
//  * a cursor over seq (an id watermark) sees records *created* (or, at remotes that move a record
//    to a new seq on every write, *written*) since the cursor; it never sees a remote delete;
//  * a bounded scan by creation time sees only what was created since that time: after a restore,
//    every object a lost generation created is younger than the restored checkpoint's commit time,
//    so orphans of the lost generations are found without listing everything;
//  * only a full scan (or range checksums) sees everything, deletes included.
//
// Every refusal is a concord::error with errc::bad_page or errc::cursor_rejected whose message names
// the cursor and the recovery: a full re-scan (the listing from the start, which also resets the
// cursor). Nothing is classified or acted upon from a listing that was refused.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <concord/concepts/remote_source.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/paging.hpp>
#include <concord/plan.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>

namespace concord {

/// The recovery every cursor error names, so a log reader knows what to do next.
inline constexpr std::string_view full_rescan_recovery =
    "recovery: run a full re-scan (list from the start, which also resets the cursor); nothing was classified or "
    "acted upon from this listing";

/// Checkpoint cursor entry holding the commit time (Unix seconds) of the checkpoint it is part of.
/// After a restore, every generation the restore lost began after this time, so a creation-time
/// bounded scan from it finds every object the lost generations created.
inline constexpr std::string_view commit_time_cursor = "concord/committed_at";

/// Seconds since the Unix epoch from the system clock: the default clock of the shapes.
inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// The cursor `name` of a checkpoint, if the checkpoint exists and has one.
inline std::optional<std::uint64_t> cursor_of(const std::optional<checkpoint>& cp, std::string_view name) {
    if (!cp) return std::nullopt;
    auto it = cp->cursors.find(std::string(name));
    if (it == cp->cursors.end()) return std::nullopt;
    return it->second;
}

/// The commit time a checkpoint carries (written by the shapes' final commit), if any. One above
/// INT64_MAX was not written by finish_commit (it writes 0 for a negative time): taken as a negative
/// time it would wrap a scan bound into the far future, and the scan would find no orphan.
inline std::optional<std::int64_t> commit_time_of(const std::optional<checkpoint>& cp) {
    auto c = cursor_of(cp, commit_time_cursor);
    if (!c) return std::nullopt;
    if (*c > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw error(errc::checkpoint_corrupt, "checkpoint cursor '" + std::string(commit_time_cursor) + "' holds " +
                                                  std::to_string(*c) + ", which is no Unix time finish_commit wrote: "
                                                  "only a full scan is safe");
    return static_cast<std::int64_t>(*c);
}

/// Where an orphan scan after a restore may start: the restored checkpoint's commit time minus
/// `clock_skew_seconds` (host and remote clocks differ). nullopt when the verdict is not `restored`
/// or the checkpoint carries no commit time: then only a full scan is safe.
inline std::optional<std::int64_t> restore_scan_bound(const timeline_status& st, std::int64_t clock_skew_seconds = 300) {
    // A negative allowance would start the scan after the commit time and miss what the lost
    // generations created first (and could overflow below).
    if (clock_skew_seconds < 0)
        throw error(errc::invalid_argument, "restore_scan_bound: clock_skew_seconds is " +
                                                std::to_string(clock_skew_seconds) + ", it must be 0 or more");
    if (st.kind != verdict::restored) return std::nullopt;
    auto t = commit_time_of(st.store);
    if (!t) return std::nullopt;
    return *t - clock_skew_seconds;
}

namespace detail {

/// Validates one page of a listing that continues after `after`, with context for the message.
template <class E>
void check_cursor_page(const page<E>& p, std::optional<std::uint64_t> after, std::size_t limit,
                       std::unordered_set<std::string>& seen, std::string_view what) {
    auto fail = [&](const std::string& why) {
        throw error(errc::bad_page, std::string(what) + " after cursor " + (after ? std::to_string(*after) : "(start)") +
                                        ": " + why + "; " + std::string(full_rescan_recovery));
    };
    if (p.items.size() > limit)
        fail("the page holds " + std::to_string(p.items.size()) + " records, " + std::to_string(limit) + " were asked for");
    if (p.has_more && p.items.empty()) fail("the remote says more records follow but sent none, so the cursor cannot advance");
    std::optional<std::uint64_t> prev = after;
    for (const auto& r : p.items) {
        if (r.remote_id.empty()) fail("the record with seq " + std::to_string(r.seq) + " has an empty remote id");
        if (prev && r.seq < *prev)
            fail("ids go backwards: seq " + std::to_string(r.seq) + " after " + std::to_string(*prev) + " (remote id '" +
                 r.remote_id + "')");
        if (prev && r.seq == *prev)
            fail("seq " + std::to_string(r.seq) + " is repeated (remote id '" + r.remote_id + "')");
        if (!seen.insert(r.remote_id).second)
            fail("remote id '" + r.remote_id + "' is listed twice (now with seq " + std::to_string(r.seq) + ")");
        prev = r.seq;
    }
}

template <class F>
auto call_remote(F&& f, std::optional<std::uint64_t> after, std::string_view what) {
    try {
        return f();
    } catch (const error& e) {
        if (e.code() != errc::cursor_rejected) throw;
        std::throw_with_nested(error(errc::cursor_rejected, std::string(what) + ": the remote no longer accepts cursor " +
                                                                (after ? std::to_string(*after) : "(start)") + " (" +
                                                                e.what() + "); " + std::string(full_rescan_recovery)));
    }
}

} // namespace detail

/// Incremental pull: every record with seq > after (all when nullopt), page by page. Refuses, with
/// errc::bad_page, a page larger than asked, ids going backwards, a repeated seq or remote id, an
/// empty remote id and "more follow" with an empty page; a remote that throws errc::cursor_rejected
/// (an expired or pruned cursor) is reported with the cursor. `stats` counts calls and rows.
template <remote_source R>
std::vector<remote_record<typename R::entity_type>> pull_since(R& remote, std::optional<std::uint64_t> after,
                                                               std::size_t page_size, listing_stats* stats = nullptr) {
    if (page_size == 0) throw error(errc::invalid_argument, "page size must be at least 1");
    std::vector<remote_record<typename R::entity_type>> out;
    std::unordered_set<std::string> seen;
    for (;;) {
        auto p = detail::call_remote([&] { return remote.list(after, page_size); }, after, "incremental pull");
        if (stats) {
            ++stats->calls;
            stats->rows += p.items.size();
        }
        detail::check_cursor_page(p, after, page_size, seen, "incremental pull");
        for (auto& r : p.items) {
            after = r.seq;
            out.push_back(std::move(r));
        }
        if (!p.has_more) break;
    }
    return out;
}

/// Bounded scan: every record created at or after `since` (remote clock, seconds), through the
/// remote's creation-time filter, with the same page checks as pull_since.
template <remote_source R>
    requires remote_can_list_since<R>
std::vector<remote_record<typename R::entity_type>> list_created_since_all(R& remote, std::int64_t since,
                                                                           std::size_t page_size,
                                                                           listing_stats* stats = nullptr) {
    if (page_size == 0) throw error(errc::invalid_argument, "page size must be at least 1");
    std::vector<remote_record<typename R::entity_type>> out;
    std::unordered_set<std::string> seen;
    std::optional<std::uint64_t> after;
    for (;;) {
        auto p = detail::call_remote([&] { return remote.list_created_since(since, after, page_size); }, after,
                                     "creation-time bounded scan");
        if (stats) {
            ++stats->calls;
            stats->rows += p.items.size();
        }
        detail::check_cursor_page(p, after, page_size, seen, "creation-time bounded scan");
        for (auto& r : p.items) {
            if (r.created_at < since)
                throw error(errc::bad_page, "creation-time bounded scan: record '" + r.remote_id + "' was created at " +
                                                std::to_string(r.created_at) + ", before the bound " +
                                                std::to_string(since) + "; " + std::string(full_rescan_recovery));
            after = r.seq;
            out.push_back(std::move(r));
        }
        if (!p.has_more) break;
    }
    return out;
}

namespace detail {

/// The identity a remote record's stamp claims (its metadata), if it parses.
template <class E>
std::optional<key128> claimed_identity(const remote_record<E>& r) {
    auto it = r.meta.find(std::string(meta_keys::identity));
    key128 k;
    if (it != r.meta.end() && k.parse_hex(it->second)) return k;
    return std::nullopt;
}

/// Every identity a record may join under: the one its stamp claims and, where the identity policy
/// can recompute it (inbound remotes, stable policies), the one its content has.
template <class Reconciler, class E>
std::vector<key128> record_identities(Reconciler& r, const remote_record<E>& rec) {
    const bool by_content = r.options().inbound || std::remove_cvref_t<decltype(r.identity())>::stable_across_restores;
    std::vector<key128> out;
    if (auto k = claimed_identity(rec)) out.push_back(*k);
    if (by_content) {
        try {
            const auto k = r.identity().key(rec.value);
            if (out.empty() || out.front() != k) out.push_back(k);
        } catch (const error&) {
            // no identity by content: only the claim, if any
        }
    }
    return out;
}

/// Notes in `out` the identity and seq of each record of `remote` that may join an identity in
/// `shared` (one two local entities share): plan_from leaves those records alone with an
/// errc::duplicate_local problem until the host removes or changes one of the entities, so a cursor
/// past them would never list them again.
template <class Reconciler, class E>
void note_shared(Reconciler& r, const std::set<key128>& shared, const std::vector<remote_record<E>>& remote,
                 std::vector<std::pair<key128, std::uint64_t>>& out) {
    if (shared.empty()) return;
    for (const auto& rec : remote)
        for (const auto& k : record_identities(r, rec))
            if (shared.count(k)) {
                out.emplace_back(k, rec.seq);
                break;
            }
}

/// The identities two or more of `local` share.
template <class Reconciler, class E>
std::set<key128> shared_identities(Reconciler& r, const std::vector<E>& local) {
    std::set<key128> seen, shared;
    for (const auto& e : local) {
        try {
            const auto k = r.identity().key(e);
            if (!seen.insert(k).second) shared.insert(k);
        } catch (const error&) {
            // no identity: reported by the plan
        }
    }
    return shared;
}

/// plan_from restricted to the identities `remote` mentions (plus `extra`): local entities whose
/// identity is not in the set are left out, so they are neither local_only nor anything else.
/// Correct whenever the caller knows every other identity is unchanged (an incremental pull, a
/// checksum-equal range, a bounded scan that only looks for orphans). The plan never moves the
/// cursor: callers write it themselves (finish_commit).
///
/// A partial listing cannot show that an object is gone. Unless `complete` (the listing holds every
/// record of each identity it mentions: whole key ranges, whole identities), an identity whose link
/// names an object the listing does not show is left out of the plan with its listed records and an
/// errc::partial_listing problem: classified here, its entity would look as if its object were gone
/// (local_only: removed or created again) or as if a second object were its own (relinkable:
/// adopted, the first one left unlinked). A full scan settles it. `left_out` receives the identity
/// and seq of each record left out, and of each record of an identity two local entities share
/// (plan_from leaves those alone with an errc::duplicate_local problem until the host settles its
/// duplicate), so a caller with a cursor can keep it below them.
template <class Reconciler, class E>
auto plan_subset(Reconciler& r, const timeline_status& st, bool adopted, std::vector<remote_record<E>> remote,
                 const std::set<key128>& extra = {}, bool complete = false,
                 std::vector<std::pair<key128, std::uint64_t>>* left_out = nullptr) {
    std::vector<std::vector<key128>> rec_ids;
    rec_ids.reserve(remote.size());
    std::set<key128> ids = extra;
    std::set<std::string_view> listed;
    for (const auto& rec : remote) {
        rec_ids.push_back(record_identities(r, rec));
        ids.insert(rec_ids.back().begin(), rec_ids.back().end());
        listed.insert(rec.remote_id);
    }
    auto& store = r.store();
    auto links = store.links();
    std::map<key128, std::string> unsettled;  // identity -> the remote id its link names, not listed
    if (!complete)
        for (const auto& l : links)
            if (ids.count(l.identity) && !extra.count(l.identity) && !listed.count(l.remote_id))
                unsettled.emplace(l.identity, l.remote_id);
    std::vector<problem> problems;
    // A record left out is left out of every identity it joins (its stamp's and its content's): the
    // others, planned without it, would look as if their object were gone. So those identities are
    // left alone too, with every record they join, until nothing more is left out.
    std::set<key128> held;
    for (const auto& [k, rid] : unsettled) held.insert(k);
    std::vector<const key128*> out_of(remote.size(), nullptr);
    for (bool grew = !held.empty(); grew;) {
        grew = false;
        for (std::size_t i = 0; i < remote.size(); ++i) {
            if (out_of[i]) continue;
            for (const auto& k : rec_ids[i])
                if (held.count(k)) out_of[i] = &k;
            if (!out_of[i]) continue;
            for (const auto& k : rec_ids[i]) grew = held.insert(k).second || grew;
        }
    }
    if (!held.empty()) {
        std::map<key128, std::string> shown;  // identity -> the remote ids listed for it
        std::vector<remote_record<E>> kept;
        kept.reserve(remote.size());
        for (std::size_t i = 0; i < remote.size(); ++i) {
            if (!out_of[i]) {
                kept.push_back(std::move(remote[i]));
                continue;
            }
            for (const auto& k : rec_ids[i]) {
                auto& list = shown[k];
                list += (list.empty() ? "" : ", ") + remote[i].remote_id;
            }
            if (left_out) left_out->emplace_back(*out_of[i], remote[i].seq);
        }
        remote = std::move(kept);
        std::set<key128> with_link;
        for (const auto& l : links)
            if (held.count(l.identity)) with_link.insert(l.identity);
        for (const auto& k : held) {
            if (unsettled.count(k) || !with_link.count(k)) continue;  // unlinked: nothing of it is planned
            problems.push_back({errc::partial_listing,
                                "identity " + k.hex() + " is left alone with " + shown[k] + ", which also join" +
                                    " an identity this partial listing cannot settle; a full scan settles it"});
        }
        for (const auto& [k, rid] : unsettled) {
            auto it = shown.find(k);
            if (it == shown.end()) continue;  // no listed record of it is left out: nothing to say
            problems.push_back({errc::partial_listing,
                                "identity " + k.hex() + " is linked to " + rid + ", which this partial listing does not "
                                "show, while it lists " + it->second + ": left alone (the listing cannot tell whether " +
                                rid + " still exists); a full scan settles it"});
        }
    }
    std::vector<E> local;
    std::set<key128> shared;  // identities two local entities share: plan_from leaves their records alone
    if (!ids.empty()) {
        std::set<key128> taken;
        for (auto& e : store.scan()) {
            try {
                const auto k = r.identity().key(e);
                if (ids.count(k) && !held.count(k)) {
                    if (!taken.insert(k).second) shared.insert(k);
                    local.push_back(std::move(e));
                }
            } catch (const error&) {
                // Kept: the plan reports it, and asks about linked orphans, which may be its object
                // (plan::unkeyed_local).
                local.push_back(std::move(e));
            }
        }
    }
    if (left_out) note_shared(r, shared, remote, *left_out);  // left alone: the cursor stays below them
    auto p = r.plan_from(st, adopted, std::move(local), links, std::move(remote));
    p.cursor.reset();
    p.problems.insert(p.problems.end(), problems.begin(), problems.end());
    return p;
}

} // namespace detail

/// Writes the session's checkpoint after apply(): the generation, the cursor `name` (set to
/// `cursor`, or erased when nullopt and `erase_when_empty`), and the commit time. One store
/// transaction; the session learns that the store holds its generation, so the witness may follow.
template <class Store, class Session>
void finish_commit(Store& store, Session& session, const std::string& name, std::optional<std::uint64_t> cursor,
                   std::int64_t now, bool erase_when_empty = false) {
    change_batch<typename Store::entity_type> b;
    auto cp = session.next_checkpoint(store.load_checkpoint());
    if (cursor) cp.cursors[name] = *cursor;
    else if (erase_when_empty) cp.cursors.erase(name);
    cp.cursors[std::string(commit_time_cursor)] = static_cast<std::uint64_t>(now < 0 ? 0 : now);
    b.new_checkpoint = cp;
    store.commit(b);
    if constexpr (requires { session.note_store_committed(); }) session.note_store_committed();
}

/// Orphan scan bounded by creation time: lists what the remote created since `since` (see
/// restore_scan_bound) and plans those records against the local entities with the same
/// identities. Orphans among objects created before `since` are not this scan's to find (a full
/// scan finds them). `stats` counts the remote calls and rows.
template <class Reconciler>
    requires remote_can_list_since<std::remove_reference_t<decltype(std::declval<Reconciler&>().remote())>>
auto plan_orphans_since(Reconciler& r, const timeline_status& st, bool adopted, std::int64_t since,
                        listing_stats* stats = nullptr) {
    auto recs = list_created_since_all(r.remote(), since, r.options().page_size, stats);
    return detail::plan_subset(r, st, adopted, std::move(recs));
}

} // namespace concord
