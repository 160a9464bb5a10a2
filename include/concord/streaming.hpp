#pragma once
// Streaming classification for sides that can be read in identity order (an index on the store, a
// remote that lists in key order). Where plan() loads both sides and sorts them, stream_merge()
// walks two ordered inputs in step and holds O(1) entities: the head of each side plus the group
// being classified. It reconciles data sets that do not fit in memory (10^8 entities in a few MiB;
// docs/benchmarks.md has the figures).
//
// What it does not do, by design: links, ownership checks, policies and actions are plan()'s job.
// The caller feeds it entities already known to be ours (for example a remote listing filtered by
// owner tag) and acts on the cases it reports, typically by planning only those identities.

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include <concord/cases.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>

namespace concord {

/// What stream_merge() found, per case. `in_sync` entities are only counted, never passed to the sink.
struct stream_counts {
    std::size_t in_sync = 0;
    std::size_t diverged = 0;
    std::size_t local_only = 0;
    std::size_t orphan = 0;
    std::size_t duplicate = 0;        ///< identities with two or more entities on one side (left alone)
    std::size_t unidentified = 0;     ///< entities whose identity could not be derived (skipped)
    std::size_t local_read = 0;       ///< entities read from the local input
    std::size_t remote_read = 0;      ///< entities read from the remote input
};

/// One case as the sink sees it. The pointers are valid only during the sink call; either may be
/// null. For a duplicate, `local_count` / `remote_count` say how many entities share the identity and
/// the pointers name the first of each side.
template <class E>
struct stream_case {
    case_kind kind;
    key128 identity;
    const E* local = nullptr;
    const E* remote = nullptr;
    std::size_t local_count = 0;
    std::size_t remote_count = 0;
};

/// Default order of stream_merge(): increasing identity key (key128 order, i.e. the 32-digit hex
/// form compared as text). Any order works if entities with one identity are equivalent under it,
/// e.g. the natural key's member order for identity::natural_key (an ORDER BY on the key columns).
struct by_identity_key {
    template <class E>
    bool operator()(const E&, const key128& a, const E&, const key128& b) const noexcept {
        return a < b;
    }
};

namespace detail {

/// One side of the merge: the head entity (read ahead by one) with its identity key.
template <class E, class Next>
struct stream_side {
    Next& next;
    std::optional<E> head;
    key128 head_key;
    std::size_t& read;
    std::size_t& unidentified;

    template <class Identity>
    void advance(const Identity& id) {
        for (;;) {
            head = next();
            if (!head) return;
            ++read;
            try {
                head_key = id.key(*head);
                return;
            } catch (const error&) {
                ++unidentified;  // cannot be classified; plan() reports it with its reason
            }
        }
    }
};

} // namespace detail

/// Classifies two inputs that yield entities in the same order (see by_identity_key) and calls
/// `sink(const stream_case<E>&)` for every case except in_sync.
///
/// `next_local()` and `next_remote()` return std::optional<E> (std::nullopt at the end). An input that
/// goes backwards is refused with errc::bad_page: a silent mis-order would turn every later entity
/// into a false local_only / orphan pair. Memory: two entities per side, whatever the input size.
template <entity E, class Identity, class NextLocal, class NextRemote, class Sink, class Order = by_identity_key>
stream_counts stream_merge(const Identity& identity, NextLocal&& next_local, NextRemote&& next_remote, Sink&& sink,
                           Order order = {}) {
    stream_counts counts;
    detail::stream_side<E, NextLocal> l{next_local, std::nullopt, {}, counts.local_read, counts.unidentified};
    detail::stream_side<E, NextRemote> r{next_remote, std::nullopt, {}, counts.remote_read, counts.unidentified};
    l.advance(identity);
    r.advance(identity);

    // Takes the group of entities equivalent to the head of `s` (consecutive, same identity) into
    // `first`, returns its size, and checks the order of what follows.
    auto take_group = [&](auto& s, std::optional<E>& first, key128& key, const char* side) -> std::size_t {
        first = std::move(s.head);
        key = s.head_key;
        std::size_t n = 1;
        for (;;) {
            s.advance(identity);
            if (!s.head) return n;
            if (order(*first, key, *s.head, s.head_key)) return n;
            if (order(*s.head, s.head_key, *first, key))
                throw error(errc::bad_page, std::string("stream_merge: the ") + side +
                                                " input is not in order: identity " + s.head_key.hex() + " came after " +
                                                key.hex());
            if (!(s.head_key == key))
                throw error(errc::invalid_argument,
                            std::string("stream_merge: the order treats two different identities of the ") + side +
                                " input as equal (" + key.hex() + ", " + s.head_key.hex() + ")");
            ++n;
        }
    };

    std::optional<E> lv, rv;
    key128 lk, rk;
    while (l.head || r.head) {
        const bool take_l = l.head && (!r.head || !order(*r.head, r.head_key, *l.head, l.head_key));
        const bool take_r = r.head && (!l.head || !order(*l.head, l.head_key, *r.head, r.head_key));
        if (take_l && take_r && !(l.head_key == r.head_key))
            throw error(errc::invalid_argument, "stream_merge: the order treats two different identities as equal (" +
                                                    l.head_key.hex() + ", " + r.head_key.hex() + ")");
        const std::size_t ln = take_l ? take_group(l, lv, lk, "local") : 0;
        const std::size_t rn = take_r ? take_group(r, rv, rk, "remote") : 0;
        stream_case<E> c{case_kind::in_sync, take_l ? lk : rk, ln ? &*lv : nullptr, rn ? &*rv : nullptr, ln, rn};
        if (ln > 1 || rn > 1) {
            c.kind = case_kind::duplicate;
            ++counts.duplicate;
        } else if (ln && rn) {
            if (fingerprint(*lv) == fingerprint(*rv)) {
                ++counts.in_sync;
                continue;
            }
            c.kind = case_kind::diverged;
            ++counts.diverged;
        } else if (ln) {
            c.kind = case_kind::local_only;
            ++counts.local_only;
        } else {
            c.kind = case_kind::orphan;
            ++counts.orphan;
        }
        sink(std::as_const(c));
    }
    return counts;
}

} // namespace concord
