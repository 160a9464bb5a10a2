#pragma once
// The check that a listing names each remote object once (reconciler_base::classify). One object
// listed twice would be classified twice: a "duplicate" of itself whose keep_oldest cancels the
// object it keeps, an orphan beside its own linked case. list_all() refuses it page by page; a
// listing handed to plan_from() directly (the puller, the mirror, a host) is checked here.
//
// Only the records that reached a case can be acted on, and they are few, so the check costs a
// pass over 32-bit id hashes (noted while the records were read) against a small table of the
// cases' records, not a set of every id: about 1-2 ns per record. A hash match is compared in full.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <concord/detail/parallel.hpp>

namespace concord::detail {

/// The remote id of record `i` of a listing, through a pointer to the listing (not a template, so
/// this compiles once per translation unit).
using remote_id_at = std::string_view (*)(const void* listing, std::size_t i);

/// Two positions of a listing that hold one remote id, or {n, n} if none do.
struct listed_twice {
    std::size_t first, second;
};

/// Looks for a record of the listing (`n` records, `hash[i]` a 32-bit hash of record i's remote id)
/// whose remote id is also that of one of the records `acted` names. With `threads` > 1 the pass
/// runs in slices; the pair found is the one of the lowest position, as on one thread.
inline listed_twice find_listed_twice(const std::uint32_t* hash, std::size_t n, const std::vector<std::uint32_t>& acted,
                                      const void* listing, remote_id_at id_at, unsigned threads, std::size_t min_slice) {
    if (acted.empty()) return {n, n};
    // Open addressing, at most half full: slot = record position + 1 (0 empty).
    std::size_t cap = 64;
    while (cap < 2 * acted.size()) cap *= 2;
    const std::size_t mask = cap - 1;
    std::vector<std::uint32_t> slot(cap, 0);
    // A bitmap in front of it (8 bits per acted record, at least 4 KiB): most records stop there.
    std::size_t bits = 1u << 15;
    while (bits < 8 * acted.size()) bits *= 2;
    const std::size_t bmask = bits - 1;
    std::vector<std::uint64_t> seen(bits / 64, 0);
    for (const auto a : acted) {
        const std::uint32_t h = hash[a];
        seen[(h & bmask) >> 6] |= std::uint64_t{1} << (h & 63);
        std::size_t at = (std::size_t{h} * 0x9E3779B1u >> 7) & mask;  // the bitmap took the low bits
        while (slot[at]) at = (at + 1) & mask;
        slot[at] = a + 1;
    }
    const unsigned k = slices_for(n, threads, min_slice);
    std::vector<listed_twice> found(k, listed_twice{n, n});
    run_slices(k, [&](unsigned s) {
        const auto [from, to] = slice_of(n, k, s);
        for (std::size_t i = from; i < to; ++i) {
            const std::uint32_t h = hash[i];
            if (!(seen[(h & bmask) >> 6] >> (h & 63) & 1)) continue;
            for (std::size_t at = (std::size_t{h} * 0x9E3779B1u >> 7) & mask; slot[at]; at = (at + 1) & mask) {
                const std::size_t j = slot[at] - 1;
                if (j != i && hash[j] == h && id_at(listing, j) == id_at(listing, i)) {
                    found[s] = {j < i ? j : i, j < i ? i : j};
                    return;
                }
            }
        }
    });
    for (const auto& f : found)
        if (f.first != n) return f;
    return {n, n};
}

} // namespace concord::detail
