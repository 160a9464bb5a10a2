#pragma once
// Range checksums over the identity key space, the vocabulary the mirror replica and the bisection
// share. A range is a half-open interval of identity keys in their 32-hex-digit text form (so text
// order is key order). Its checksum is (count, sum of h1, sum of h2) over the rows in the range,
// where, for one row,
//     h = XXH3-128("concord-mirror-row/v1" | identity hex | content fingerprint hex)
//     h1 = h.hi >> 33, h2 = h.lo >> 33          (31 bits each, so sums of 2^31 rows fit in int64)
// Sums, not XOR, so a database can compute them with plain SQL (sum()); a row added, removed or
// changed moves (count, h1, h2) except with probability about 2^-62.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <concord/entity.hpp>
#include <concord/hash.hpp>

namespace concord::mirror {

/// Half-open range [lo, hi) of identity keys as hex text; an empty `hi` is unbounded.
struct key_range {
    std::string lo;
    std::string hi;
    friend bool operator==(const key_range&, const key_range&) = default;
    bool contains(std::string_view id) const { return id >= lo && (hi.empty() || id < hi); }
};

/// The range of every key starting with `prefix` (hex digits, lowercase).
inline key_range prefix_range(std::string_view prefix) {
    key_range r{std::string(prefix), {}};
    std::string hi(prefix);
    while (!hi.empty()) {  // increment the last digit that is not 'f', drop the trailing 'f's
        char& c = hi.back();
        if (c == 'f') {
            hi.pop_back();
            continue;
        }
        c = c == '9' ? 'a' : static_cast<char>(c + 1);
        break;
    }
    r.hi = std::move(hi);
    return r;
}

/// Checksum of one range (see the header comment).
struct range_checksum {
    std::uint64_t count = 0;
    std::int64_t h1 = 0;
    std::int64_t h2 = 0;
    friend bool operator==(const range_checksum&, const range_checksum&) = default;
};

/// The two checksum parts of one row.
inline std::pair<std::int64_t, std::int64_t> row_hash(std::string_view identity_hex, const key128& content) {
    std::string buf = "concord-mirror-row/v1";
    buf.append(identity_hex);
    buf.append(content.hex());
    const auto h = xxh3_128(buf);
    return {static_cast<std::int64_t>(h.hi >> 33), static_cast<std::int64_t>(h.lo >> 33)};
}

/// The checksum parts of an entity stored under an identity.
template <entity E>
std::pair<std::int64_t, std::int64_t> row_hash_of(std::string_view identity_hex, const E& e) {
    return row_hash(identity_hex, fingerprint(e));
}

} // namespace concord::mirror
