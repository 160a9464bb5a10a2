#pragma once
// Range-checksum bisection, as table-diff tools do it: compare checksums of identity ranges on both
// sides, split only the ranges that differ, and fetch rows only from small differing ranges.
//
// The key space is split by hex digit (fan-out 16): level 1 is the 16 ranges "0".."f", level 2 the
// 256 two-digit prefixes under the differing level-1 ranges, and so on. Each level is ONE round trip
// (remote.checksums(ranges)), so a diff costs about log16(N / leaf_rows) + 2 round trips; the rows
// transferred are those of the differing leaves, about k * leaf_rows for k differences, whatever N
// is. The remote computes its sums over the rows of each range it is asked about (an index range
// scan); the local side computes its sums from a sorted digest with prefix sums.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <concord/entity.hpp>  // detail::quoted_excerpt
#include <concord/error.hpp>
#include <concord/mirror/checksum.hpp>
#include <concord/records.hpp>

namespace concord::mirror {

/// Capability: the remote answers range checksums and range listings, several ranges per call.
template <class R>
concept remote_can_checksum = requires(R& r, const std::vector<key_range>& ranges) {
    { r.checksums(ranges) } -> std::same_as<std::vector<range_checksum>>;
    { r.list_ranges(ranges) } -> std::same_as<std::vector<remote_record<typename R::entity_type>>>;
};

/// The local side's rows as (identity hex, h1, h2), sorted, with prefix sums: checksums of any
/// range in O(log N).
class local_digest {
public:
    local_digest() = default;

    /// Builds the digest of `entities` under `identity` (an identity policy). Entities that cannot
    /// be identified are skipped (a full plan reports them).
    template <class Identity, entity E>
    static local_digest of(const Identity& identity, const std::vector<E>& entities) {
        local_digest d;
        d.rows_.reserve(entities.size());
        for (const auto& e : entities) {
            try {
                auto id = identity.key(e).hex();
                auto [h1, h2] = row_hash_of(id, e);
                d.rows_.push_back({std::move(id), h1, h2});
            } catch (const error&) {
            }
        }
        std::sort(d.rows_.begin(), d.rows_.end(), [](const row& a, const row& b) { return a.id < b.id; });
        d.p1_.assign(d.rows_.size() + 1, 0);
        d.p2_.assign(d.rows_.size() + 1, 0);
        for (std::size_t i = 0; i < d.rows_.size(); ++i) {
            d.p1_[i + 1] = d.p1_[i] + d.rows_[i].h1;
            d.p2_[i + 1] = d.p2_[i] + d.rows_[i].h2;
        }
        return d;
    }

    range_checksum checksum(const key_range& r) const {
        const auto a = lower(r.lo);
        const auto b = r.hi.empty() ? rows_.size() : lower(r.hi);
        if (b <= a) return {};
        return {b - a, p1_[b] - p1_[a], p2_[b] - p2_[a]};
    }
    std::size_t size() const noexcept { return rows_.size(); }

    /// The identities of the local rows in a range (the local side of a differing range).
    std::vector<key128> ids_in(const key_range& r) const {
        std::vector<key128> out;
        const auto b = r.hi.empty() ? rows_.size() : lower(r.hi);
        for (auto i = lower(r.lo); i < b; ++i) {
            key128 k;
            if (k.parse_hex(rows_[i].id)) out.push_back(k);
        }
        return out;
    }

private:
    struct row {
        std::string id;
        std::int64_t h1, h2;
    };
    std::size_t lower(const std::string& k) const {
        return static_cast<std::size_t>(
            std::lower_bound(rows_.begin(), rows_.end(), k, [](const row& r, const std::string& x) { return r.id < x; }) -
            rows_.begin());
    }
    std::vector<row> rows_;
    std::vector<std::int64_t> p1_, p2_;
};

/// Refuses, with errc::bad_page, a range listing (`list_ranges(ranges)`) holding a record whose
/// identity (its metadata's) lies in none of the `ranges` (disjoint, as bisect() and the mirror ask
/// them). Such a listing is planned as every record of those ranges: a record of another identity
/// would make that identity look complete without the object its link names, so it would be
/// created again (or the wrong object adopted). `what` names the listing in the message.
template <class Recs>
void check_range_listing(const Recs& recs, std::vector<key_range> ranges, std::string_view what) {
    std::sort(ranges.begin(), ranges.end(), [](const key_range& a, const key_range& b) { return a.lo < b.lo; });
    for (const auto& rec : recs) {
        const auto it = rec.meta.find(std::string(meta_keys::identity));
        const std::string_view id = it == rec.meta.end() ? std::string_view() : std::string_view(it->second);
        // The last range starting at or before id is the only one that can hold it.
        auto r = std::upper_bound(ranges.begin(), ranges.end(), id,
                                  [](std::string_view x, const key_range& k) { return x < k.lo; });
        if (r != ranges.begin() && std::prev(r)->contains(id)) continue;
        throw error(errc::bad_page, std::string(what) + ": the remote listed " + concord::detail::quoted_excerpt(rec.remote_id) +
                                        " (identity " + concord::detail::quoted_excerpt(id) + "), which lies in none of the " +
                                        std::to_string(ranges.size()) +
                                        " ranges asked for; nothing was classified or acted upon from this listing");
    }
}

/// Tuning of the bisection.
struct bisect_options {
    std::size_t leaf_rows = 8;  ///< stop splitting when neither side holds more rows in a range
};

/// What a bisection cost and found.
struct bisect_stats {
    std::size_t round_trips = 0;       ///< checksum round trips plus the final listing
    std::size_t ranges_compared = 0;   ///< ranges whose checksums were compared
    std::size_t differing_leaves = 0;  ///< small differing ranges whose rows were fetched
    std::size_t rows_fetched = 0;      ///< remote rows transferred (active and removed)
};

/// The differing ranges and the remote rows in them.
template <class E>
struct bisect_result {
    std::vector<key_range> ranges;
    std::vector<remote_record<E>> remote;
    bisect_stats stats;
};

/// Finds where `remote` and `local` differ. Exact up to checksum collisions (about 2^-62 per range).
template <class R>
    requires remote_can_checksum<R>
bisect_result<typename R::entity_type> bisect(R& remote, const local_digest& local, bisect_options opts = {}) {
    static constexpr char digits[] = "0123456789abcdef";
    bisect_result<typename R::entity_type> out;
    std::vector<std::string> level;
    for (char c : std::string_view(digits, 16)) level.emplace_back(1, c);
    while (!level.empty()) {
        std::vector<key_range> ranges;
        ranges.reserve(level.size());
        for (const auto& p : level) ranges.push_back(prefix_range(p));
        auto theirs = remote.checksums(ranges);
        ++out.stats.round_trips;
        out.stats.ranges_compared += ranges.size();
        if (theirs.size() != ranges.size())
            throw error(errc::bad_page, "mirror bisection: the remote answered " + std::to_string(theirs.size()) +
                                            " checksums for " + std::to_string(ranges.size()) + " ranges");
        std::vector<std::string> next;
        for (std::size_t i = 0; i < ranges.size(); ++i) {
            const auto mine = local.checksum(ranges[i]);
            if (mine == theirs[i]) continue;
            const auto biggest = std::max<std::uint64_t>(mine.count, theirs[i].count);
            if (biggest <= opts.leaf_rows || level[i].size() >= 32) {
                out.ranges.push_back(ranges[i]);
            } else {
                for (char c : std::string_view(digits, 16)) next.push_back(level[i] + c);
            }
        }
        level = std::move(next);
    }
    out.stats.differing_leaves = out.ranges.size();
    if (!out.ranges.empty()) {
        out.remote = remote.list_ranges(out.ranges);
        check_range_listing(out.remote, out.ranges, "mirror bisection");
        ++out.stats.round_trips;
        out.stats.rows_fetched = out.remote.size();
    }
    return out;
}

} // namespace concord::mirror
