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

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
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

template <class T>
inline constexpr bool floating_member = std::is_floating_point_v<T>;
template <class T>
inline constexpr bool floating_member<std::optional<T>> = std::is_floating_point_v<T>;

/// `<` for one member, total for floating point: every NaN is one value, after +inf (PostgreSQL's
/// ORDER BY), and -0 == +0, as in the canonical encoding. With `<` alone a NaN is equivalent to
/// every value, and entities of different identities would be taken for one. Compared as the
/// binary64 the encoding keeps: two long doubles that round to one double are one identity, and
/// ordered apart they would be reported as a local_only and an orphan of that identity.
/// NaN is told on the bits (nan_bits), not with `y != y`: under the host's -ffast-math that is folded
/// to false, and a NaN then compared equal to its neighbour (two identities merged into one case).
template <class T>
bool member_less(const T& a, const T& b) {
    if constexpr (std::is_floating_point_v<T>) {
        const double x = static_cast<double>(a), y = static_cast<double>(b);
        const bool xn = nan_bits(std::bit_cast<std::uint64_t>(x)), yn = nan_bits(std::bit_cast<std::uint64_t>(y));
        if (xn || yn) return yn && !xn;
        return x < y;
    } else if constexpr (is_optional<T>::value) return b && (!a || member_less(*a, *b));
    else return a < b;
}

template <auto M, auto... Rest, class E>
bool members_less(const E& a, const E& b) {
    if (member_less(a.*M, b.*M)) return true;
    if constexpr (sizeof...(Rest) == 0) return false;
    else return !member_less(b.*M, a.*M) && members_less<Rest...>(a, b);
}

} // namespace detail

/// Order of stream_merge() by the values of the given members, compared with `<` in turn: the order
/// of an `ORDER BY` on the natural key's columns. Paired with identity::natural_key of the same
/// members, entities equal under it have equal identity keys by construction, so stream_merge()
/// hashes an identity key only for the cases it reports, not for every entity (in sync pairs are
/// compared member by member). Floating-point members are ordered totally, as their canonical
/// encoding compares (every NaN equal and last, -0 == +0): an input that sorts NaN elsewhere is
/// refused as out of order (errc::bad_page), never merged with a neighbour.
template <auto... Members>
struct by_members {
    static_assert(sizeof...(Members) > 0, "concord::by_members needs at least one member pointer");
    template <class E>
    bool operator()(const E& a, const key128&, const E& b, const key128&) const {
        if constexpr ((detail::floating_member<std::remove_cvref_t<decltype(a.*Members)>> || ...))
            return detail::members_less<Members...>(a, b);
        else
            return std::forward_as_tuple(a.*Members...) < std::forward_as_tuple(b.*Members...);
    }
};

namespace identity {
template <auto... Members>
struct natural_key;
}

namespace detail {

/// True when equal under Order implies equal under Identity, so keys can wait for the cases.
template <class Identity, class Order>
inline constexpr bool keys_follow_order = false;
template <auto... Members>
inline constexpr bool keys_follow_order<identity::natural_key<Members...>, by_members<Members...>> = true;

/// An input's next entity, constructed in place from next() (no move of the entity; a streaming
/// merge is bound by per-entity costs). Empty `e`: the input has ended.
template <class E>
struct stream_slot {
    std::optional<E> e;
    template <class Next>
    explicit stream_slot(Next& next) : e(next()) {}
};

/// One side of the merge. Two slots: the first entity of the group being classified stays in one
/// while the side reads ahead into the other, so entities are never copied or moved.
template <class E, class Next>
struct stream_side {
    Next& next;
    std::size_t& read;
    std::size_t& unidentified;
    std::optional<stream_slot<E>> slot[2];
    key128 key[2];
    unsigned h = 0;  ///< slot of the head (the entity read ahead)

    stream_side(Next& n, std::size_t& read_count, std::size_t& unidentified_count)
        : next(n), read(read_count), unidentified(unidentified_count) {}

    E* head() noexcept { return slot[h] && slot[h]->e ? &*slot[h]->e : nullptr; }
    const key128& head_key() const noexcept { return key[h]; }

    /// Reads the next identifiable entity into slot h, with its key unless `Lazy` (keys follow the order).
    template <bool Lazy, class Identity>
    void advance(const Identity& id) {
        for (;;) {
            slot[h].emplace(next);
            if (!slot[h]->e) return;
            ++read;
            if constexpr (Lazy) {
                if (id.identifiable(*slot[h]->e)) return;
                ++unidentified;
            } else {
                try {
                    key[h] = id.key(*slot[h]->e);
                    return;
                } catch (const error&) {
                    ++unidentified;  // cannot be classified; plan() reports it with its reason
                }
            }
        }
    }
};

} // namespace detail

/// Classifies two inputs that yield entities in the same order (see by_identity_key and by_members)
/// and calls `sink(const stream_case<E>&)` for every case except in_sync.
///
/// `next_local()` and `next_remote()` return std::optional<E> (std::nullopt at the end). An input that
/// goes backwards is refused with errc::bad_page: a silent mis-order would turn every later entity
/// into a false local_only / orphan pair. An order that treats two different identities as equal is
/// errc::invalid_argument, and so is one that separates entities of one identity (finer than the
/// identity policy, e.g. by_members<&E::sku, &E::qty> with natural_key<&E::sku>), when the merge
/// meets it: two such entities next to each other on one side, or one at each side's head (the
/// merge holds O(1) entities, so the same identity further apart goes unseen). Memory: two entities
/// per side, whatever the input size.
///
/// Cases reach the sink as they are found, before the rest of the inputs is read, so they are
/// provisional until stream_merge() returns: when it throws, cases already passed to the sink may be
/// false (an input out of order is seen only where it goes backwards, after an entity it placed too
/// early was reported as local_only or orphan). Collect them and act once it has returned.
template <entity E, class Identity, class NextLocal, class NextRemote, class Sink, class Order = by_identity_key>
stream_counts stream_merge(const Identity& identity, NextLocal&& next_local, NextRemote&& next_remote, Sink&& sink,
                           Order order = {}) {
    constexpr bool lazy = detail::keys_follow_order<Identity, Order>;
    stream_counts counts;
    detail::stream_side<E, std::remove_reference_t<NextLocal>> l{next_local, counts.local_read, counts.unidentified};
    detail::stream_side<E, std::remove_reference_t<NextRemote>> r{next_remote, counts.remote_read,
                                                                  counts.unidentified};
    l.template advance<lazy>(identity);
    r.template advance<lazy>(identity);
    // The key of slot `at` of side `s` (derived now when keys are lazy: for reports and errors only).
    auto key_of = [&](auto& s, unsigned at) -> key128 {
        if constexpr (lazy) return identity.key(*s.slot[at]->e);
        else return s.key[at];
    };

    // An order finer than the identity would report one identity as several cases (local_only and
    // orphan for one pair, a duplicate missed): detected where both keys are in hand (not lazy).
    static constexpr const char* separates_hint =
        " input): entities of one identity must be equivalent under the order; is the order finer than the "
        "identity policy (e.g. by_members on more members than the natural key)?";

    // Takes the group of entities equivalent to the head of `s` (consecutive, same identity): its
    // first entity stays in its slot, returned in `first`; the side reads on in the other slot.
    // Returns the group's size and checks the order of what follows.
    auto take_group = [&](auto& s, const E*& first, const char* side) -> std::size_t {
        const unsigned f = s.h;
        first = &*s.slot[f]->e;
        const key128& key = s.key[f];
        s.h = f ^ 1u;
        std::size_t n = 1;
        for (;;) {
            s.template advance<lazy>(identity);
            const E* next = s.head();
            if (!next) return n;
            if (order(*first, key, *next, s.head_key())) {
                // Next group on this side; with keys in hand, check that it is another identity.
                if constexpr (!lazy)
                    if (s.head_key() == key)
                        throw error(errc::invalid_argument,
                                    std::string("stream_merge: the order separates entities of one identity (") +
                                        key.hex() + ", twice in a row in the " + side + separates_hint);
                return n;
            }
            if (order(*next, s.head_key(), *first, key))
                throw error(errc::bad_page, std::string("stream_merge: the ") + side +
                                                " input is not in order: identity " + key_of(s, s.h).hex() +
                                                " came after " + key_of(s, f).hex());
            if (!lazy && !(s.head_key() == key))
                throw error(errc::invalid_argument,
                            std::string("stream_merge: the order treats two different identities of the ") + side +
                                " input as equal (" + key.hex() + ", " + s.head_key().hex() + ")");
            ++n;
        }
    };

    for (;;) {
        const E* lh = l.head();
        const E* rh = r.head();
        if (!lh && !rh) break;
        // r before l settles the step with one comparison (the second is only needed for a match).
        const bool r_first = lh && rh && order(*rh, r.head_key(), *lh, l.head_key());
        const bool take_l = lh && !r_first;
        const bool take_r = rh && (!lh || r_first || !order(*lh, l.head_key(), *rh, r.head_key()));
        if constexpr (!lazy) {  // keys in hand: the heads make one group exactly when they are one identity
            if (take_l && take_r && !(l.head_key() == r.head_key()))
                throw error(errc::invalid_argument,
                            "stream_merge: the order treats two different identities as equal (" +
                                l.head_key().hex() + ", " + r.head_key().hex() + ")");
            if (lh && rh && take_l != take_r && l.head_key() == r.head_key())
                throw error(errc::invalid_argument,
                            std::string("stream_merge: the order separates entities of one identity (") +
                                l.head_key().hex() + ", at the head of both the local and the remote" +
                                separates_hint);
        }
        const unsigned key_slot = take_l ? l.h : r.h;  // the group's first entity stays in this slot
        const E* lv = nullptr;
        const E* rv = nullptr;
        const std::size_t ln = take_l ? take_group(l, lv, "local") : 0;
        const std::size_t rn = take_r ? take_group(r, rv, "remote") : 0;
        stream_case<E> c{case_kind::in_sync, key128{}, lv, rv, ln, rn};
        if (ln > 1 || rn > 1) {
            c.kind = case_kind::duplicate;
            ++counts.duplicate;
        } else if (ln && rn) {
            if (detail::same_content(*lv, *rv)) {  // both in hand: compare them, no need to hash either
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
        c.identity = take_l ? key_of(l, key_slot) : key_of(r, key_slot);
        sink(std::as_const(c));
    }
    return counts;
}

} // namespace concord
