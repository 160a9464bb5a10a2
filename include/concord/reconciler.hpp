#pragma once
// The reconciler: reads both sides, classifies every entity into exactly one case (brief section
// 4), lets the conflict policy choose a resolution per case (section 5), and applies the chosen
// actions with idempotency keys, bounded retries and crash-safe ordering (section 6).
//
// Data flow (docs/design.md has the picture):
//   store.scan() + store.links() ──┐
//                                  ├─ join on identity key ─ classify ─ policy ─ plan ─ apply
//   remote.list() pages ───────────┘        (sort-merge)                                 │
//   witness + checkpoint ─ timeline verdict ───────────────────────────────────────────────┘
//
// Crash safety comes from the order of effects, not from a journal: every remote effect carries an
// idempotency key derived from the stable identity and is stamped (owner tag, identity, generation),
// and local changes are committed after the remote effect. A crash between the two leaves a remote
// object the next plan classifies as relinkable (adopted) or an already-cancelled object (gone), so
// the next reconcile completes the work without a second remote effect.

#include <algorithm>
#include <charconv>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include <concord/cases.hpp>
#include <concord/clock.hpp>
#include <concord/concepts/conflict_policy.hpp>
#include <concord/concepts/identity_policy.hpp>
#include <concord/concepts/remote_source.hpp>
#include <concord/concepts/store.hpp>
#include <concord/concepts/witness.hpp>
#include <concord/decision_book.hpp>
#include <concord/detail/key_sort.hpp>
#include <concord/detail/case_order.hpp>
#include <concord/detail/listed_once.hpp>
#include <concord/detail/parallel.hpp>
#include <concord/detail/retry.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/identity.hpp>
#include <concord/paging.hpp>
#include <concord/plan.hpp>
#include <concord/records.hpp>
#include <concord/report.hpp>
#include <concord/timeline.hpp>

namespace concord {

/// Library version written into the "reconcile in progress" marker.
inline constexpr std::string_view version = "0.1.0";

/// Run-time settings of a reconciler.
struct reconciler_options {
    owner_tag owner;                 ///< this installation and integration (required)
    std::string entity_name = "entity";  ///< label in reports; part of decision ids (one per type sharing a decision book)
    std::size_t page_size = 100;     ///< remote listing page size
    std::size_t batch_size = 256;    ///< cases per local transaction during apply
    retry_policy retry{};
    /// Inbound shape: the remote creates the entities. Every record without another owner's tag is
    /// ours, its identity is computed from its content, and new ones are imported.
    bool inbound = false;
    /// Name of the store's reconcile lock taken by reconcile() when the store offers one
    /// (`lock_reconcile(std::string_view)`, e.g. postgres_store): a second reconcile on the same
    /// database then stops with errc::concurrent_reconcile before it reads or changes anything.
    std::string lock_scope = "concord";
    /// Threads plan() may use (at least 1). With more than one, the passes over large inputs (identity
    /// keys, fingerprints, ownership checks, sorting, building and deciding the cases) are split into
    /// slices that run at once, and the Identity policy's key() and describe(), the conflict policy's
    /// decide() and the reference check are then called from several threads at a time: they must not
    /// change shared state (the decision book is asked under a lock). plan() also reads the store on a
    /// second thread while the calling thread lists the remote. The plan is the same for every thread count.
    unsigned threads = 1;
    /// With threads > 1: a pass over fewer than this many entities or links per thread (a sixteenth
    /// as many cases, which cost more each) uses fewer threads; starting a thread costs tens of
    /// microseconds. At least 1.
    std::size_t min_slice = 16384;
};

/// The processors online (at least 1): a value for reconciler_options::threads. Asks sysconf()
/// rather than std::thread, whose header costs about a second of compile time.
inline unsigned hardware_threads() noexcept {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 1u;
}

/// Called at every step boundary of apply() with a description of the step; tests throw from it to
/// simulate a crash.
using step_hook = std::function<void(std::string_view)>;

namespace detail {

/// The part of a reconciler that depends on the entity type and its identity policy alone: the
/// classification (the join, ownership, the cases), decision ids and texts, and reports. A base of
/// its own so that a program with several reconcilers of one entity type (one per conflict policy,
/// store or remote) compiles this code once per entity type instead of once per reconciler type.
template <entity E, class Identity>
class reconciler_base {
protected:
    using plan_type = concord::plan<E>;

    reconciler_base(reconciler_options opts, Identity id) : opts_(std::move(opts)), identity_(std::move(id)) {}
    bool recomputable() const { return Identity::stable_across_restores; }

    /// 64-bit summary of a remote id, folded into join rows: a pair is in sync when the local row's
    /// (fingerprint XOR link's remote id) equals the remote row's (fingerprint XOR its remote id).
    static std::uint64_t id_hash(std::string_view remote_id) noexcept {
        return XXH3_64bits(remote_id.data(), remote_id.size());
    }

    // Classification is a join on identity keys. Every input is read once, in order, into 24-byte
    // rows (detail::key_row); the rows are sorted in place by radix and merged. An identity whose
    // rows show one local, one remote, a link to that remote and equal fingerprints is in sync and
    // costs nothing more. The others (the few that need a decision) are noted by input position and
    // built into cases after the rows are freed, so the rows and the cases never add up in memory;
    // each carries the position of its first link, noted while the links were folded into the rows.
    // Rows join on the top 96 bits of the identity key. A false "in sync" would need a 64-bit
    // collision of fingerprint XOR remote-id hash between two different pairs of one identity (about
    // 2^-64 per pair). Two identities equal in 96 bits (about n^2 / 2^97 for n identities) are found
    // where the full keys are at hand (duplicate locals, case building) and left alone with a
    // problem; everything else is checked exactly.
    void classify(plan_type& p, const std::vector<E>& local, const std::vector<link>& links,
                  const std::vector<remote_record<E>>& remote) const {
        using detail::key_row;
        const auto& st = p.timeline;
        const unsigned threads = opts_.threads;
        const std::size_t min_slice = opts_.min_slice;
        constexpr std::size_t max_rows = key_row::max_index;
        if (local.size() > max_rows || links.size() > max_rows || remote.size() > max_rows)
            throw error(errc::invalid_argument, "plan: more than 2,147,483,647 entities on one side; use stream_merge()");

        // With an identity recomputable from the content (and not inbound), active remote records join
        // by that identity before their ownership is checked: a pair the rows prove in sync (linked to
        // this very object, same content) needs nothing, and the link is the proof that the object is
        // ours. Every record of an identity that needs a case goes through owned() before the case is
        // built, and those that fail become foreign cases as before. Other identities read the stamp,
        // which carries the only identity a remote record has for them.
        const bool verify_late = recomputable() && !opts_.inbound;

        // An identity that needs a case: its local entity (or none) and its remote objects, by position.
        constexpr std::uint32_t none = 0xFFFFFFFFu;
        constexpr std::uint32_t held = 0xFFFFFFFEu;  // pending::link of an identity two local entities share
        struct pending {
            std::uint32_t local, first, count;  // remote positions: todo_remote[first, first + count)
            std::uint32_t link;                 // its first link (lowest input position), or none
        };
        std::vector<pending> todo;
        std::vector<std::uint32_t> todo_remote;
        std::map<key128, std::uint64_t> cancelled;  // identity -> cancelled objects of ours (create instance)
        std::vector<std::uint32_t> cancelled_at;    // their positions: counted, so checked for being listed once
        std::vector<std::uint32_t> foreign_at;      // active records set apart as not ours: each a case, counted too
        // 32 bits of each remote id's hash, noted while the records are read, for the check below
        // that the listing names each object of a case once (detail::find_listed_twice).
        const auto rid_hash = std::make_unique_for_overwrite<std::uint32_t[]>(remote.size());
        {
            // Local side: identity and fingerprint per entity; two entities with one identity are refused.
            detail::row_buffer lrows(local.size());
            {
                const unsigned k = detail::slices_for(local.size(), threads, min_slice);
                std::vector<std::vector<problem>> unkeyed(k);
                detail::fill_rows(lrows, local.size(), k, [&](unsigned s, std::size_t i, key_row& row) {
                    try {
                        row = key_row::make(identity_.key(local[i]), fingerprint(local[i]).lo, i);
                        return true;
                    } catch (const error& e) {
                        unkeyed[s].push_back({e.code(), "local " + to_string(local[i], opts_.entity_name) + ": " + e.what()});
                        return false;
                    }
                });
                for (auto& v : unkeyed) {
                    p.unkeyed_local += v.size();
                    std::move(v.begin(), v.end(), std::back_inserter(p.problems));
                }
            }
            detail::sort_rows_sliced(lrows.data(), lrows.size(), threads, min_slice);
            std::vector<key_row> bad;  // one row of each identity two local entities share, in key order
            for (std::size_t i = 1; i < lrows.size(); ++i)
                if (lrows[i].same_key(lrows[i - 1]) && (bad.empty() || !bad.back().same_key(lrows[i]))) {
                    bad.push_back(lrows[i]);
                    const E& e = local[lrows[i].index()];
                    const key128 k = identity_.key(e), k0 = identity_.key(local[lrows[i - 1].index()]);
                    if (k != k0)
                        p.problems.push_back({errc::identity_collision,
                                              "identity keys " + k0.hex() + " and " + k.hex() +
                                                  " agree in their top 96 bits: both are left alone"});
                    else
                        p.problems.push_back({errc::duplicate_local,
                                              "two local entities share identity " + k.hex() + " (" +
                                                  identity_.describe(e) +
                                                  "): both are left alone until one is changed or removed"});
                }

            // Links: each local row folds the remote id of the first link of its identity (lowest input
            // position) into its tag, and which link that is goes into link_at (4 bytes a row, kept
            // for the merge). The first link of each identity no local row has goes into `loose`, in
            // key order, for the remote-only identities (orphans); usually there are none.
            std::vector<std::uint32_t> link_at(lrows.size(), none);
            std::vector<key_row> loose;
            // One buffer for the link rows and then the remote rows: the link rows are done with
            // before the remote rows are made, and fresh memory costs a page fault per page on first
            // touch (10^6 plan, one thread: about 4 ms less than a buffer each; benchmarks/NOTES.md).
            detail::row_buffer side(std::max(links.size(), remote.size()));
            {
                detail::row_buffer& krows = side;
                detail::fill_rows(krows, links.size(), detail::slices_for(links.size(), threads, min_slice),
                                  [&](unsigned, std::size_t i, key_row& row) {
                                      row = key_row::make(links[i].identity, id_hash(links[i].remote_id), i);
                                      return true;
                                  });
                detail::sort_rows_sliced(krows.data(), krows.size(), threads, min_slice);
                // In slices of key ranges (their top byte), each merging its share of both row arrays.
                const unsigned kj = detail::slices_for(lrows.size() + krows.size(), threads, min_slice);
                std::vector<std::vector<key_row>> loose_of(kj);
                detail::run_slices(kj, [&](unsigned s) {
                    const auto [lb, le] = detail::rows_of_slice(lrows.data(), lrows.size(), kj, s);
                    const auto kr = detail::rows_of_slice(krows.data(), krows.size(), kj, s);
                    std::size_t k = kr.begin;  // not a structured binding: pass_to captures it (clang 14)
                    const std::size_t ke = kr.end;
                    auto& out = s == 0 ? loose : loose_of[s];
                    const key_row* prev = nullptr;  // the previous local row (none of an earlier slice's key)
                    // Link rows before `l` (all that are left without one) whose key no local row has.
                    auto pass_to = [&](const key_row* l) {
                        for (; k < ke && (!l || krows[k].key_less(*l)); ++k)
                            if (!(prev && krows[k].same_key(*prev)) && (out.empty() || !out.back().same_key(krows[k])))
                                out.push_back(krows[k]);
                    };
                    for (std::size_t i = lb; i < le; ++i) {
                        auto& l = lrows[i];
                        pass_to(&l);
                        if (k < ke && krows[k].same_key(l)) {
                            l.tag ^= krows[k].tag;
                            l.set_linked();
                            link_at[i] = static_cast<std::uint32_t>(krows[k].index());
                        }
                        prev = &l;
                    }
                    pass_to(nullptr);
                });
                for (unsigned s = 1; s < kj; ++s) loose.insert(loose.end(), loose_of[s].begin(), loose_of[s].end());
            }

            // Remote side: ownership, identity, cursor.
            detail::row_buffer& rrows = side;
            rrows.set_size(0);
            {
                struct remote_slice {
                    std::optional<std::uint64_t> cursor;
                    std::vector<problem> problems;
                    std::vector<classified<E>> foreign;
                    std::map<key128, std::uint64_t> cancelled;
                    std::vector<std::uint32_t> cancelled_at;
                    std::vector<std::uint32_t> foreign_at;
                };
                const unsigned k = detail::slices_for(remote.size(), threads, min_slice);
                std::vector<remote_slice> out(k);
                detail::fill_rows(rrows, remote.size(), k, [&](unsigned s, std::size_t i, key_row& row) {
                    const auto& r = remote[i];
                    auto& o = out[s];
                    const std::uint64_t rh = id_hash(r.remote_id);
                    rid_hash[i] = static_cast<std::uint32_t>(rh);
                    if (verify_late && r.state == remote_state::active) {
                        // Joined by the identity of its content; owned() runs in the case phase for the
                        // few that need a case (an exact in-sync pair is proven ours by its link).
                        bool keyed = true;
                        key128 cid;
                        try {
                            cid = identity_.key(r.value);
                        } catch (const error&) {
                            keyed = false;  // no identity: owned() below says why, as a foreign case
                        }
                        if (keyed) {
                            if (!o.cursor || r.seq > *o.cursor) o.cursor = r.seq;
                            row = key_row::make(cid, fingerprint(r.value).lo ^ rh, i);
                            return true;
                        }
                    }
                    std::string why;
                    key128 id;
                    const bool ours = owned(r, st, id, why, o.problems);
                    // A cancelled record that is not ours needs nothing, now or later, so it does not
                    // move the cursor: a remote witness's markers (cancelled at once) would otherwise
                    // make every reconcile commit, and so save the witness, for the last one.
                    if ((ours || r.state == remote_state::active) && (!o.cursor || r.seq > *o.cursor)) o.cursor = r.seq;
                    if (!ours) {
                        if (r.state == remote_state::active) {
                            classified<E> c;
                            c.kind = case_kind::foreign;
                            c.remote.push_back(r);
                            c.note = std::move(why);
                            o.foreign.push_back(std::move(c));
                            o.foreign_at.push_back(static_cast<std::uint32_t>(i));
                        }
                        return false;
                    }
                    if (r.state != remote_state::active) {
                        ++o.cancelled[id];
                        o.cancelled_at.push_back(static_cast<std::uint32_t>(i));
                        return false;
                    }
                    row = key_row::make(id, fingerprint(r.value).lo ^ rh, i);
                    return true;
                });
                for (auto& o : out) {  // in slice order: the same plan as one thread makes
                    if (o.cursor && (!p.cursor || *o.cursor > *p.cursor)) p.cursor = o.cursor;
                    std::move(o.problems.begin(), o.problems.end(), std::back_inserter(p.problems));
                    p.counts[static_cast<std::size_t>(case_kind::foreign)] += o.foreign.size();
                    std::move(o.foreign.begin(), o.foreign.end(), std::back_inserter(p.cases));
                    for (const auto& [id, n] : o.cancelled) cancelled[id] += n;
                    cancelled_at.insert(cancelled_at.end(), o.cancelled_at.begin(), o.cancelled_at.end());
                    foreign_at.insert(foreign_at.end(), o.foreign_at.begin(), o.foreign_at.end());
                }
            }
            detail::sort_rows_sliced(rrows.data(), rrows.size(), threads, min_slice);

            // Merge join on identity, in slices of key ranges as above; gathered in slice order.
            struct alignas(64) merged {  // a cache line of its own: slices write theirs at once
                std::vector<pending> todo;
                std::vector<std::uint32_t> remote;
                std::size_t in_sync = 0;
            };
            const unsigned km = detail::slices_for(lrows.size() + rrows.size(), threads, min_slice);
            std::vector<merged> merged_of(km);
            detail::run_slices(km, [&](unsigned s) {
                auto& todo_s = s == 0 ? todo : merged_of[s].todo;
                auto& todo_remote_s = s == 0 ? todo_remote : merged_of[s].remote;
                auto [li, nl] = detail::rows_of_slice(lrows.data(), lrows.size(), km, s);
                auto [ri, nr] = detail::rows_of_slice(rrows.data(), rrows.size(), km, s);
                std::size_t bi = detail::rows_of_slice(bad.data(), bad.size(), km, s).begin;
                std::size_t in_sync = 0;
                while (li < nl || ri < nr) {
                    const bool take_l = li < nl && (ri >= nr || !rrows[ri].key_less(lrows[li]));
                    const bool take_r = ri < nr && (li >= nl || !lrows[li].key_less(rrows[ri]));
                    const key_row& first = take_l ? lrows[li] : rrows[ri];
                    std::size_t lcount = 0, rbegin = ri;
                    while (li < nl && lrows[li].same_key(first)) ++li, ++lcount;
                    if (take_r)
                        while (ri < nr && rrows[ri].same_key(first)) ++ri;
                    const std::size_t rcount = ri - rbegin;
                    const key_row* lrow = lcount ? &lrows[li - 1] : nullptr;
                    if (lrow) {
                        while (bi < bad.size() && bad[bi].key_less(*lrow)) ++bi;
                        if (bi < bad.size() && bad[bi].same_key(*lrow)) {  // two local entities: reported above
                            // Their remote records are left alone too, but not out of the plan: the case
                            // phase reports them (foreign ones as foreign cases, ours by name).
                            if (rcount) {
                                todo_s.push_back({none, static_cast<std::uint32_t>(todo_remote_s.size()),
                                                  static_cast<std::uint32_t>(rcount), held});
                                for (std::size_t k = rbegin; k < ri; ++k)
                                    todo_remote_s.push_back(static_cast<std::uint32_t>(rrows[k].index()));
                            }
                            continue;
                        }
                    }
                    // From the rows alone: one local, one remote, linked to it, same content.
                    if (lrow && rcount == 1 && lrow->linked() && lrow->tag == rrows[rbegin].tag &&
                        (!refs_ok_ || refs_ok_(local[lrow->index()]))) {
                        ++in_sync;
                        continue;
                    }
                    std::uint32_t lk = none;
                    if (lrow) {
                        lk = link_at[li - 1];
                    } else if (!loose.empty()) {
                        const auto at = std::lower_bound(loose.begin(), loose.end(), first,
                                                         [](const key_row& a, const key_row& b) { return a.key_less(b); });
                        if (at != loose.end() && at->same_key(first)) lk = static_cast<std::uint32_t>(at->index());
                    }
                    todo_s.push_back({lrow ? static_cast<std::uint32_t>(lrow->index()) : none,
                                      static_cast<std::uint32_t>(todo_remote_s.size()), static_cast<std::uint32_t>(rcount), lk});
                    for (std::size_t k = rbegin; k < ri; ++k) todo_remote_s.push_back(static_cast<std::uint32_t>(rrows[k].index()));
                }
                merged_of[s].in_sync = in_sync;
            });
            for (unsigned s = 0; s < km; ++s) {
                p.counts[static_cast<std::size_t>(case_kind::in_sync)] += merged_of[s].in_sync;
                if (s == 0) continue;
                const auto offset = static_cast<std::uint32_t>(todo_remote.size());
                for (auto t : merged_of[s].todo) {
                    t.first += offset;
                    todo.push_back(t);
                }
                todo_remote.insert(todo_remote.end(), merged_of[s].remote.begin(), merged_of[s].remote.end());
            }
        }  // the rows are freed here, before the cases are built

        // One object listed twice would be classified twice (a duplicate of itself whose keep_oldest
        // cancels the object it keeps, an orphan beside its own linked case): refused as list_all()
        // refuses it. Only records in a case can be acted on, so only their ids are looked for, and
        // those of the cancelled objects of ours: each counts into a re-creation's key (cancelled_before),
        // so one listed twice would make another key than the remote listed once gives; and those set
        // apart as not ours as they were read: each is a foreign case, and counts into a local_only
        // entity's set_apart (its decision id and its create's key). Appended for the check only
        // (todo names its records by position in todo_remote, before these).
        const std::size_t in_cases = todo_remote.size();
        todo_remote.insert(todo_remote.end(), cancelled_at.begin(), cancelled_at.end());
        todo_remote.insert(todo_remote.end(), foreign_at.begin(), foreign_at.end());
        const auto twice = detail::find_listed_twice(
            rid_hash.get(), remote.size(), todo_remote, &remote,
            [](const void* l, std::size_t i) -> std::string_view {
                return (*static_cast<const std::vector<remote_record<E>>*>(l))[i].remote_id;
            },
            threads, min_slice);
        todo_remote.resize(in_cases);
        if (twice.first != remote.size())
            throw error(errc::bad_page, "remote id '" + remote[twice.first].remote_id + "' listed twice (seq " +
                                            std::to_string(remote[twice.first].seq) + " and " +
                                            std::to_string(remote[twice.second].seq) + ")");

        const unsigned kt = detail::slices_for(todo.size(), threads, std::max<std::size_t>(min_slice / 16, 1));  // a case costs ~16 rows

        // The cases, slice by slice; gathered in slice order below.
        struct case_slice {
            std::vector<classified<E>> cases;
            std::vector<problem> problems;
            std::size_t in_sync = 0;  // identities that were in sync once records not ours were set apart
        };
        std::vector<case_slice> built(kt);
        const std::size_t first_case = p.cases.size();
        p.cases.reserve(p.cases.size() + todo.size());  // room for every slice's cases: no moves below
        detail::run_slices(kt, [&](unsigned s) {
            // Slice 0 (this thread) writes into the plan; the others are appended after it.
            auto& cases = s == 0 ? p.cases : built[s].cases;
            auto& problems = s == 0 ? p.problems : built[s].problems;
            std::vector<std::size_t> group;  // remote indices of one identity, by seq
            std::vector<std::size_t> apart;  // ... and those of them set apart as not ours
            std::vector<key_row> by_seq;     // a group's rows keyed by seq, to sort it
            const auto [from, to] = detail::slice_of(todo.size(), kt, s);
            if (s != 0) cases.reserve(to - from);
            for (std::size_t t = from; t < to; ++t) {
                if (t + 4 < to) {  // the inputs of a case are random reads: ask for those of 4 cases ahead
                    const auto& ahead = todo[t + 4];
                    if (ahead.local != none) detail::prefetch_for_read(&local[ahead.local]);
                    if (ahead.count) detail::prefetch_for_read(&remote[todo_remote[ahead.first]]);
                }
                if (t + 2 < to && todo[t + 2].count) {
                    // ... and, 2 ahead (its record has arrived by then), the first metadata node of its
                    // record and the lines after it, where a stamp's other nodes and strings were
                    // allocated: owned() walks them. 10^6 plan, cases phase (huge pages): 25.6-27.6 to 19.7-21.8 ms.
                    const auto& m = remote[todo_remote[todo[t + 2].first]].meta;
                    if (!m.empty()) {
                        const char* node = reinterpret_cast<const char*>(&*m.begin());
                        for (int line = 0; line < 5; ++line) detail::prefetch_for_read(node + 64 * line);
                    }
                }
                const E* lp = todo[t].local != none ? &local[todo[t].local] : nullptr;
                // The link the rows found by the 96 bits they joined on; checked against the full key below.
                const bool left_alone = todo[t].link == held;
                const link* lk = todo[t].link != none && !left_alone ? &links[todo[t].link] : nullptr;
                group.assign(todo_remote.begin() + todo[t].first, todo_remote.begin() + todo[t].first + todo[t].count);
                apart.clear();
                if (verify_late) {  // the records' ownership, unchecked so far (see verify_late)
                    std::size_t kept = 0;
                    for (const std::size_t k : group) {
                        std::string why;
                        key128 stamped;
                        if (owned(remote[k], st, stamped, why, problems)) {
                            group[kept++] = k;
                            continue;
                        }
                        apart.push_back(k);
                        classified<E> f;
                        f.kind = case_kind::foreign;
                        f.remote.push_back(remote[k]);
                        f.note = std::move(why);
                        cases.push_back(std::move(f));
                    }
                    const bool set_apart = kept != group.size();
                    group.resize(kept);
                    if (!lp && group.empty()) continue;
                    if (set_apart && lp && lk && group.size() == 1 && lk->remote_id == remote[group[0]].remote_id &&
                        fingerprint(*lp).lo == fingerprint(remote[group[0]].value).lo &&
                        (!refs_ok_ || refs_ok_(*lp))) {
                        ++built[s].in_sync;  // what the rows would have found without the others' records
                        continue;
                    }
                }
                if (left_alone) {  // the records of ours of an identity two local entities share
                    if (group.empty()) continue;
                    std::string ids;
                    for (const auto k : group)
                        ids += (ids.empty() ? "" : ", ") + remote[k].remote_id +
                               (remote[k].takes_money ? " (can take money)" : "");
                    problems.push_back({errc::duplicate_local, "remote " + ids + " of identity " +
                                                                   owned_identity(remote[group.front()]).hex() +
                                                                   " left alone with the local entities that share it"});
                    continue;
                }
                const key128 id = lp ? identity_.key(*lp) : owned_identity(remote[group.front()]);
                if (group.size() > 1) {
                    // By seq, equal seqs in input order (a stable sort: the group is in input order, as
                    // its rows were). Rows keyed by seq sort by (seq, input position) with
                    // detail::sort_rows, which every plan compiles anyway; a std::stable_sort here would
                    // be one more sort instantiated per reconciler type (compile time).
                    by_seq.clear();
                    for (const std::size_t k : group)
                        by_seq.push_back({remote[k].seq, 0, static_cast<std::uint32_t>(k << 1), 0});
                    detail::sort_rows(by_seq.data(), by_seq.size());
                    for (std::size_t j = 0; j < by_seq.size(); ++j) group[j] = by_seq[j].index();
                }
                const auto other = std::find_if(group.begin(), group.end(),
                                                [&](std::size_t k) { return owned_identity(remote[k]) != id; });
                if (other != group.end()) {  // two identities equal in the 96 bits the rows join on
                    problems.push_back({errc::identity_collision,
                                        "identity keys " + id.hex() + " and " + owned_identity(remote[*other]).hex() +
                                            " agree in their top 96 bits: both are left alone"});
                    continue;
                }
                if (lk && lk->identity != id) {  // its first link, by those 96 bits, is another identity's
                    problems.push_back({errc::identity_collision,
                                        "identity keys " + id.hex() + " and " + lk->identity.hex() +
                                            " (of a link to " + lk->remote_id + ") agree in their top 96 bits: both are left alone"});
                    continue;
                }
                classified<E> c;
                c.identity = id;
                if (auto it = cancelled.find(id); it != cancelled.end()) c.cancelled_before = it->second;
                if (lk) c.linked_remote = lk->remote_id;
                if (lp) c.local = *lp;
                for (const auto k : group) {
                    c.remote.push_back(remote[k]);
                    if (st.lost(generation_of(c.remote.back()))) c.from_lost_generation = true;
                }
                const std::size_t rcount = group.size();
                c.identity_text = identity_.describe(lp ? *lp : c.remote.front().value);
                const E& any = lp ? *lp : c.remote.front().value;
                const bool dangling = refs_ok_ && !refs_ok_(any);
                if (dangling) {
                    c.kind = case_kind::stale_inbound;
                    c.note = "refers to local data that no longer exists";
                } else if (rcount >= 2) {
                    c.kind = case_kind::duplicate;
                    c.note = std::to_string(rcount) + " remote objects share this identity";
                } else if (lp && rcount == 1) {
                    const auto& r = c.remote.front();
                    if (lk && lk->remote_id == r.remote_id) {
                        c.kind = case_kind::diverged;
                        c.fields = differing_fields(*lp, r.value);
                    } else {
                        c.kind = case_kind::relinkable;
                        c.fields = differing_fields(*lp, r.value);
                        c.note = lk ? "the link names " + lk->remote_id + ", the remote holds " + r.remote_id
                                    : "no link: re-created locally (after a restore?), the remote already holds " + r.remote_id;
                    }
                } else if (lp) {
                    c.kind = case_kind::local_only;
                    if (lk) c.note = "linked to " + lk->remote_id + ", which the remote no longer lists";
                    for (const auto k : apart) c.set_apart += shares_identity(remote[k], id);
                    if (c.set_apart)
                        c.note = "the remote lists " + std::to_string(c.set_apart) + " object(s) with this identity that are "
                                 "not provably ours (" + remote[apart.front()].remote_id + ": see its foreign case): "
                                 "creating it would make another, so the user decides";
                } else {
                    c.kind = case_kind::orphan;
                    if (opts_.inbound) c.note = "new inbound entity";
                    else if (c.from_lost_generation) c.note = "created by a generation the restore lost";
                }
                cases.push_back(std::move(c));
            }
        });
        for (std::size_t g = first_case; g < p.cases.size(); ++g) ++p.counts[static_cast<std::size_t>(p.cases[g].kind)];
        for (auto& b : built) {
            p.counts[static_cast<std::size_t>(case_kind::in_sync)] += b.in_sync;
            std::move(b.problems.begin(), b.problems.end(), std::back_inserter(p.problems));
            for (auto& c : b.cases) {
                ++p.counts[static_cast<std::size_t>(c.kind)];
                p.cases.push_back(std::move(c));
            }
        }
        count_linked_set_apart(p, remote);
    }

    /// Counts into classified::set_apart the records the remote still lists but set apart as not ours
    /// (a foreign case) that a local_only entity may have made: the one its link names, and those
    /// carrying our owner tag stamped with its identity while their content says another (an object
    /// of ours edited since). The remote holds them, so creating the entity again would make a second
    /// object, or, with the same key, replay the first create onto a record the plan calls foreign;
    /// and removing it would act on "the remote no longer lists it", which is false. Counted here,
    /// after every slice's foreign cases are in (such a record joined under another identity, maybe
    /// in another slice); records set apart under the entity's own identity were counted where its
    /// case was built. choose() asks the user, and a create the user chooses counts them into its
    /// key's instance.
    void count_linked_set_apart(plan_type& p, const std::vector<remote_record<E>>& remote) const {
        if (!p.count(case_kind::local_only)) return;
        count_linked_elsewhere(p, remote);
        if (!p.count(case_kind::foreign)) return;
        std::vector<const classified<E>*> foreign;
        std::vector<std::pair<key128, const classified<E>*>> stamped;  // ours by tag, by stamped identity
        // Inbound mode sets foreign records apart as they are read, not under the identity of their
        // content (verify_late is off), so the records of a local_only entity's identity are found here.
        const bool by_content = recomputable() && opts_.inbound;
        std::vector<std::pair<key128, const classified<E>*>> keyed;  // by the identity of their content
        for (const auto& c : p.cases) {
            if (c.kind != case_kind::foreign) continue;
            foreign.push_back(&c);
            if (const auto id = stamped_identity(read_stamp(c.remote.front().meta), owner_text_)) stamped.emplace_back(*id, &c);
            if (by_content) {
                try {
                    keyed.emplace_back(identity_.key(c.remote.front().value), &c);
                } catch (const error&) {
                    // no identity: it shares none
                }
            }
        }
        auto rid = [](const classified<E>* c) -> const std::string& { return c->remote.front().remote_id; };
        std::sort(foreign.begin(), foreign.end(), [&](const auto* a, const auto* b) { return rid(a) < rid(b); });
        std::sort(stamped.begin(), stamped.end(), [&](const auto& a, const auto& b) {
            return a.first != b.first ? a.first < b.first : rid(a.second) < rid(b.second);
        });
        std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
            return a.first != b.first ? a.first < b.first : rid(a.second) < rid(b.second);
        });
        for (auto& c : p.cases) {
            if (c.kind != case_kind::local_only) continue;
            if (by_content) {  // as the case phase counts them outside inbound mode
                auto at = std::lower_bound(keyed.begin(), keyed.end(), c.identity,
                                           [](const auto& x, const key128& id) { return x.first < id; });
                const auto first = at;
                for (; at != keyed.end() && at->first == c.identity; ++at) ++c.set_apart;
                if (first != at)
                    c.note = "the remote lists " + std::to_string(at - first) + " object(s) with this identity that are "
                             "not provably ours (" + rid(first->second) + ": see its foreign case): "
                             "creating it would make another, so the user decides";
            }
            if (c.linked_remote) {
                const auto it = std::lower_bound(foreign.begin(), foreign.end(), *c.linked_remote,
                                                 [&](const auto* f, const std::string& id) { return rid(f) < id; });
                if (it != foreign.end() && rid(*it) == *c.linked_remote) {
                    if (!c.set_apart || !shares_identity((*it)->remote.front(), c.identity)) ++c.set_apart;
                    c.note = "linked to " + *c.linked_remote + ", which the remote still lists but not as ours (" + (*it)->note +
                             "): creating it again would make a second object, so the user decides";
                }
            }
            auto at = std::lower_bound(stamped.begin(), stamped.end(), c.identity,
                                       [](const auto& x, const key128& id) { return x.first < id; });
            for (; at != stamped.end() && at->first == c.identity; ++at) {
                const auto& r = at->second->remote.front();
                if ((c.linked_remote && r.remote_id == *c.linked_remote) || shares_identity(r, c.identity)) continue;  // counted
                ++c.set_apart;
                c.note = "the remote lists " + r.remote_id + ", stamped by us with this identity but not provably ours (" +
                         at->second->note + "): it may be this entity's object, edited since, and creating it again "
                         "would make a second one or replay the first, so the user decides";
            }
        }
    }

    /// Counts into classified::set_apart the object a local_only entity's link names when the remote
    /// lists it as ours under another identity (inbound: the provider edited the member the identity
    /// comes from). It is not gone: creating the entity again would make a second object, and removing
    /// it would act on "the remote no longer lists it", so choose() asks. So is an active object the
    /// listing holds in no case: an in-sync pair is none (inbound: the edited object, in sync with the
    /// entity imported from it under its new identity). Only linked local_only cases are indexed, so a
    /// plan without them does no work here.
    void count_linked_elsewhere(plan_type& p, const std::vector<remote_record<E>>& remote) const {
        std::vector<std::pair<std::string_view, std::size_t>> linked;  // link's remote id, local_only case
        for (std::size_t g = 0; g < p.cases.size(); ++g)
            if (p.cases[g].kind == case_kind::local_only && p.cases[g].linked_remote)
                linked.emplace_back(*p.cases[g].linked_remote, g);
        if (linked.empty()) return;
        std::sort(linked.begin(), linked.end());
        for (const auto& o : p.cases) {
            if (o.kind == case_kind::foreign || o.kind == case_kind::local_only) continue;  // foreign: counted below
            for (const auto& r : o.remote) {
                if (r.state != remote_state::active) continue;
                auto at = std::lower_bound(linked.begin(), linked.end(), r.remote_id,
                                           [](const auto& x, const std::string& id) { return x.first < id; });
                for (; at != linked.end() && at->first == r.remote_id; ++at) {
                    auto& c = p.cases[at->second];
                    if (c.identity == o.identity) continue;
                    ++c.set_apart;
                    c.note = "linked to " + r.remote_id + ", which the remote still lists as ours under identity " +
                             o.identity.hex() + " (its content changed): creating it again would make a second object, "
                             "so the user decides";
                }
            }
        }
        std::set<std::string_view> in_cases;
        for (const auto& o : p.cases)
            for (const auto& r : o.remote) in_cases.insert(r.remote_id);
        for (const auto& r : remote) {
            if (r.state != remote_state::active || in_cases.count(r.remote_id)) continue;
            auto at = std::lower_bound(linked.begin(), linked.end(), r.remote_id,
                                       [](const auto& x, const std::string& id) { return x.first < id; });
            for (; at != linked.end() && at->first == r.remote_id; ++at) {
                auto& c = p.cases[at->second];
                ++c.set_apart;
                c.note = "linked to " + r.remote_id + ", which the remote still lists, in sync with another local "
                         "entity (its content changed?): creating it again would make a second object, so the user decides";
            }
        }
    }

    /// Whether the content of `r` has identity `id` (false when it has none).
    bool shares_identity(const remote_record<E>& r, const key128& id) const {
        if (!recomputable()) return false;
        try {
            return identity_.key(r.value) == id;
        } catch (const error&) {
            return false;
        }
    }

    /// The identity of a remote object owned() accepted: recomputed from the content for inbound
    /// remotes, else the key its stamp carries (owned() checked that it parses).
    key128 owned_identity(const remote_record<E>& r) const {
        if (opts_.inbound) return identity_.key(r.value);
        key128 id;
        const stamp_view mv = read_stamp(r.meta);
        if (mv.identity) id.parse_hex(*mv.identity);
        return id;
    }

    static std::uint64_t generation_of(const remote_record<E>& r) {
        const auto* gen = read_stamp(r.meta).generation;
        std::uint64_t g = 0;
        if (gen) detail::parse_u64(*gen, g);
        return g;
    }

    /// Ours only if the tag matches *and* the identity can be accounted for.
    bool owned(const remote_record<E>& r, const timeline_status& st, key128& id, std::string& why,
               std::vector<problem>& problems) const {
        const stamp_view mv = read_stamp(r.meta);
        owner_tag tag;
        owner_tag::parse_result parsed;
        bool same_owner = false;
        if (!mv.owner) parsed = owner_tag::parse_result::absent;
        else if (*mv.owner == owner_text_) {  // the common case: our own tag, no parse needed
            parsed = owner_tag::parse_result::ok;
            same_owner = true;
        } else {
            parsed = owner_tag::parse(*mv.owner, tag);
            same_owner = parsed == owner_tag::parse_result::ok && tag == opts_.owner;
        }
        if (parsed == owner_tag::parse_result::malformed) {
            why = "malformed owner tag '" + *mv.owner + "'";
            problems.push_back({errc::malformed_owner_tag, "remote " + r.remote_id + ": " + why + " (treated as foreign)"});
            return false;
        }
        if (opts_.inbound) {
            if (parsed == owner_tag::parse_result::ok && !same_owner) {
                why = "owned by " + tag.text();
                return false;
            }
            if (parsed == owner_tag::parse_result::not_concord) {  // someone else's tag, in their own form
                why = "owned by someone else ('" + *mv.owner + "')";
                return false;
            }
            try {
                id = identity_.key(r.value);
            } catch (const error& e) {
                why = std::string("cannot identify: ") + e.what();
                return false;
            }
            return true;
        }
        if (parsed != owner_tag::parse_result::ok) {
            why = parsed == owner_tag::parse_result::absent ? "no owner tag" : "owned by someone else ('" + *mv.owner + "')";
            return false;
        }
        if (!same_owner) {
            why = "owned by " + tag.text();
            return false;
        }
        switch (check_stamp(mv, st.generation, id)) {
        case stamp_check::no_identity:
            why = "our owner tag but no valid identity key: a look-alike, not accounted for";
            return false;
        case stamp_check::unknown_generation:
            why = "our owner tag but a generation concord never committed: not accounted for";
            return false;
        case stamp_check::accounted: break;
        }
        if (recomputable()) {
            key128 computed;
            try {
                computed = identity_.key(r.value);
            } catch (const error&) {
                why = "our owner tag but content without an identity: not accounted for";
                return false;
            }
            if (computed != id) {
                why = "our owner tag but the identity key does not match the content: a look-alike";
                return false;
            }
        }
        return true;
    }

    std::string decision_id(const classified<E>& c, bool unkeyed_beside = false) const {
        constexpr std::string_view tag = "concord-decision/v2";  // v2: the owner tag joined the id
        std::string buf;
        std::size_t size = tag.size() + 16 + owner_text_.size() + opts_.entity_name.size() + to_string(c.kind).size() + 32 + 1 + 9 + 64;
        for (const auto& r : c.remote) size += 8 + r.remote_id.size();
        buf.reserve(size);  // one allocation: an id per decision, and a plan may open thousands
        buf = tag;
        // The entity type: two types' identities may be equal (one natural key over the same values),
        // and a decision book shared by their reconcilers must not let one answer settle the other.
        detail::put_u64(buf, opts_.entity_name.size());
        buf.append(opts_.entity_name);
        // The integration too: reconcilers of one entity type for two remotes share the database's book,
        // and an answer about one remote (create it there) must not settle the other's question.
        detail::put_u64(buf, owner_text_.size());
        buf.append(owner_text_);
        buf.append(to_string(c.kind));
        char hex[32];
        buf.append(hex, static_cast<std::size_t>(c.identity.write_hex(hex) - hex));
        auto put_id = [&](const std::string& s) {
            detail::put_u64(buf, s.size());
            buf.append(s);
        };
        if (c.remote.size() == 1) {
            put_id(c.remote.front().remote_id);
        } else {
            std::vector<const std::string*> ids;
            for (const auto& r : c.remote) ids.push_back(&r.remote_id);
            std::sort(ids.begin(), ids.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
            for (const auto* s : ids) put_id(*s);
        }
        // The situation, not just the entity: an answer must not outlive it. Linked or not tells an
        // orphan the user deleted after importing it (linked) from one a restore made (unlinked), and
        // for diverged the contents are the question, so a later edit is a new decision. Both stay
        // the same while the decision is open (its entities are blocked) and after a restore that
        // brings the same situation back, where the recorded answer applies again.
        // Duplicates are named by their remote objects alone: importing the survivor of an answered
        // keep_all links it, which must not turn the answer into a new question (simulation, seed 661).
        // So are stale_inbound records, for the same reason: an answered `keep` imports the record and
        // links it, and an answered `discard` a remote without cancel cannot carry out unlinks it;
        // neither may turn the answer into a new question (whose other answer would undo the first).
        if (c.kind != case_kind::duplicate && c.kind != case_kind::stale_inbound)
            buf.push_back(c.linked_remote ? 'L' : 'U');
        // A local_only case lists no remote object: the one its link names is what vanished, and an
        // answer about it ("create it again") must not settle the vanishing of the next one.
        if (c.kind == case_kind::local_only && c.linked_remote) put_id(*c.linked_remote);
        if (c.set_apart) {  // "the remote no longer lists it" is another question than "it holds one"
            buf.push_back('F');
            detail::put_u64(buf, c.set_apart);
        }
        if (c.kind == case_kind::diverged && c.local && !c.remote.empty()) {
            buf.append(hex, static_cast<std::size_t>(fingerprint(*c.local).write_hex(hex) - hex));
            buf.append(hex, static_cast<std::size_t>(fingerprint(c.remote.front().value).write_hex(hex) - hex));
        }
        // A linked orphan beside local entities without identity (see choose()) is another question:
        // its entity may be one of them, so an answer given without that doubt must not settle it.
        if (unkeyed_beside) buf.push_back('K');
        return xxh3_128(buf).hex();
    }

    std::string effect_of(const classified<E>& c, resolution r) const {
        switch (r) {
        case resolution::push: return "overwrite the remote copy with the local content (" + join(c.fields) + ")";
        case resolution::pull: return "overwrite the local entity with the remote content (" + join(c.fields) + ")";
        case resolution::create_remote: return "create it on the remote";
        case resolution::remove_local: return "delete the local entity";
        case resolution::cancel_remote:
            return std::string("cancel the remote object") + (c.takes_money() ? " (it can still take money)" : "");
        case resolution::import_local: return "import the remote object into the local database";
        case resolution::keep_oldest: return "keep the oldest remote object and cancel the other " + std::to_string(c.remote.size() - 1);
        case resolution::keep_all: return "keep every remote object";
        case resolution::discard: return "discard it (cancel remotely where possible, remove the local copy)";
        case resolution::keep: return "keep it";
        case resolution::adopt: return "link the local entity to the existing remote object";
        default: return std::string(to_string(r));
        }
    }

    static std::string join(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
        return s.empty() ? "no field differs" : s;
    }

    std::string summary_of(const classified<E>& c) const {
        std::string s;
        s.reserve(256);  // most summaries fit: one allocation instead of one per doubling
        s = to_string(c.kind);
        s += ' ';
        s += c.identity_text;
        if (c.local) {
            s += "; local ";
            detail::append_entity(s, *c.local, opts_.entity_name);
        }
        for (const auto& r : c.remote) {
            s += "; remote ";
            s += r.remote_id;
            s += ' ';
            detail::append_entity(s, r.value, opts_.entity_name);
            if (r.takes_money && r.state == remote_state::active) s += " [can take money]";
        }
        if (!c.note.empty()) {
            s += "; ";
            s += c.note;
        }
        return s;
    }

    report make_report(const plan_type& p, bool dry) const {
        report rep;
        rep.entity = opts_.entity_name;
        rep.dry_run = dry;
        rep.timeline = p.timeline.kind;
        rep.timeline_detail = p.timeline.detail;
        rep.generation = p.timeline.generation;
        rep.counts = p.counts;
        for (const auto& a : p.actions) {
            action_outcome o;
            o.action = std::string(to_string(a.kind));
            o.resolution = std::string(to_string(a.why));
            o.identity = a.identity.hex();
            if (a.group < p.cases.size()) o.identity_text = p.cases[a.group].identity_text;
            o.remote_id = a.remote_id;
            o.idempotency_key = a.idempotency_key;
            o.outcome = "planned";
            rep.actions.push_back(std::move(o));
        }
        for (const auto& d : p.decisions) {
            decision_summary s;
            s.id = d.id;
            s.kind = std::string(to_string(d.kind));
            s.identity = d.identity.hex();
            s.summary = d.summary;
            for (const auto& o : d.options) s.options.push_back(std::string(to_string(o.choice)) + ": " + o.effect);
            rep.decisions.push_back(std::move(s));
        }
        for (const auto& c : p.cases)
            if (c.kind == case_kind::foreign)
                rep.problems.push_back("foreign " + c.remote.front().remote_id + " (" + c.note + "): reported, not touched");
        for (const auto& pr : p.problems) rep.problems.push_back(std::string(to_string(pr.code)) + ": " + pr.message);
        return rep;
    }

    /// The conflict policy as choose() calls it: one function pointer, so the decide phase (choose,
    /// emit and the decisions' texts) compiles once per entity type, not once per policy.
    struct policy_ref {
        const void* policy;
        resolution (*call)(const void*, const classified<E>&, const timeline_status&);
        resolution operator()(const classified<E>& c, const timeline_status& t) const { return call(policy, c, t); }
    };
    /// What the remote offers, as emit() needs it (the remote_can_* concepts of the reconciler's Remote).
    struct remote_caps {
        bool cancel, update, create;
    };

    static bool valid_for(case_kind k, resolution r) {
        if (r == resolution::ask || r == resolution::report) return true;
        auto o = options_for(k);
        return r == o[0] || r == o[1];
    }

    void decide_all(plan_type& p, bool database_adopted, policy_ref decide, remote_caps caps) const {
        // Cases are in identity order already (merge order); foreign ones first, by remote id
        // (detail::case_before says the order once, for the check and the sort).
        auto key_of = [](const classified<E>& c, std::size_t g) {
            const bool foreign = c.kind == case_kind::foreign;
            return detail::case_order_key{foreign, foreign ? &c.remote.front().remote_id : nullptr, c.identity, g};
        };
        if (!std::is_sorted(p.cases.begin(), p.cases.end(), [&](const classified<E>& a, const classified<E>& b) {
                return detail::case_before(key_of(a, 0), key_of(b, 0));
            })) {  // usually sorted: no moves then
            // A stable sort through keys of their own (detail::sort_case_order, the same for every
            // entity type) rather than a sort of classified<E> per reconciler type (compile time).
            std::vector<detail::case_order_key> keys(p.cases.size());
            for (std::size_t g = 0; g < keys.size(); ++g) keys[g] = key_of(p.cases[g], g);
            detail::sort_case_order(keys);
            std::vector<classified<E>> sorted;
            sorted.reserve(p.cases.capacity());
            for (const auto& k : keys) sorted.push_back(std::move(p.cases[k.index]));
            p.cases = std::move(sorted);
        }
        // In slices of cases (reconciler_options::threads): slice 0 writes into the plan, the others
        // into lists of their own that follow it in order; each case is settled by one slice only.
        const std::size_t n = p.cases.size();
        const unsigned unproven = unproven_cases(p.counts);
        if (unproven) {
            std::size_t asked = 0;
            for (const auto& c : p.cases) asked += (unproven >> static_cast<unsigned>(c.kind)) & 1U;
            p.problems.push_back(
                {errc::unstable_identity,
                 std::to_string(asked) + " case(s) put to the user instead of the policy: the identity policy is not "
                 "stable across restores (a restore hands database ids out again), so a relinkable match may be "
                 "another entity that took an old id, and a local_only entity may be the redo of one whose remote "
                 "object is still there (as an orphan or matched by another entity): acting would make a second one"});
        }
        const unsigned k = detail::slices_for(n, opts_.threads, std::max<std::size_t>(opts_.min_slice / 16, 1));
        struct slice_out {
            std::vector<action<E>> actions;
            std::vector<decision<E>> decisions;
            std::vector<problem> problems;
        };
        std::vector<slice_out> outs(k);
        detail::slice_mutex book_lock;
        detail::run_slices(k, [&](unsigned s) {
            auto& o = outs[s];
            const bool here = s == 0;
            decide_sink sink{p.cases, p.timeline, here ? p.actions : o.actions, here ? p.decisions : o.decisions,
                             here ? p.problems : o.problems, k > 1 && !own_book_ ? &book_lock : nullptr, unproven,
                             decide, caps, p.unkeyed_local};
            const auto [from, to] = detail::slice_of(n, k, s);
            sink.actions.reserve(sink.actions.size() + (to - from));  // about one action a case: no moves while it grows
            for (std::size_t g = from; g < to; ++g) {
                const auto& c = p.cases[g];
                resolution r;
                if (c.kind == case_kind::foreign) continue;  // never touched, whatever the policy
                if (c.kind == case_kind::relinkable)  // always adopt, never create twice; unless the match proves nothing
                    r = sink.unproven(c.kind) ? choose(sink, g, c.kind, database_adopted) : resolution::adopt;
                else if (c.kind == case_kind::orphan && opts_.inbound) r = resolution::import_local;
                else r = choose(sink, g, c.kind, database_adopted);
                if (r == resolution::ask || r == resolution::report || r == resolution::nothing) continue;
                emit(sink, g, r, database_adopted);
            }
        });
        for (std::size_t s = 1; s < k; ++s) {
            auto& o = outs[s];
            std::move(o.actions.begin(), o.actions.end(), std::back_inserter(p.actions));
            std::move(o.decisions.begin(), o.decisions.end(), std::back_inserter(p.decisions));
            std::move(o.problems.begin(), o.problems.end(), std::back_inserter(p.problems));
        }
    }

    /// The case kinds an identity that is not stable across restores (database ids) cannot settle, as
    /// a bit set: a match without a link (relinkable: another entity may have taken the id); and,
    /// while the plan has both, entities and objects found on one side only, since a redo gets a new
    /// id and leaves its first object orphaned or matched by another entity. Without the other side's
    /// cases, a local_only is plain new work and an orphan has no redo to stand for. Stateless, so the
    /// questions stay until answered, also in the sessions after the restore.
    static unsigned unproven_cases(const std::array<std::size_t, case_count>& counts) noexcept {
        if constexpr (Identity::stable_across_restores) {
            return 0;
        } else {
            auto bit = [](case_kind k) { return 1U << static_cast<unsigned>(k); };
            auto n = [&](case_kind k) { return counts[static_cast<std::size_t>(k)]; };
            unsigned m = n(case_kind::relinkable) ? bit(case_kind::relinkable) : 0U;
            if (n(case_kind::local_only) && (n(case_kind::orphan) || n(case_kind::relinkable))) m |= bit(case_kind::local_only);
            if (n(case_kind::orphan) && n(case_kind::local_only)) m |= bit(case_kind::orphan);
            return m;
        }
    }

    /// Where choose() and emit() put what they decide: the plan itself, or one slice's lists.
    struct decide_sink {
        std::vector<classified<E>>& cases;  ///< emit() settles parts of case g in place: g is one slice's
        const timeline_status& timeline;
        std::vector<action<E>>& actions;
        std::vector<decision<E>>& decisions;
        std::vector<problem>& problems;
        detail::slice_mutex* book_lock;     ///< with several slices: the decision book, one look-up at a time
        unsigned unproven_kinds = 0;        ///< bit k: cases of kind k are asked, not decided (unproven_cases)
        policy_ref decide;                  ///< the conflict policy
        remote_caps caps;                   ///< what the remote offers
        std::size_t unkeyed_local = 0;      ///< plan::unkeyed_local
        bool unproven(case_kind k) const noexcept { return (unproven_kinds >> static_cast<unsigned>(k)) & 1U; }
    };

    /// Resolution for case g viewed as kind k: a recorded answer wins, else the policy.
    resolution choose(decide_sink& p, std::size_t g, case_kind k, bool database_adopted) const {
        // The case as kind k: a copy only when k differs (adopt and keep_oldest settle a diverged part).
        std::optional<classified<E>> as_k;
        if (p.cases[g].kind != k) {
            as_k.emplace(p.cases[g]);
            as_k->kind = k;
        }
        const classified<E>& view = as_k ? *as_k : p.cases[g];  // p.cases does not change below
        // A linked orphan's entity may be one the plan could not key (an identity member cleared):
        // cancelling its object, or importing a second copy, would act on a partial picture.
        const bool unkeyed_beside = k == case_kind::orphan && view.linked_remote && p.unkeyed_local > 0;
        // The id hashes the situation (for diverged, both contents again): only worth it while the
        // book may hold an answer, or to open a decision below.
        std::string did;
        std::optional<resolution> a;
        if (!own_book_ || !builtin_book_->empty()) {
            did = decision_id(view, unkeyed_beside);
            detail::slice_mutex::guard hold(p.book_lock);
            a = book_answer_(did);
        }
        resolution r;
        // A book holding a non-answer (a custom book; the built-in ones refuse them) leaves the
        // decision open instead of making the case vanish.
        if (a && is_answer(*a)) {
            r = *a;
            if (!valid_for(k, r)) {
                p.problems.push_back({errc::decision_unknown, "decision " + did + ": recorded answer '" +
                                                                  std::string(to_string(r)) + "' does not fit a " +
                                                                  std::string(to_string(k)) +
                                                                  " case; asked again (answer() replaces it)"});
                r = resolution::ask;
            } else {
                return r;  // the user's answer is consent, also on a different database
            }
        } else if (p.unproven(k)) {
            r = resolution::ask;  // the policy would act on a match the identity cannot vouch for
        } else if (view.set_apart) {
            r = resolution::ask;  // the remote holds records of it, not provably ours: see classified::set_apart
        } else {
            r = p.decide(view, p.timeline);
        }
        if (!valid_for(k, r)) {
            p.problems.push_back({errc::invalid_argument, "policy chose '" + std::string(to_string(r)) + "' for a " +
                                                              std::string(to_string(k)) + " case: asking instead"});
            r = resolution::ask;
        }
        if (destructive(r) && !database_adopted) r = resolution::ask;  // different database: never on our own
        // A first run (no checkpoint, empty witness) has no history the objects could be from: ones with
        // our tag may be another database's of the same installation (a second shop, a test database
        // beside production), so nothing of the remote's is cancelled on the policy's word. A restore to
        // before the first reconcile has a witness (different_database), so this is no lost history. Not
        // inbound: there the remote makes the records for us, and every untagged one is ours by definition.
        const bool unproven_first_run = p.timeline.kind == verdict::first_run && !opts_.inbound && remote_destructive(r);
        if (unproven_first_run) r = resolution::ask;
        if (unkeyed_beside && (destructive(r) || r == resolution::import_local)) r = resolution::ask;
        if (r == resolution::ask) {
            decision<E> d;
            d.id = did.empty() ? decision_id(view, unkeyed_beside) : std::move(did);
            d.group = g;
            d.kind = k;
            d.identity = view.identity;
            d.summary = summary_of(view);
            if (!database_adopted) d.summary += "; NOTE: a different database was opened";
            if (unproven_first_run || (p.timeline.kind == verdict::first_run && !opts_.inbound && k == case_kind::orphan))
                d.summary += "; NOTE: first reconcile of this database: the remote object may be another database's "
                             "with the same owner tag";
            if (unkeyed_beside)  // also when the policy asks anyway: the user must know it too
                d.summary += "; NOTE: " + std::to_string(p.unkeyed_local) +
                             " local entit" + (p.unkeyed_local == 1 ? "y has" : "ies have") +
                             " no identity this plan could compute (see its problems): this object's entity may be one";
            d.options.reserve(options_for(k).size());
            for (auto o : options_for(k)) {
                if (!d.options.empty() && d.options.back().choice == o) continue;
                d.options.push_back({o, effect_of(view, o)});
            }
            p.decisions.push_back(std::move(d));
        }
        return r;
    }

    std::string key_for(const key128& id, std::string_view kind, std::uint64_t instance, std::string_view params) const {
        return idempotency_key(owner_text_, id, operation{kind, instance, params});
    }

    void unsupported(decide_sink& p, const classified<E>& c, std::string_view what) const {
        p.problems.push_back({errc::unsupported, "cannot " + std::string(what) + " " + c.identity_text +
                                                     ": the remote does not offer it"});
    }

    void emit(decide_sink& p, std::size_t g, resolution r, bool database_adopted) const {
        const auto& c = p.cases[g];
        auto add = [&](action<E> a) {
            a.group = g;
            a.identity = c.identity;
            a.why = r;
            p.actions.push_back(std::move(a));
        };
        auto link_to = [&](const std::string& rid) {
            if (!c.linked_remote || *c.linked_remote != rid) {
                action<E> a;
                a.kind = action_kind::link;
                a.remote_id = rid;
                add(std::move(a));
            }
        };
        auto cancel = [&](const remote_record<E>& rec) {
            if (p.caps.cancel) {
                action<E> a;
                a.kind = action_kind::cancel_remote;
                a.remote_id = rec.remote_id;
                a.idempotency_key = key_for(c.identity, "cancel", 0, rec.remote_id);
                add(std::move(a));
            } else {
                unsupported(p, c, "cancel");
            }
        };
        auto remove_local = [&] {
            action<E> a;
            a.kind = action_kind::remove_local;
            a.local_id = local_id_of(*c.local);
            add(std::move(a));
        };
        auto unlink = [&] {
            if (c.linked_remote) {
                action<E> a;
                a.kind = action_kind::unlink;
                add(std::move(a));
            }
        };
        switch (r) {
        case resolution::push:
            if (p.caps.update) {
                const auto& rec = c.remote.front();
                action<E> a;
                a.kind = action_kind::update_remote;
                a.remote_id = rec.remote_id;
                a.value = *c.local;
                const auto from = fingerprint(rec.value), to = fingerprint(*c.local);
                char params[32 + 32 + 1 + 20];  // the two fingerprints in hex, '@', the attempt in decimal
                char* end = to.write_hex(from.write_hex(params));
                *end++ = '@';
                end = std::to_chars(end, params + sizeof params, p.timeline.attempt).ptr;
                // The generation is the operation instance: an edit undone by a restore and made again
                // is a new update, not a replay of the first (found by simulation, seed 3). Sessions that
                // crash before committing retry the same generation, so the session's attempt number
                // (persisted in the witness before any remote effect) keeps A->B, B->A, A->B apart
                // (seeds 18133 and 19399: the third update replayed the first and changed nothing).
                a.idempotency_key = key_for(c.identity, "update", p.timeline.generation,
                                            std::string_view(params, static_cast<std::size_t>(end - params)));
                add(std::move(a));
                link_to(rec.remote_id);
            } else {
                unsupported(p, c, "update");
            }
            break;
        case resolution::pull: {
            action<E> a;
            a.kind = action_kind::upsert_local;
            E v = c.remote.front().value;
            set_local_id(v, local_id_of(*c.local));
            a.local_id = local_id_of(*c.local);
            a.value = std::move(v);
            add(std::move(a));
            link_to(c.remote.front().remote_id);
            break;
        }
        case resolution::create_remote:
            if (p.caps.create) {
                action<E> a;
                a.kind = action_kind::create_remote;
                a.value = *c.local;
                // Records set apart count as used instances: a create the user chose beside them is a
                // new request, never a replay of (or a clash with) the one that made them.
                char params[32];  // the content's fingerprint in hex
                fingerprint(*c.local).write_hex(params);
                a.idempotency_key = key_for(c.identity, "create", c.cancelled_before + c.set_apart,
                                            std::string_view(params, sizeof params));
                add(std::move(a));
            } else {
                unsupported(p, c, "create");
            }
            break;
        case resolution::remove_local:
            remove_local();
            unlink();
            break;
        case resolution::cancel_remote:
            for (const auto& rec : c.remote) cancel(rec);
            // A remote that cannot cancel keeps the object, so the link stays: the next plan sees the
            // same case (and the same decision id, so an answer is not asked for again), and reports
            // again that the cancel cannot be done.
            if (p.caps.cancel) unlink();
            break;
        case resolution::import_local: {
            action<E> a;
            a.kind = action_kind::upsert_local;
            E v = c.remote.front().value;
            set_local_id(v, 0);
            a.value = std::move(v);
            add(std::move(a));
            action<E> l;
            l.kind = action_kind::link;
            l.remote_id = c.remote.front().remote_id;
            add(std::move(l));
            break;
        }
        case resolution::adopt: {
            link_to(c.remote.front().remote_id);
            if (!c.fields.empty()) {  // adopted, but the contents differ: settle it now as diverged
                // Viewed as linked (the link is being written), so the decision is the one the next
                // plan will show for the linked entity and an answer to either applies to both.
                auto saved_link = p.cases[g].linked_remote;
                p.cases[g].linked_remote = p.cases[g].remote.front().remote_id;
                auto r2 = choose(p, g, case_kind::diverged, database_adopted);
                if (r2 == resolution::push || r2 == resolution::pull) emit(p, g, r2, database_adopted);
                p.cases[g].linked_remote = saved_link;
            }
            break;
        }
        case resolution::keep_oldest: {
            const auto& keep = c.remote.front();  // sorted by seq: the oldest first
            for (std::size_t k = 1; k < c.remote.size(); ++k) cancel(c.remote[k]);
            if (c.local) {
                link_to(keep.remote_id);
                if (fingerprint(*c.local) != fingerprint(keep.value)) {  // settle the survivor as diverged now (simulation, seed 7925)
                    // Viewed as the next plan will show it (the survivor alone, linked), as adopt does,
                    // so that an answer to either question applies to both.
                    auto saved_remote = p.cases[g].remote;
                    auto saved_link = p.cases[g].linked_remote;
                    const auto survivor = saved_remote.front();
                    p.cases[g].fields = differing_fields(*c.local, survivor.value);
                    p.cases[g].remote = {survivor};
                    p.cases[g].linked_remote = survivor.remote_id;  // the link is being written
                    auto r2 = choose(p, g, case_kind::diverged, database_adopted);
                    if (r2 == resolution::push || r2 == resolution::pull) emit(p, g, r2, database_adopted);
                    p.cases[g].remote = std::move(saved_remote);
                    p.cases[g].linked_remote = std::move(saved_link);
                }
            } else {  // the survivor has no local owner: settle it now as an orphan
                classified<E> saved = p.cases[g];
                p.cases[g].remote = {keep};
                // Inbound: the remote is the source, so the survivor is a new inbound entity (imported).
                auto r2 = opts_.inbound ? resolution::import_local : choose(p, g, case_kind::orphan, database_adopted);
                if (r2 == resolution::cancel_remote || r2 == resolution::import_local) emit(p, g, r2, database_adopted);
                p.cases[g].remote = saved.remote;
            }
            break;
        }
        case resolution::discard:
            for (const auto& rec : c.remote)
                if (rec.state == remote_state::active) cancel(rec);
            if (c.local) remove_local();
            unlink();
            break;
        case resolution::keep:
            if (!c.local && !c.remote.empty()) emit(p, g, resolution::import_local, database_adopted);
            break;
        case resolution::keep_all:
            if (!c.local) {  // copies without a local owner are orphans: settle them as one (simulation, seed 6)
                auto r2 = opts_.inbound ? resolution::import_local : choose(p, g, case_kind::orphan, database_adopted);
                if (r2 == resolution::cancel_remote || r2 == resolution::import_local) emit(p, g, r2, database_adopted);
            }
            break;
        default: break;
        }
    }

    reconciler_options opts_;
    std::string owner_text_;  ///< opts_.owner.text(), compared against every remote record's tag
    std::function<std::optional<resolution>(std::string_view)> book_answer_;
    std::function<void(std::string_view, resolution)> book_record_;
    std::shared_ptr<const memory_decision_book> builtin_book_;  ///< the one the constructor made
    bool own_book_ = true;  ///< the built-in memory book: plans only read it, so slices read it without the lock
    Identity identity_;
    std::function<bool(const E&)> refs_ok_;
};

} // namespace detail

// Store and Remote are unconstrained on purpose: the static_asserts below then tell a user whose
// type falls short what to add, where a concept constraint would only say "constraints not satisfied".
template <entity E, class Store, class Remote, class Identity, class Policy>
class reconciler : private detail::reconciler_base<E, Identity> {
    static_assert(detail::check_store<Store>());
    static_assert(detail::check_remote_source<Remote>());
    static_assert(std::is_same_v<typename Store::entity_type, E>, "concord reconciler: Store::entity_type must be E");
    static_assert(std::is_same_v<typename Remote::entity_type, E>, "concord reconciler: Remote::entity_type must be E");
    static_assert(identity_policy<Identity, E>,
                  "concord reconciler: Identity must provide `identity_key key(const E&) const`, `std::string "
                  "describe(const E&) const` and `static constexpr bool stable_across_restores`");
    static_assert(detail::check_conflict_policy<Policy, E>());

    using base = detail::reconciler_base<E, Identity>;
    using base::opts_, base::owner_text_, base::identity_, base::refs_ok_;
    using base::recomputable, base::classify, base::count_linked_set_apart, base::owned, base::owned_identity,
        base::generation_of, base::decision_id, base::effect_of, base::summary_of, base::make_report;
    using base::book_answer_, base::book_record_, base::builtin_book_, base::own_book_;
    using base::valid_for, base::decide_all, base::key_for;

public:
    using entity_type = E;
    using plan_type = concord::plan<E>;

    reconciler(Store& s, Remote& r, reconciler_options opts, Identity id = {}, Policy p = {})
        : base(std::move(opts), std::move(id)), store_(&s), remote_(&r), policy_(std::move(p)) {
        opts_.owner.validate();
        detail::check_own_scope(identity_, "reconciler");  // once here, not per key
        owner_text_ = opts_.owner.text();
        if (opts_.page_size == 0 || opts_.batch_size == 0)
            throw error(errc::invalid_argument, "page_size and batch_size must be at least 1");
        if (opts_.threads == 0 || opts_.min_slice == 0)
            throw error(errc::invalid_argument, "threads and min_slice must be at least 1");
        // Captured by shared pointer, not `this`: a reconciler is returned by value (make_reconciler)
        // and may be moved; a lambda holding `this` would dangle after the move.
        auto book = std::make_shared<memory_decision_book>();
        builtin_book_ = book;
        book_answer_ = [book](std::string_view id) { return book->answer(id); };
        book_record_ = [book](std::string_view id, resolution res) { book->record(id, res); };
        sleep_ = [](std::chrono::milliseconds d) { system_clock{}.sleep_for(d); };
    }

    const reconciler_options& options() const noexcept { return opts_; }
    Store& store() noexcept { return *store_; }
    Remote& remote() noexcept { return *remote_; }
    const Identity& identity() const noexcept { return identity_; }

    /// Keep answers in `book` (outside the restore scope) instead of the built-in memory book.
    template <decision_book B>
    void use_decision_book(B& book) {
        book_answer_ = [&book](std::string_view id) { return book.answer(id); };
        book_record_ = [&book](std::string_view id, resolution res) { book.record(id, res); };
        own_book_ = false;
    }
    /// Back off on `c` between retries (tests: concord::manual_clock).
    template <clock_source C>
    void use_clock(C& c) {
        sleep_ = [&c](std::chrono::milliseconds d) { c.sleep_for(d); };
    }
    /// References: returns false when an entity refers to local data that no longer exists
    /// (stale_inbound). Unset: no entity has references.
    void set_reference_check(std::function<bool(const E&)> f) { refs_ok_ = std::move(f); }
    /// Crash injection for tests.
    void set_step_hook(step_hook h) { hook_ = std::move(h); }
    /// Refuses a create before it is sent: `g(entity)` returns why (empty: allowed). The payments layer
    /// passes its quarantine here, so a reconcile does not charge a customer the gateway refuses.
    void set_create_guard(std::function<std::string(const E&)> g) { create_guard_ = std::move(g); }

    /// Name of this reconciler's cursor in the checkpoint.
    std::string cursor_name() const { return opts_.owner.integration + "/" + opts_.entity_name; }

    // ----------------------------------------------------------------------------------- plan

    /// Reads both sides and returns the classification and the actions the policy chose. Pure: it
    /// changes neither side. Throws errc::bad_page if the remote listing cannot be trusted.
    /// With reconciler_options::threads > 1 the store is read on a second thread while this one lists
    /// the remote (a network-bound listing then hides the local scan).
    template <witness W>
    plan_type plan(const timeline_session<W>& session) const {
        if (opts_.threads > 1) {
            std::vector<E> local;
            std::vector<link> links;
            std::vector<remote_record<E>> remote;
            detail::run_slices(2, [&](unsigned s) {
                if (s == 0) {
                    remote = list_all(*remote_, opts_.page_size);
                } else {
                    local = store_->scan();
                    links = store_->links();
                }
            });
            return plan_from(session.status(), session.database_adopted(), local, links, remote);
        }
        return plan_from(session.status(), session.database_adopted(), store_->scan(), store_->links(),
                         list_all(*remote_, opts_.page_size));
    }

    /// Same, from already loaded data (benchmarks, streaming front ends, tests).
    /// The inputs are only read: entities are copied into the few cases that are not in sync.
    plan_type plan_from(const timeline_status& status, bool database_adopted, const std::vector<E>& local,
                        const std::vector<link>& links, const std::vector<remote_record<E>>& remote) const {
        plan_type p;
        p.timeline = status;
        p.database_adopted = database_adopted;
        classify(p, local, links, remote);
        decide_all(p, database_adopted,
                   {&policy_,
                    [](const void* pol, const classified<E>& c, const timeline_status& t) {
                        return static_cast<const Policy*>(pol)->decide(c, t);
                    }},
                   {remote_can_cancel<Remote>, remote_can_update<Remote>, remote_can_create<Remote>});
        return p;
    }

    // ----------------------------------------------------------------------------------- decisions

    /// Records the user's answer to a decision of `p`. Answering twice with the same choice changes
    /// nothing; a choice the decision does not offer is errc::decision_unknown; a different choice for
    /// an already answered decision is errc::invalid_argument (answers are final: they outlive restores).
    /// What a custom book holds that does not settle the decision (a non-answer, or an answer its
    /// case does not offer: plan() asked again) is no answer: it is replaced.
    void answer(const plan_type& p, std::string_view decision_id, resolution choice) {
        for (const auto& d : p.decisions) {
            if (d.id != decision_id) continue;
            for (const auto& o : d.options)
                if (o.choice == choice) {
                    if (auto prev = book_answer_(decision_id); prev && is_answer(*prev) && valid_for(d.kind, *prev)) {
                        if (*prev == choice) return;  // idempotent
                        throw error(errc::invalid_argument, "decision " + std::string(decision_id) +
                                                                " was already answered '" +
                                                                std::string(to_string(*prev)) + "'; answers are final");
                    }
                    book_record_(decision_id, choice);
                    return;
                }
            throw error(errc::decision_unknown, "decision " + std::string(decision_id) + " does not offer '" +
                                                    std::string(to_string(choice)) + "'");
        }
        throw error(errc::decision_unknown, "no open decision with id " + std::string(decision_id));
    }

    /// Answers every open decision of `p` with `ask(decision) -> resolution` (a callback or a
    /// terminal_prompt). A callback returning resolution::ask leaves that decision open. A decision
    /// the book answered since `p` was made (an earlier answer_all() on `p` stopped by the end of the
    /// input, another process) is not open: it is not asked again. Returns the number of decisions answered.
    template <class F>
    std::size_t answer_all(const plan_type& p, F&& ask) {
        std::size_t n = 0;
        for (const auto& d : p.decisions) {
            // Settled already: asking again would put an answered question, and a different answer throw.
            if (auto prev = book_answer_(d.id); prev && is_answer(*prev) && valid_for(d.kind, *prev)) continue;
            const resolution r = ask(d);
            if (r == resolution::ask) continue;
            answer(p, d.id, r);
            ++n;
        }
        return n;
    }

    // ----------------------------------------------------------------------------------- apply

    /// Executes the plan's actions. Remote effects first (idempotent), then the local changes in
    /// bounded batches, each batch one store transaction that also writes the checkpoint.
    template <witness W>
    report apply(const plan_type& p, timeline_session<W>& session) {
        if (p.timeline.generation != session.status().generation || p.timeline.lineage != session.status().lineage ||
            p.timeline.session_id != session.status().session_id)
            throw error(errc::invalid_argument, "the plan was made in another timeline session; plan again");
        // The session is the plan's, but plan_from() may have been told more than it knows: its
        // destructive actions must not reach a different database the session never adopted.
        if (p.database_adopted && !session.database_adopted())
            throw error(errc::invalid_argument, "the plan was made for an adopted database, but this session (" +
                                                    std::string(to_string(session.kind())) +
                                                    ") has not adopted it: call adopt_database() first, or plan again");
        report rep = make_report(p, false);
        const bool has_remote = std::any_of(p.actions.begin(), p.actions.end(),
                                            [](const auto& a) { return remote_effect(a.kind); });
        try {
            if (has_remote) {
                if (session.kind() == verdict::first_run) {
                    session.commit_checkpoint(*store_);  // the store learns the lineage before the witness names it
                    session.note_store_committed();
                }
                session.mark_in_progress("concord " + std::string(version) + " reconcile of " + opts_.entity_name +
                                         " generation " + std::to_string(p.timeline.generation));
            }
            run_actions(p, session, rep);
        } catch (const error& e) {  // what adapters report; anything else passes through untouched, like a crash
            bool repeated = false;
            const auto cause = std::current_exception();
            try {
                repeated = session.record_failure(e.what());
            } catch (...) {
                std::rethrow_exception(cause);  // the witness failed too: the first failure is the one to report
            }
            if (repeated)
                std::throw_with_nested(error(errc::repeated_failure,
                                             "the reconcile failed the same way as the interrupted one before it: " +
                                                 std::string(e.what())));
            throw;
        }
        return rep;
    }

    /// plan + apply in one session, then the witness. For hosts with one entity type; several types
    /// share one session (begin_session, plan/apply each, session.commit()).
    /// Stores that can lock out a concurrent reconcile (lock_reconcile) are locked for the whole call.
    template <witness W>
    report reconcile(W& w) {
        return with_reconcile_lock(*store_, opts_.lock_scope, [&] { return reconcile_unlocked(w); });
    }

    /// reconcile() without taking the store's lock (the caller holds it).
    template <witness W>
    report reconcile_unlocked(W& w) {
        auto session = begin_session(w, *store_);
        auto p = plan(session);
        auto rep = apply(p, session);
        session.commit();
        return rep;
    }

    /// The dry-run report of a plan.
    report describe(const plan_type& p) const { return make_report(p, true); }

private:
    // ----------------------------------------------------------------------------------- apply

    void step(std::string_view what) const {
        if (hook_) hook_(what);
    }

    metadata stamp(const key128& id, std::uint64_t generation) const {
        return stamp_metadata(opts_.owner, id, generation);
    }

    /// Calls f with bounded retries under its key (detail::call_with_retries); a timeout is settled by
    /// `settle` (a look-up) before retrying.
    template <class F, class S>
    remote_record<E> with_retries(F&& f, S&& settle, action_outcome& out) {
        bool settled = false;
        remote_record<E> r = detail::call_with_retries(
            opts_.retry, sleep_, f,
            [&] {
                auto found = settle();
                settled = found.has_value();
                return found;
            },
            out.attempts, {}, "remote refused: ");
        out.outcome = settled ? "settled" : "done";
        if (settled) out.detail = "timeout settled by look-up";
        return r;
    }

    /// `match(const remote_record<E>&) -> bool` picks the records a listing may settle with (a template
    /// rather than a std::function: no wrapper instantiated per call site, and none when unused).
    template <class Match>
    std::optional<remote_record<E>> look_up(const std::string& key, const Match& match) {
        if constexpr (remote_can_lookup_key<Remote>) {
            if (auto r = remote_->find_by_key(key)) return r;
            return std::nullopt;
        } else {
            std::optional<remote_record<E>> found;  // the newest match (highest listing seq)
            for (auto& r : list_all(*remote_, opts_.page_size))
                if (match(r) && (!found || r.seq > found->seq)) found = std::move(r);
            return found;
        }
    }

    /// Whether `r` is the object a create of identity `id` in generation `gen` with content `value`
    /// made: active, our owner tag, stamped with that identity and generation, that content. A
    /// timeout settled by listing takes nothing less: a look-alike carrying our tag and the identity
    /// (which plan() calls foreign) would otherwise be linked to the entity and its own create skipped.
    bool made_by_create(const remote_record<E>& r, const key128& id, std::uint64_t gen, const E& value) const {
        if (r.state != remote_state::active) return false;
        const stamp_view s = read_stamp(r.meta);
        std::uint64_t g = 0;
        return stamped_identity(s, owner_text_) == id && s.generation && detail::parse_u64(*s.generation, g) && g == gen &&
               fingerprint(r.value) == fingerprint(value);
    }

    /// A create's answer must be an object of the identity it was asked for: a remote that replays an
    /// earlier request under the same key returns that request's object as it is now, and one edited
    /// since into another identity is not linked (the remote keeps it; plan() reports it).
    void check_created(const remote_record<E>& rec, const key128& id) const {
        // A replay answers with the object as it is now: one cancelled since is no create to link (the
        // next plan counts it in cancelled_before, so its create is a new request under a new key).
        if (rec.state != remote_state::active)
            throw remote_error(errc::idempotency_conflict,
                               "the remote answered a create of " + id.hex() + " with " + rec.remote_id +
                                   ", which is cancelled (a replay of an earlier request, cancelled since?): not linked");
        if (!recomputable()) return;  // the content cannot vouch for a database id
        std::optional<key128> got;
        try {
            got = identity_.key(rec.value);
        } catch (const error&) {
        }
        if (!got || *got != id)
            throw remote_error(errc::idempotency_conflict,
                               "the remote answered a create of " + id.hex() + " with " + rec.remote_id + ", whose content " +
                                   (got ? "has identity " + got->hex() : std::string("has no identity")) +
                                   " (a replay of an earlier request, edited since?): not linked");
    }

    template <witness W>
    void run_actions(const plan_type& p, timeline_session<W>& session, report& rep) {
        change_batch<E> batch;
        const auto gen = p.timeline.generation;
        std::size_t groups_in_batch = 0;
        // Local writes are checked against the store as it is now, not as it was planned: the host may
        // have changed it since plan() (or the same plan is applied twice), and local ids are reused
        // (SQLite rowids), so a planned id may now name another entity. One scan, only when needed.
        std::map<std::int64_t, key128> now_ids;
        std::map<key128, std::int64_t> now_keys;
        // A pull writes the remote's content over the row the plan saw. One the host edited since holds
        // newer work that no policy or answer chose to drop (an answer names the old content), so it is
        // skipped and the next plan sees the edit. The content now, of the pulls' rows only.
        std::map<std::int64_t, key128> now_prints;
        for (const auto& a : p.actions)
            if (a.kind == action_kind::upsert_local && a.local_id != 0) now_prints[a.local_id];
        // A cancel planned for an identity no local entity had (an orphan) is checked the same way: an
        // entity of that identity written since owns the object now.
        auto ownerless = [&](const action<E>& a) { return a.group < p.cases.size() && !p.cases[a.group].local; };
        const bool needs_scan = std::any_of(p.actions.begin(), p.actions.end(), [&](const auto& a) {
            return a.kind == action_kind::upsert_local || a.kind == action_kind::remove_local ||
                   (a.kind == action_kind::cancel_remote && ownerless(a));
        });
        if (needs_scan)
            for (const auto& e : store_->scan()) {
                try {
                    const auto k = identity_.key(e);
                    now_ids[local_id_of(e)] = k;
                    now_keys[k] = local_id_of(e);
                    if (auto it = now_prints.find(local_id_of(e)); it != now_prints.end()) it->second = fingerprint(e);
                } catch (const error&) {
                }
            }
        auto local_target_ok = [&](std::int64_t id, const key128& k) {
            auto it = now_ids.find(id);
            return it != now_ids.end() && it->second == k;
        };
        // The cursor the final commit writes: the plan's high-water mark, lowered below the records of
        // cases left unsettled (set once the actions have run). nullopt with a cursor in the plan: one
        // of them is at seq 0, below which no cursor can stand, so the cursor is dropped.
        std::optional<std::uint64_t> new_cursor = p.cursor;
        auto flush = [&](bool final) {
            auto cur = store_->load_checkpoint();
            auto cp = session.next_checkpoint(cur);
            // An inbound reconciler's cursor is the puller's: it holds it below open decisions and
            // failed actions, which a plan's high-water mark would pass (the next pull would not list
            // them again). reconcile() and apply() leave it where it is.
            if (final && p.cursor && !opts_.inbound) {
                if (new_cursor) cp.cursors[cursor_name()] = *new_cursor;
                else cp.cursors.erase(cursor_name());
            }
            batch.new_checkpoint = cp;
            step("before local commit");
            store_->commit(batch);
            session.note_store_committed();
            step("after local commit");
            batch = change_batch<E>{};
            groups_in_batch = 0;
        };
        std::size_t i = 0;
        while (i < p.actions.size()) {
            const std::size_t g = p.actions[i].group;
            std::optional<std::string> created;
            bool failed = false;
            for (; i < p.actions.size() && p.actions[i].group == g; ++i) {
                const auto& a = p.actions[i];
                auto& out = rep.actions[i];
                if (failed) {
                    out.outcome = "skipped";
                    out.detail = "an earlier action of this case failed";
                    continue;
                }
                try {
                    switch (a.kind) {
                    case action_kind::create_remote:
                        if (create_guard_)
                            if (auto why = create_guard_(*a.value); !why.empty())
                                throw remote_error(errc::blocked, "not created: " + why);
                        if constexpr (remote_can_create<Remote>) {
                            auto meta = stamp(a.identity, gen);
                            if constexpr (remote_has_metadata<Remote>) check_metadata(meta, Remote::limits());
                            const auto id = a.identity;
                            step("before create_remote " + a.identity.hex());
                            auto rec = with_retries([&] { return remote_->create(*a.value, meta, a.idempotency_key); },
                                                    [&] {
                                                        return look_up(a.idempotency_key, [&](const remote_record<E>& r) {
                                                            return made_by_create(r, id, gen, *a.value);
                                                        });
                                                    },
                                                    out);
                            step("after create_remote " + a.identity.hex());
                            check_created(rec, id);
                            out.remote_id = rec.remote_id;
                            batch.link_upserts.push_back({a.identity, rec.remote_id, gen});
                            created = rec.remote_id;
                        }
                        break;
                    case action_kind::update_remote:
                        if constexpr (remote_can_update<Remote>) {
                            const auto target = fingerprint(*a.value);
                            step("before update_remote " + a.remote_id);
                            with_retries([&] { return remote_->update(a.remote_id, *a.value, a.idempotency_key); },
                                         [&] {
                                             // Active too: an update never takes effect on a cancelled object,
                                             // so one listed with that content (edited, then cancelled, by
                                             // someone else) is no sign the update was applied.
                                             return look_up(a.idempotency_key, [&](const remote_record<E>& r) {
                                                 return r.remote_id == a.remote_id && r.state == remote_state::active &&
                                                        fingerprint(r.value) == target;
                                             });
                                         },
                                         out);
                            step("after update_remote " + a.remote_id);
                        }
                        break;
                    case action_kind::cancel_remote:
                        // (an entity this apply imports is in now_keys with id 0: that one is the plan's own)
                        if (const auto now = now_keys.find(a.identity);
                            ownerless(a) && now != now_keys.end() && now->second != 0) {
                            failed = true;  // the rest of the case (its unlink) waits for the next plan too
                            out.outcome = "skipped";
                            out.detail = "a local entity of this identity exists now (local id " +
                                         std::to_string(now->second) + "): changed since the plan";
                            break;
                        }
                        if constexpr (remote_can_cancel<Remote>) {
                            step("before cancel_remote " + a.remote_id);
                            with_retries([&] { return remote_->cancel(a.remote_id, a.idempotency_key); },
                                         [&] {
                                             return look_up(a.idempotency_key, [&](const remote_record<E>& r) {
                                                 return r.remote_id == a.remote_id && r.state == remote_state::cancelled;
                                             });
                                         },
                                         out);
                            step("after cancel_remote " + a.remote_id);
                        }
                        break;
                    case action_kind::upsert_local:
                        if (a.local_id == 0 && now_keys.count(a.identity)) {
                            out.outcome = "skipped";
                            out.detail = "already present locally (local id " + std::to_string(now_keys[a.identity]) + ")";
                        } else if (a.local_id != 0 && !local_target_ok(a.local_id, a.identity)) {
                            out.outcome = "skipped";
                            out.detail = "local id " + std::to_string(a.local_id) + " changed since the plan";
                        } else if (a.local_id != 0 && a.group < p.cases.size() && p.cases[a.group].local &&
                                   now_prints[a.local_id] != fingerprint(*p.cases[a.group].local)) {
                            out.outcome = "skipped";
                            out.detail = "local id " + std::to_string(a.local_id) + " was edited since the plan";
                        } else {
                            batch.upserts.push_back(*a.value);
                            if (a.local_id == 0) now_keys[a.identity] = 0;
                            out.outcome = "done";
                        }
                        break;
                    case action_kind::remove_local:
                        if (!local_target_ok(a.local_id, a.identity)) {
                            out.outcome = "skipped";
                            out.detail = "local id " + std::to_string(a.local_id) + " is gone or changed since the plan";
                        } else {
                            batch.removals.push_back(a.local_id);
                            now_ids.erase(a.local_id);
                            now_keys.erase(a.identity);
                            out.outcome = "done";
                        }
                        break;
                    case action_kind::link:
                        batch.link_upserts.push_back({a.identity, a.remote_id, gen});
                        out.outcome = "done";
                        break;
                    case action_kind::unlink:
                        batch.link_removals.push_back(a.identity);
                        out.outcome = "done";
                        break;
                    }
                } catch (const remote_error& e) {
                    failed = true;
                    out.outcome = "failed";
                    out.detail = e.what();
                    out.error = std::string(to_string(e.code()));
                    rep.problems.push_back("action " + out.action + " for " + out.identity + " failed: " + e.what());
                }
            }
            ++groups_in_batch;
            if (groups_in_batch >= opts_.batch_size) flush(false);
        }
        // Not past a record whose case waits for a decision or whose action failed or was skipped: a
        // change feed from this cursor (the mirror's, which shares cursor_name()) must list it again,
        // or the case would stay unsettled until a full scan (a refused removal never retried, a
        // question never asked again).
        if (p.cursor && !opts_.inbound) {
            std::set<std::size_t> unsettled;
            for (const auto& d : p.decisions) unsettled.insert(d.group);
            for (std::size_t a = 0; a < rep.actions.size() && a < p.actions.size(); ++a)
                if (rep.actions[a].outcome == "failed" || rep.actions[a].outcome == "skipped")
                    unsettled.insert(p.actions[a].group);
            const auto held = detail::held_seqs_of(p, unsettled);
            if (!held.empty() && *held.begin() <= *new_cursor)  // the lowest one decides
                new_cursor = *held.begin() == 0 ? std::nullopt : std::optional<std::uint64_t>(*held.begin() - 1);
        }
        const bool settle_timeline = p.timeline.kind != verdict::same_timeline;
        auto cur = store_->load_checkpoint();
        const bool had_cursor = cur && cur->cursors.count(cursor_name());
        const bool cursor_moved = p.cursor && !opts_.inbound &&
                                  (new_cursor ? !had_cursor || cur->cursors.at(cursor_name()) != *new_cursor : had_cursor);
        // A witness still holding an earlier reconcile's mark or failure is cleared by this session's
        // commit, which writes the witness only after a store commit: with nothing else to do, they would
        // outlive the work they describe (every later session "interrupted", and the next failure with
        // the same text taken for errc::repeated_failure).
        const auto& was = p.timeline.witness;
        const bool clear_witness = was && (!was->in_progress.empty() || !was->failure.empty());
        if (!batch.empty() || settle_timeline || groups_in_batch > 0 || cursor_moved || !p.actions.empty() || clear_witness)
            flush(true);
    }

    Store* store_;
    Remote* remote_;
    Policy policy_;
    std::function<void(std::chrono::milliseconds)> sleep_;
    step_hook hook_;
    std::function<std::string(const E&)> create_guard_;
};

/// Builds a reconciler, deducing the entity, store and remote types. The conflict policy has no
/// default on purpose: choosing one is the user's decision.
template <class Policy, class Store, class Remote, class Identity>
auto make_reconciler(Store& s, Remote& r, reconciler_options opts, Identity id, Policy p = {}) {
    return reconciler<typename Store::entity_type, Store, Remote, Identity, Policy>(s, r, std::move(opts), std::move(id),
                                                                                    std::move(p));
}

} // namespace concord
