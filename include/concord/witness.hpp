#pragma once
// Witness implementations: in memory (tests; concord/memory/witness.hpp, included here) and a file
// beside the database (default).
//
// File format, "concord-witness v1" (UTF-8 text, one field per line, LF endings):
//     concord-witness v1
//     lineage <32 hex digits>
//     generation <decimal>
//     in_progress <hex of the UTF-8 text, or ->
//     failure <hex of the UTF-8 text, or ->
//     checksum <XXH3-128 hex of every preceding byte>
// Written to "<path>.tmp", fsync'ed, renamed over <path>, then the directory fsync'ed: a crash
// leaves the old record or the new one, never half of one.

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <concord/concepts/witness.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/memory/witness.hpp>
#include <concord/records.hpp>

namespace concord {

namespace detail {
inline std::string hex_text(const std::string& s) {
    if (s.empty()) return "-";
    static constexpr char d[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 0xF]);
    }
    return out;
}
inline bool unhex_text(std::string_view h, std::string& out) {
    out.clear();
    if (h == "-") return true;
    if (h.empty() || h.size() % 2) return false;
    auto val = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < h.size(); i += 2) {
        int a = val(h[i]), b = val(h[i + 1]);
        if (a < 0 || b < 0) return false;
        out.push_back(static_cast<char>(a * 16 + b));
    }
    return true;
}

inline void fsync_path(const std::filesystem::path& p, bool directory) {
    int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) throw error(errc::store_failure, "cannot open " + p.string() + " to fsync: " + std::strerror(errno));
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw error(errc::store_failure, "fsync of " + p.string() + " failed: " + std::strerror(errno));
}

// The file helpers below use POSIX calls, not <fstream>/<sstream>: those headers cost every includer
// of the reconciler parse time, and these files are small, whole-file reads and writes.

/// Reads the whole file; false if it cannot be opened or read, or is larger than `max_bytes`.
inline bool read_small_file(const std::filesystem::path& p, std::size_t max_bytes, std::string& out) {
    out.clear();
    int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) return false;
    char buf[4096];
    for (;;) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max_bytes) break;
    }
    ::close(fd);
    return true;
}

/// Writes `text` to `p` (created or truncated) and fsyncs it; throws errc::store_failure naming `what`.
inline void write_file_synced(const std::filesystem::path& p, const std::string& text, const char* what) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw error(errc::store_failure, std::string("cannot write ") + what + " " + p.string() + ": " + std::strerror(errno));
    std::size_t off = 0;
    while (off < text.size()) {
        auto n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            throw error(errc::store_failure, "write to " + p.string() + " failed: " + std::strerror(errno));
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        throw error(errc::store_failure, "fsync of " + p.string() + " failed: " + std::strerror(errno));
    }
    ::close(fd);
}

/// Replaces `p` with `text` atomically and durably: a synced temporary file renamed into place,
/// then the directory synced. Throws errc::store_failure naming `what`.
inline void replace_file(const std::filesystem::path& p, const std::string& text, const char* what) {
    auto tmp = p;
    tmp += ".tmp";
    write_file_synced(tmp, text, what);
    std::error_code ec;
    std::filesystem::rename(tmp, p, ec);
    if (ec) throw error(errc::store_failure, std::string("cannot rename ") + what + " into place: " + ec.message());
    auto dir = p.parent_path();
    fsync_path(dir.empty() ? std::filesystem::path(".") : dir, true);
}
} // namespace detail

/// Serialises a witness record: "concord-witness v1" while `attempts` is 0, else "concord-witness v2",
/// which adds an `attempts <decimal>` line after `failure`.
inline std::string format_witness(const witness_record& r) {
    std::string body = std::string("concord-witness ") + (r.attempts ? "v2" : "v1") + "\nlineage " + r.lineage +
                       "\ngeneration " + std::to_string(r.generation) + "\nin_progress " + detail::hex_text(r.in_progress) +
                       "\nfailure " + detail::hex_text(r.failure) + "\n";
    if (r.attempts) body += "attempts " + std::to_string(r.attempts) + "\n";
    return body + "checksum " + xxh3_128(body).hex() + "\n";
}

/// Parses the "concord-witness v1" and "v2" formats; throws errc::witness_corrupt with the reason.
inline witness_record parse_witness(std::string_view text) {
    auto fail = [](const std::string& why) -> witness_record {
        throw error(errc::witness_corrupt, "witness record rejected: " + why);
    };
    const auto cpos = text.rfind("checksum ");
    if (cpos == std::string_view::npos) return fail("no checksum line (truncated?)");
    const auto body = text.substr(0, cpos);
    auto sum = text.substr(cpos + 9);
    if (!sum.empty() && sum.back() == '\n') sum.remove_suffix(1);
    key128 expected;
    if (!expected.parse_hex(sum)) return fail("checksum is not 32 hex digits");
    if (xxh3_128(body) != expected) return fail("checksum mismatch (the file was edited or damaged)");
    witness_record r;
    std::size_t pos = 0;
    int line_no = 0;
    int lines = 5;  // v1; v2 adds `attempts`
    while (pos < body.size()) {
        auto nl = body.find('\n', pos);
        if (nl == std::string_view::npos) return fail("unterminated line");
        auto line = body.substr(pos, nl - pos);
        pos = nl + 1;
        auto sp = line.find(' ');
        auto key = line.substr(0, sp);
        auto val = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
        switch (line_no++) {
        case 0:
            if (line == "concord-witness v2") lines = 6;
            else if (line != "concord-witness v1") return fail("unknown header '" + std::string(line) + "'");
            break;
        case 1: {
            key128 k;
            if (key != "lineage" || !k.parse_hex(val)) return fail("bad lineage line");
            r.lineage = std::string(val);
            break;
        }
        case 2:
            if (key != "generation" || !detail::parse_u64(val, r.generation)) return fail("bad generation line");
            break;
        case 3:
            if (key != "in_progress" || !detail::unhex_text(val, r.in_progress)) return fail("bad in_progress line");
            break;
        case 4:
            if (key != "failure" || !detail::unhex_text(val, r.failure)) return fail("bad failure line");
            break;
        case 5:
            if (lines != 6) return fail("unexpected extra line");
            if (key != "attempts" || !detail::parse_u64(val, r.attempts) || r.attempts == 0) return fail("bad attempts line");
            break;
        default: return fail("unexpected extra line");
        }
    }
    if (line_no != lines) return fail("missing fields");
    return r;
}

/// A witness in a file outside the database (default: "<database>.concord-witness").
class file_witness {
public:
    explicit file_witness(std::filesystem::path path) : path_(std::move(path)) {}

    /// Default witness path for a database file.
    static std::filesystem::path beside(const std::filesystem::path& database) {
        auto p = database;
        p += ".concord-witness";
        return p;
    }

    const std::filesystem::path& path() const noexcept { return path_; }

    std::optional<witness_record> load() {
        std::error_code ec;
        if (!std::filesystem::exists(path_, ec)) return std::nullopt;
        std::string text;
        if (!detail::read_small_file(path_, 64 * 1024, text))
            throw error(errc::witness_corrupt, "cannot read witness file " + path_.string());
        if (text.size() > 64 * 1024) throw error(errc::witness_corrupt, "witness file " + path_.string() + " is too large");
        try {
            return parse_witness(text);
        } catch (const error& e) {
            throw error(errc::witness_corrupt, path_.string() + ": " + e.what());
        }
    }

    void save(const witness_record& r) {
        detail::replace_file(path_, format_witness(r), "witness");
    }

private:
    std::filesystem::path path_;
};

} // namespace concord
