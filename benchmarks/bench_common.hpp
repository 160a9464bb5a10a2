#pragma once
// Shared by concord's benchmark drivers: the benchmark entity, a timer, medians, and a live-heap
// counter (operator new/delete are replaced in the driver that defines CONCORD_BENCH_COUNT_HEAP).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

namespace bench {

/// The benchmark entity: a few integers and two short strings, identified by its SKU.
struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, sku), (std::string, name), (std::int64_t, qty),
                             (std::int64_t, price_cents), (std::int64_t, revision));
};

/// Wall-clock seconds of one call.
template <class F>
double seconds(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const auto n = v.size();
    return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

/// Peak resident set size of this process (VmHWM), in KiB.
inline long peak_rss_kib() {
    long kib = -1;
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, f))
            if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
        std::fclose(f);
    }
    return kib;
}

/// Formats seconds as a short human figure.
inline std::string fmt_time(double s) {
    char b[32];
    if (s >= 1) std::snprintf(b, sizeof b, "%.2f s", s);
    else if (s >= 1e-3) std::snprintf(b, sizeof b, "%.1f ms", s * 1e3);
    else std::snprintf(b, sizeof b, "%.0f us", s * 1e6);
    return b;
}

} // namespace bench
