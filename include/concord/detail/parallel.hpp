#pragma once
// plan()'s passes over contiguous slices of an input, one thread per slice
// (reconciler_options::threads; docs/design.md, "Plan"). Every result is gathered in slice order, so
// a plan is the same, case for case and problem for problem, whatever the thread count.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <type_traits>
#include <vector>

#include <pthread.h>

#include <concord/detail/key_sort.hpp>

namespace concord::detail {

/// How many slices n items get with up to `threads` threads and at least `min_slice` items per
/// slice (at least one slice).
inline unsigned slices_for(std::size_t n, unsigned threads, std::size_t min_slice) noexcept {
    if (threads <= 1) return 1;
    return static_cast<unsigned>(std::clamp<std::size_t>(n / std::max<std::size_t>(min_slice, 1), 1, threads));
}

/// First item of slice s of k over n items (slice s is [slice_begin(n, k, s), slice_begin(n, k, s + 1))).
inline std::size_t slice_begin(std::size_t n, unsigned k, unsigned s) noexcept {
    return n * s / k;  // n < 2^32 (plan()'s limit) and s < k < 2^32: no overflow
}

/// Slice s of k over n items as [begin, end).
struct slice_range {
    std::size_t begin, end;
};
inline slice_range slice_of(std::size_t n, unsigned k, unsigned s) noexcept {
    return {slice_begin(n, k, s), slice_begin(n, k, s + 1)};
}

/// Slice s of k over n rows in key order, cut where the top byte of the key changes: the rows whose
/// top byte is in [256 s / k, 256 (s + 1) / k). Sorted arrays cut so share no key across slices,
/// so each slice of a merge join sees whole identities (uniform keys: about n / k rows a slice).
inline slice_range rows_of_slice(const key_row* rows, std::size_t n, unsigned k, unsigned s) noexcept {
    auto cut = [&](unsigned t) -> std::size_t {
        if (t == 0) return 0;
        if (t >= k) return n;
        const std::uint64_t top = std::uint64_t{256} * t / k;
        return static_cast<std::size_t>(
            std::partition_point(rows, rows + n, [top](const key_row& r) { return (r.hi >> 56) < top; }) - rows);
    };
    return {cut(s), cut(s + 1)};
}

/// One slice's call, as a POSIX thread runs it.
struct slice_job {
    void (*call)(void*, unsigned) = nullptr;
    void* f = nullptr;
    unsigned slice = 0;
    std::exception_ptr error;

    void run() noexcept {
        try {
            call(f, slice);
        } catch (...) {
            error = std::current_exception();
        }
    }
    static void* start(void* job) noexcept {
        static_cast<slice_job*>(job)->run();
        return nullptr;
    }
};

/// run_slices() behind a plain function pointer, on POSIX threads: one definition for every caller,
/// and <pthread.h> instead of <thread> (which costs about a second of parsing in C++20 mode).
inline void run_slices_erased(unsigned k, void (*call)(void*, unsigned), void* f) {
    std::vector<slice_job> jobs(k);
    std::vector<pthread_t> threads(k);
    std::vector<bool> started(k, false);
    for (unsigned s = 0; s < k; ++s) jobs[s] = {call, f, s, nullptr};
    for (unsigned s = 1; s < k; ++s)  // a thread that cannot be started: its slice runs here below
        started[s] = ::pthread_create(&threads[s], nullptr, &slice_job::start, &jobs[s]) == 0;
    for (unsigned s = 1; s < k; ++s)
        if (!started[s]) jobs[s].run();
    jobs[0].run();
    for (unsigned s = 1; s < k; ++s)
        if (started[s]) ::pthread_join(threads[s], nullptr);
    for (auto& j : jobs)
        if (j.error) std::rethrow_exception(j.error);
}

/// Runs f(s) for every slice s in [0, k): slice 0 on the calling thread, the others on threads of
/// their own (on the calling thread too if a thread cannot be started). Every slice has finished when
/// it returns; if slices threw, the exception of the first of them is rethrown.
template <class F>
void run_slices(unsigned k, F&& f) {
    using fn = std::remove_reference_t<F>;
    // One out-of-line body per caller for both paths, rather than an inlined copy besides (compile time).
    constexpr void (*call)(void*, unsigned) = [](void* p, unsigned s) { (*static_cast<fn*>(p))(s); };
    void* const p = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
    if (k <= 1) call(p, 0);
    else run_slices_erased(k, call, p);
}

/// A mutex for what slices must do one at a time (a user's decision book look-ups).
class slice_mutex {
public:
    slice_mutex() = default;
    slice_mutex(const slice_mutex&) = delete;
    slice_mutex& operator=(const slice_mutex&) = delete;
    ~slice_mutex() { ::pthread_mutex_destroy(&m_); }

    /// Holds the mutex (if any) while it lives.
    class guard {
    public:
        explicit guard(slice_mutex* m) noexcept : m_(m) {
            if (m_) ::pthread_mutex_lock(&m_->m_);
        }
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        ~guard() {
            if (m_) ::pthread_mutex_unlock(&m_->m_);
        }

    private:
        slice_mutex* m_;
    };

private:
    pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
};

/// Fills `rows` (capacity n) from n inputs in k slices: make(s, i, row) writes the row of input i and
/// returns true, or returns false when input i gives no row. Rows keep input order.
template <class Make>
void fill_rows(row_buffer& rows, std::size_t n, unsigned k, Make&& make) {
    std::vector<std::size_t> made(k);
    run_slices(k, [&](unsigned s) {
        const auto [b, e] = slice_of(n, k, s);
        key_row* out = rows.data() + b;
        for (std::size_t i = b; i < e; ++i)
            if (make(s, i, *out)) ++out;
        made[s] = static_cast<std::size_t>(out - (rows.data() + b));
    });
    std::size_t size = 0;
    for (unsigned s = 0; s < k; ++s) {  // close the gaps the slices left
        const std::size_t b = slice_begin(n, k, s);
        if (size != b && made[s]) std::memmove(rows.data() + size, rows.data() + b, made[s] * sizeof(key_row));
        size += made[s];
    }
    rows.set_size(size);
}

/// sort_rows() with the buckets of its first pass shared among up to `threads` threads.
inline void sort_rows_sliced(key_row* first, std::size_t n, unsigned threads, std::size_t min_slice) {
    const unsigned k = slices_for(n, threads, min_slice);
    if (k <= 1) {
        sort_rows(first, n);
        return;
    }
    if (rows_in_order(first, n)) return;
    std::size_t start[257];
    partition_rows(first, n, 56, start);
    run_slices(k, [&](unsigned s) {
        // Slice s sorts the buckets that start in its share of the rows (uniform keys: about n / k each).
        const auto [lo, hi] = slice_of(n, k, s);
        sort_scratch scratch;
        for (int b = 0; b < 256; ++b)
            if (start[b] >= lo && start[b] < hi && start[b + 1] - start[b] > 1)
                sort_bucket(first + start[b], start[b + 1] - start[b], 56, scratch);
    });
}

} // namespace concord::detail
