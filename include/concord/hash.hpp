#pragma once
// Hashes concord persists or sends. Two algorithms, both platform-stable by specification:
//  * XXH3-128 (xxHash 0.8, seed 0) for fingerprints and identity keys: fast, on the hot path of
//    diffing millions of entities; not meant to resist an adversary.
//  * SHA-256 (FIPS 180-4, via OpenSSL's libcrypto) for idempotency keys: derived once per remote
//    action and sent to a third party, so collisions must be infeasible.
// std::hash is never used for anything that outlives the process.

#include <array>
#include <cerrno>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <openssl/evp.h>
#include <sys/random.h>

#include <concord/error.hpp>

namespace concord {

/// A 128-bit hash value: the type of fingerprints and identity keys.
struct key128 {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;

    friend constexpr bool operator==(const key128&, const key128&) = default;
    friend constexpr auto operator<=>(const key128&, const key128&) = default;

    /// 32 lowercase hex digits, most significant first (XXH128 canonical order).
    std::string hex() const {
        std::string out(32, '0');
        write_hex(out.data());
        return out;
    }

    /// The same 32 digits written at `out` (no terminator); returns out + 32. For keys and ids built
    /// in one buffer instead of a string per part.
    char* write_hex(char* out) const noexcept {
        static constexpr char digits[] = "0123456789abcdef";
        for (int i = 0; i < 16; ++i) {
            out[15 - i] = digits[(hi >> (4 * i)) & 0xF];
            out[31 - i] = digits[(lo >> (4 * i)) & 0xF];
        }
        return out + 32;
    }

    /// Parses 32 hex digits; returns false (and leaves *this alone) on anything else.
    bool parse_hex(std::string_view text) noexcept {
        if (text.size() != 32) return false;
        // Table decode without branches per digit: plan() parses one key per remote record.
        static constexpr auto table = [] {
            std::array<std::uint8_t, 256> t{};
            for (auto& x : t) x = 0xFF;
            for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - '0');
            for (int c = 'a'; c <= 'f'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - 'a' + 10);
            for (int c = 'A'; c <= 'F'; ++c) t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c - 'A' + 10);
            return t;
        }();
        std::uint64_t parts[2] = {0, 0};
        unsigned bad = 0;
        for (std::size_t half = 0; half < 2; ++half) {
            std::uint64_t acc = 0;
            for (std::size_t i = 0; i < 16; ++i) {
                const std::uint8_t v = table[static_cast<unsigned char>(text[half * 16 + i])];
                bad |= v;
                acc = (acc << 4) | (v & 0x0F);
            }
            parts[half] = acc;
        }
        if (bad & 0xF0) return false;
        hi = parts[0];
        lo = parts[1];
        return true;
    }

    bool empty() const noexcept { return hi == 0 && lo == 0; }
};

/// XXH3-128 with seed 0 over the bytes.
inline key128 xxh3_128(const void* data, std::size_t size) noexcept {
    const XXH128_hash_t h = XXH3_128bits(data, size);
    return key128{h.high64, h.low64};
}

inline key128 xxh3_128(std::string_view bytes) noexcept { return xxh3_128(bytes.data(), bytes.size()); }

/// SHA-256 digest of the bytes (OpenSSL EVP). Throws concord::error (errc::system_failure) if libcrypto fails.
inline std::array<unsigned char, 32> sha256(std::string_view bytes) {
    // One context and one fetched digest per thread: EVP_Digest() allocates a context and looks the
    // algorithm up on every call, which cost more than the hash for a 100-byte key.
    struct context {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        ~context() {
            EVP_MD_free(md);
            EVP_MD_CTX_free(ctx);
        }
#else
        const EVP_MD* md = EVP_sha256();
        ~context() { EVP_MD_CTX_free(ctx); }
#endif
    };
    thread_local context c;
    std::array<unsigned char, 32> out{};
    unsigned int len = 0;
    if (!c.ctx || !c.md || EVP_DigestInit_ex(c.ctx, c.md, nullptr) != 1 ||
        EVP_DigestUpdate(c.ctx, bytes.data(), bytes.size()) != 1 || EVP_DigestFinal_ex(c.ctx, out.data(), &len) != 1 ||
        len != 32)
        throw error(errc::system_failure, "SHA-256 computation failed in libcrypto");
    return out;
}

/// Lowercase hex of any byte sequence, written at `out` (2N digits, no terminator); returns out + 2N.
template <std::size_t N>
char* write_hex(char* out, const std::array<unsigned char, N>& bytes) noexcept {
    static constexpr char digits[] = "0123456789abcdef";
    for (unsigned char b : bytes) {
        *out++ = digits[b >> 4];
        *out++ = digits[b & 0xF];
    }
    return out;
}

/// Lowercase hex of any byte sequence.
template <std::size_t N>
std::string to_hex(const std::array<unsigned char, N>& bytes) {
    std::string out(2 * N, '0');
    write_hex(out.data(), bytes);
    return out;
}

/// 128 random bits from the kernel (getrandom(2)), for ids that are persisted but never derived
/// (lineage ids, client tokens). Kept out of <random>, which costs every includer compile time.
/// Retries when a signal interrupts the call; any other failure is errc::system_failure.
inline key128 random_key128() {
    unsigned char b[16];
    std::size_t got = 0;
    while (got < sizeof b) {
        const auto n = ::getrandom(b + got, sizeof b - got, 0);
        if (n < 0 && errno == EINTR) continue;  // a signal arrived before any byte: ask again
        if (n < 0)
            throw error(errc::system_failure,
                        std::string("getrandom failed, no randomness for a new id: ") + std::strerror(errno));
        got += static_cast<std::size_t>(n);
    }
    key128 k;
    for (int i = 0; i < 8; ++i) {
        k.hi = (k.hi << 8) | b[i];
        k.lo = (k.lo << 8) | b[8 + i];
    }
    return k;
}

} // namespace concord
