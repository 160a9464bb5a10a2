#pragma once
// Rows keyed by a 128-bit hash, and how plan() joins them (docs/design.md, "Plan").
//
// Identity keys are uniform hashes, so a most-significant-digit radix sort on the top byte of the key
// (in place, "American flag" style: no second buffer, which keeps plan()'s extra memory per entity
// small) splits N rows into 256 buckets. Each bucket fits in cache and is split again through a
// small copy buffer on up to 12 bits at a time, until runs of a few rows are left for one insertion
// pass over the bucket. Rows are compared by (id, index), so the order is total and repeatable.
// (Spreading the rows over partitions while building them, then sorting each in cache, measured
// slower: the scatter to a few hundred write fronts costs what the first in-place pass does.)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <concord/hash.hpp>

namespace concord::detail {

/// One entity of one side, 24 bytes: the top 96 bits of its identity key (plenty to join on: see
/// reconciler::classify for what a collision would do), where it sits in the input (31 bits; the
/// lowest bit of `slot` says whether a local row found a link), and a 64-bit summary of what must
/// match for the pair to be in sync (low half of the content fingerprint XOR a hash of the remote id).
struct key_row {
    std::uint64_t hi = 0;    ///< identity key, bits 64..127 (key128::hi)
    std::uint32_t lo = 0;    ///< identity key, bits 32..63 (top half of key128::lo)
    std::uint32_t slot = 0;  ///< input position << 1 | linked
    std::uint64_t tag = 0;

    static constexpr std::size_t max_index = 0x7FFFFFFFu;
    static key_row make(const key128& id, std::uint64_t tag, std::size_t index) noexcept {
        return {id.hi, static_cast<std::uint32_t>(id.lo >> 32), static_cast<std::uint32_t>(index << 1), tag};
    }
    std::size_t index() const noexcept { return slot >> 1; }
    bool linked() const noexcept { return slot & 1u; }
    void set_linked() noexcept { slot |= 1u; }
    bool same_key(const key_row& o) const noexcept { return hi == o.hi && lo == o.lo; }
    bool key_less(const key_row& o) const noexcept { return hi != o.hi ? hi < o.hi : lo < o.lo; }
};
static_assert(sizeof(key_row) == 24);

/// A fixed-capacity array of rows. Large ones are 2 MiB aligned and ask the kernel for transparent
/// huge pages: first touching fresh memory costs a page fault per 4 KiB page, which on virtual
/// machines can cost more than the whole join (32 MiB of rows: ~100 ms of faults, ~2 ms with huge pages).
class row_buffer {
public:
    explicit row_buffer(std::size_t capacity) {
        if (!capacity) return;
        const std::size_t bytes = capacity * sizeof(key_row);
        if (bytes >= huge) {
            // Exactly the bytes asked for, 2 MiB aligned; the advice covers the last partial huge
            // page too, which the allocator's mapping usually extends over (else it falls back).
            data_ = static_cast<key_row*>(::operator new(bytes, std::align_val_t{huge}));
            aligned_ = true;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            ::madvise(data_, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
        } else {
            data_ = static_cast<key_row*>(::operator new(bytes));
        }
    }
    row_buffer(const row_buffer&) = delete;
    row_buffer& operator=(const row_buffer&) = delete;
    ~row_buffer() {
        if (aligned_) ::operator delete(data_, std::align_val_t{huge});
        else ::operator delete(data_);
    }

    void push_back(const key_row& r) noexcept { data_[size_++] = r; }  // within capacity, by construction
    void set_size(std::size_t n) noexcept { size_ = n; }                // rows written through data()
    key_row* data() noexcept { return data_; }
    key_row* begin() noexcept { return data_; }
    key_row* end() noexcept { return data_ + size_; }
    const key_row* begin() const noexcept { return data_; }
    const key_row* end() const noexcept { return data_ + size_; }
    std::size_t size() const noexcept { return size_; }
    key_row& operator[](std::size_t i) noexcept { return data_[i]; }
    const key_row& operator[](std::size_t i) const noexcept { return data_[i]; }

private:
    static constexpr std::size_t huge = std::size_t{2} << 20;
    key_row* data_ = nullptr;
    std::size_t size_ = 0;
    bool aligned_ = false;  ///< a huge-page allocation
};
static_assert(std::is_trivially_copyable_v<key_row>);

inline bool row_less(const key_row& a, const key_row& b) noexcept {
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return a.slot < b.slot;
}

/// Hints that *p will be written / read soon (no effect where the compiler has no prefetch builtin).
inline void prefetch_for_write([[maybe_unused]] const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1);
#endif
}
inline void prefetch_for_read([[maybe_unused]] const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0);
#endif
}

/// One radix pass: puts the rows of [first, first + n) into buckets by the byte at `shift`; bucket b
/// is then [start[b], start[b + 1]).
inline void partition_rows(key_row* first, std::size_t n, int shift, std::size_t (&start)[257]) noexcept {
    std::size_t count[256] = {};
    for (std::size_t i = 0; i < n; ++i) ++count[(first[i].hi >> shift) & 0xFF];
    start[0] = 0;
    for (int b = 0; b < 256; ++b) start[b + 1] = start[b] + count[b];
    std::size_t next[256];
    std::copy(start, start + 256, next);
    const std::size_t last = n - 1;
    for (unsigned b = 0; b < 256; ++b) {
        // Carry one row along its cycle until a row for bucket b turns up (one load and store per row).
        while (next[b] < start[b + 1]) {
            key_row x = first[next[b]];
            auto t = static_cast<unsigned>((x.hi >> shift) & 0xFF);
            while (t != b) {
                // 256 write fronts are more streams than the hardware prefetcher follows: ask for the
                // front's row 8 ahead (3 cache lines) now. 10^6 random rows: 13.3 to 9.2 ms.
                prefetch_for_write(first + std::min(next[t] + 8, last));
                std::swap(x, first[next[t]++]);
                t = static_cast<unsigned>((x.hi >> shift) & 0xFF);
            }
            first[next[b]++] = x;
        }
    }
}

/// Insertion sort by row_less, for the short runs the radix passes leave.
inline void insertion_sort_rows(key_row* first, std::size_t n) noexcept {
    for (std::size_t i = 1; i < n; ++i) {
        const key_row x = first[i];
        std::size_t j = i;
        for (; j > 0 && row_less(x, first[j - 1]); --j) first[j] = first[j - 1];
        first[j] = x;
    }
}

/// What sort_bucket() reuses from one bucket to the next: a copy buffer as large as the largest
/// bucket (about n / 256 rows after the first pass: a fraction of a byte per entity) and counters.
struct sort_scratch {
    std::vector<key_row> rows;
    std::vector<std::size_t> counts;
};

/// Sorts a bucket whose rows agree in bits [low, 64) of `hi`. Buckets fit in cache after the first
/// in-place pass, so each further pass copies out and scatters back (cheaper than carrying rows
/// along cycles), on as many bits as leave runs of about one row: up to 12 bits, fewer for smaller
/// buckets; above 8192 rows, 8 bits (more write fronts than the cache holds). 10^6 random rows, the
/// buckets after the first pass: 12.0 ms with 11 bits and a call per run, 7.5 ms so (one core).
inline void sort_bucket(key_row* first, std::size_t n, int low, sort_scratch& scratch) {
    if (n <= 32) return insertion_sort_rows(first, n);
    if (low <= 0) {  // equal in all 64 top bits (not uniform hashes): compare the rest
        std::sort(first, first + n, [](const key_row& a, const key_row& b) { return row_less(a, b); });
        return;
    }
    int bits = 4;
    while (bits < 12 && (std::size_t{1} << bits) < n) ++bits;
    if (n > 8192) bits = 8;
    bits = std::min(bits, low);
    const int shift = low - bits;
    const std::size_t buckets = std::size_t{1} << bits, mask = buckets - 1;
    if (scratch.rows.size() < n) scratch.rows.resize(n);
    std::vector<std::size_t> start(buckets + 1);  // kept across the recursion, which reuses the counts
    scratch.counts.assign(buckets, 0);
    std::size_t* next = scratch.counts.data();
    for (std::size_t i = 0; i < n; ++i) ++next[(first[i].hi >> shift) & mask];
    std::size_t sum = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
        start[b] = sum;
        sum += next[b];
        next[b] = start[b];
    }
    start[buckets] = n;
    key_row* out = scratch.rows.data();
    for (std::size_t i = 0; i < n; ++i) out[next[(first[i].hi >> shift) & mask]++] = first[i];
    // One insertion pass over the whole bucket sorts the short runs (about one row each): rows never
    // cross a sub-bucket boundary, so it costs a comparison or two per row, where a call per
    // sub-bucket cost more than the sorting. Usually no sub-bucket holds more than 32 rows, and the
    // pass is then the copy back as well: one pass over the bucket less (at 10^6 rows, within the
    // noise of the measurements; benchmarks/NOTES.md).
    bool deeper = false;
    for (std::size_t b = 0; b < buckets && !deeper; ++b) deeper = start[b + 1] - start[b] > 32;
    if (!deeper) {
        for (std::size_t i = 0; i < n; ++i) {
            const key_row x = out[i];
            std::size_t j = i;
            for (; j > 0 && row_less(x, first[j - 1]); --j) first[j] = first[j - 1];
            first[j] = x;
        }
        return;
    }
    // Else sub-buckets of more than 32 rows are sorted on first, in place.
    std::copy(out, out + n, first);
    for (std::size_t b = 0; b < buckets; ++b)
        if (start[b + 1] - start[b] > 32) sort_bucket(first + start[b], start[b + 1] - start[b], shift, scratch);
    insertion_sort_rows(first, n);
}

/// True when [first, first + n) is in row_less order already. Inputs that come in identity order (a
/// store's links, ORDER BY identity; a remote that lists by key) then skip the sort; a shuffled
/// input stops the scan at its first descent, within a few rows.
inline bool rows_in_order(const key_row* first, std::size_t n) noexcept {
    for (std::size_t i = 1; i < n; ++i)
        if (row_less(first[i], first[i - 1])) return false;
    return true;
}

/// Sorts [first, first + n) by row_less: by key, then input position. The first pass is in place
/// (no second buffer of n rows); the buckets it leaves go to sort_bucket().
inline void sort_rows(key_row* first, std::size_t n) {
    if (n <= 32) return insertion_sort_rows(first, n);
    if (rows_in_order(first, n)) return;
    std::size_t start[257];
    partition_rows(first, n, 56, start);
    sort_scratch scratch;
    for (int b = 0; b < 256; ++b)
        if (start[b + 1] - start[b] > 1) sort_bucket(first + start[b], start[b + 1] - start[b], 56, scratch);
}

} // namespace concord::detail
