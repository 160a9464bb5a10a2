#pragma once
// Shared helpers of the libFuzzer targets: a tiny reader over the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fuzz {
/// Consumes the fuzzer's input front to back; returns zeros once it runs out.
struct reader {
    const std::uint8_t* p;
    std::size_t n;
    std::uint64_t u64(int bytes = 8) {
        std::uint64_t v = 0;
        for (int i = 0; i < bytes && n; ++i, ++p, --n) v = (v << 8) | *p;
        return v;
    }
    std::string str(std::size_t max) {
        const std::size_t len = n ? static_cast<std::size_t>(u64(1)) % (max + 1) : 0;
        const std::size_t take = len < n ? len : n;
        std::string s(reinterpret_cast<const char*>(p), take);
        p += take;
        n -= take;
        return s;
    }
    bool empty() const { return n == 0; }
};
} // namespace fuzz
