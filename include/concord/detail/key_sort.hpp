#pragma once
// Rows keyed by a 128-bit hash, and the in-place sort plan() uses to join them (docs/design.md, "Plan").
//
// Identity keys are uniform hashes, so a most-significant-digit radix sort on the top byte of the key
// (in place, "American flag" style: no second buffer, which keeps plan()'s extra memory per entity
// small) splits N rows into 256 buckets, each bucket again, and leaves runs of a few dozen rows that a
// comparison sort finishes. Rows are compared by (id, index), so the order is total and repeatable.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <concord/hash.hpp>

namespace concord::detail {

/// One entity of one side, 32 bytes: its identity key, a 64-bit summary of what must match for the
/// pair to be in sync (low half of the content fingerprint XOR a hash of the remote id, see
/// reconciler::classify), where it sits in the input, and (local rows) its link + 1, or 0.
struct key_row {
    key128 id;
    std::uint64_t tag = 0;
    std::uint32_t index = 0;
    std::uint32_t link = 0;
};

/// A fixed-capacity array of rows. Large ones are 2 MiB aligned and ask the kernel for transparent
/// huge pages: first touching fresh memory costs a page fault per 4 KiB page, which on virtual
/// machines can cost more than the whole join (32 MiB of rows: ~100 ms of faults, ~2 ms with huge pages).
class row_buffer {
public:
    explicit row_buffer(std::size_t capacity) {
        if (!capacity) return;
        const std::size_t bytes = capacity * sizeof(key_row);
        if (bytes >= huge) {
            bytes_ = (bytes + huge - 1) / huge * huge;
            data_ = static_cast<key_row*>(::operator new(bytes_, std::align_val_t{huge}));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            ::madvise(data_, bytes_, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
        } else {
            data_ = static_cast<key_row*>(::operator new(bytes));
        }
    }
    row_buffer(const row_buffer&) = delete;
    row_buffer& operator=(const row_buffer&) = delete;
    ~row_buffer() {
        if (bytes_) ::operator delete(data_, std::align_val_t{huge});
        else ::operator delete(data_);
    }

    void push_back(const key_row& r) noexcept { data_[size_++] = r; }  // within capacity, by construction
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
    std::size_t bytes_ = 0;  ///< huge-page allocation size, 0 for a plain one
};
static_assert(std::is_trivially_copyable_v<key_row>);

inline bool row_less(const key_row& a, const key_row& b) noexcept {
    if (a.id.hi != b.id.hi) return a.id.hi < b.id.hi;
    if (a.id.lo != b.id.lo) return a.id.lo < b.id.lo;
    return a.index < b.index;
}

/// Sorts [first, first + n) by row_less. `shift` is the bit position of the byte to split on.
inline void sort_rows(key_row* first, std::size_t n, int shift = 56) {
    if (n < 96 || shift < 0) {
        std::sort(first, first + n, row_less);
        return;
    }
    std::size_t count[256] = {};
    for (std::size_t i = 0; i < n; ++i) ++count[(first[i].id.hi >> shift) & 0xFF];
    std::size_t start[257];
    start[0] = 0;
    for (int b = 0; b < 256; ++b) start[b + 1] = start[b] + count[b];
    std::size_t next[256];
    std::copy(start, start + 256, next);
    for (unsigned b = 0; b < 256; ++b) {
        while (next[b] < start[b + 1]) {
            key_row& x = first[next[b]];
            const auto t = static_cast<unsigned>((x.id.hi >> shift) & 0xFF);
            if (t == b) ++next[b];
            else std::swap(x, first[next[t]++]);
        }
    }
    // Below the top 64 bits the keys are still uniform: the comparison sort takes over there.
    for (int b = 0; b < 256; ++b) sort_rows(first + start[b], count[b], shift - 8);
}

} // namespace concord::detail
