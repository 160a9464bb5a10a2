#pragma once
// Witness implementations: in memory (tests; concord/memory/witness.hpp, included here) and a file
// beside the database (default).
//
// File format, "concord-witness v1" (UTF-8 text, one field per line, LF endings):
//     concord-witness v1
//     lineage <32 lowercase hex digits>
//     generation <decimal, no leading zero>
//     in_progress <hex of the UTF-8 text, or ->
//     failure <hex of the UTF-8 text, or ->
//     checksum <XXH3-128 hex of every preceding byte>
// ("v2" adds `attempts <decimal>` after `failure`.) Saved under an flock on "<path>.lock" (writers
// in several processes take turns) to a temporary file of its own, fsync'ed, renamed over <path>,
// then the directory fsync'ed: a crash leaves the old record or the new one, never half of one.

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <concord/concepts/witness.hpp>
#include <concord/entity.hpp>  // detail::quoted_excerpt
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/memory/witness.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>  // is_lineage_id, witness_generation_limit, witness_attempts_limit

namespace concord {

/// Largest witness text file_witness::load() accepts; save() shortens the record to fit (see
/// detail::fit_witness), so nothing it writes is refused later.
inline constexpr std::size_t witness_max_bytes = 64 * 1024;

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

/// Reads the whole file into `out`, stopping past `max_bytes` (the caller tells "too large" by the
/// size). False when the file does not exist; any other failure (permissions, I/O, a symlink loop,
/// a dangling symbolic link as the file or on the way to it) throws errc::witness_corrupt naming
/// `what`: a file that cannot be read must never pass for a missing one, which would read as a first run.
inline bool read_file_if_exists(const std::filesystem::path& p, std::size_t max_bytes, std::string& out,
                                const char* what) {
    out.clear();
    auto fail = [&](int e) {
        return error(errc::witness_corrupt, std::string("cannot read ") + what + " " + p.string() + ": " +
                                                std::strerror(e) +
                                                "; fix its permissions or the disk (a file concord cannot read is not taken for a missing one)");
    };
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            // A symlink whose target is missing is not a missing file: the record it pointed to is
            // gone (an unmounted disk, a moved folder), and "no file" would read as a first run.
            struct ::stat st;
            if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
                throw error(errc::witness_corrupt, std::string(what) + " " + p.string() +
                                                       " is a symbolic link whose target is missing; restore the "
                                                       "target or remove the link (a dangling link is not taken for a missing file)");
            // Nor is a file behind a directory that is such a link (a state folder linked to a disk
            // that is not mounted): walk up to the first component that exists.
            for (auto dir = p.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
                if (::lstat(dir.c_str(), &st) != 0) continue;  // missing too: look further up
                if (S_ISLNK(st.st_mode) && ::stat(dir.c_str(), &st) != 0)
                    throw error(errc::witness_corrupt, std::string(what) + " " + p.string() + ": its directory " +
                                                           dir.string() +
                                                           " is a symbolic link whose target is missing; restore the "
                                                           "target or remove the link (a dangling link is not taken for a missing file)");
                break;  // an existing directory (or file): the file is simply missing
            }
            return false;  // no such file (or no such directory)
        }
        throw fail(e);
    }
    char buf[4096];
    for (;;) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd);
            throw fail(e);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max_bytes) break;
    }
    ::close(fd);
    return true;
}

/// `p` with every symbolic link in its last component followed (a link to a link, relative targets
/// taken from the link's directory), so writers replace the file a link points to, not the link. A
/// path that is not a link is returned as is. Throws errc::store_failure on a link loop.
inline std::filesystem::path resolve_links(std::filesystem::path p, const char* what) {
    for (int hops = 0;; ++hops) {
        std::error_code ec;
        if (!std::filesystem::is_symlink(p, ec)) return p;  // symlink_status: a missing path is not a link
        if (hops >= 40)
            throw error(errc::store_failure, std::string("cannot write ") + what + " " + p.string() +
                                                 ": too many levels of symbolic links");
        auto target = std::filesystem::read_symlink(p, ec);
        if (ec)
            throw error(errc::store_failure, std::string("cannot read the symbolic link ") + p.string() + " of the " +
                                                 what + ": " + ec.message());
        p = target.is_absolute() ? target : p.parent_path() / target;
    }
}

/// An exclusive advisory lock (flock) on "<target>.lock", held until destroyed, so writers of one
/// file take turns, in one process or several. flock, not fcntl: fcntl locks belong to the process,
/// so two writers in one process would not exclude each other. Readers need no lock (every write is
/// a rename). The lock file stays: removing it would let two writers lock two different files.
class file_lock {
public:
    file_lock(const std::filesystem::path& target, const char* what) {
        auto p = resolve_links(target, what);  // writers through a link and through its target take turns
        p += ".lock";
        fd_ = ::open(p.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);  // CLOEXEC: a child must not keep the lock
        if (fd_ < 0) {
            const int e = errno;
            throw error(errc::store_failure, std::string("cannot open the lock file of the ") + what + " " +
                                                 p.string() + ": " + std::strerror(e));
        }
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd_);
            throw error(errc::store_failure, std::string("cannot lock ") + p.string() + ": " + std::strerror(e));
        }
    }
    ~file_lock() { ::close(fd_); }  // closing releases the lock
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;

private:
    int fd_ = -1;
};

/// Replaces `p` with `text` atomically and durably: a temporary file of this call's own in the same
/// directory ("<p>.tmp-<pid>-<n>", created with O_EXCL: a shared name lets two writers write into one
/// file), fsync'ed, renamed over `p`, then the directory fsync'ed. Throws errc::store_failure naming
/// `what`; on failure `p` is untouched and the temporary file removed. Callers serialise writers
/// with file_lock. O_EXCL rather than mkstemp: mkstemp creates 0600, this keeps 0644 less the umask
/// for a new file; a file that exists keeps its permission bits (a host that made it 0600 keeps it so),
/// and its temporary file is never created with wider ones.
/// When `p` is a symbolic link the file it points to is replaced (beside the target), the link kept.
inline void replace_file(const std::filesystem::path& link, const std::string& text, const char* what) {
    const std::filesystem::path p = resolve_links(link, what);
    // Created no wider than the file it replaces: a file opened while it is readable stays readable
    // through that descriptor after the fchmod below narrows it.
    struct ::stat replaced {};
    const bool replacing = ::stat(p.c_str(), &replaced) == 0;
    const mode_t create_mode = replacing ? (replaced.st_mode & 0777) : 0644;
    static std::atomic<unsigned long> counter{0};
    std::filesystem::path tmp;
    int fd = -1;
    for (int tries = 1; fd < 0; ++tries) {
        tmp = p;
        tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, create_mode);
        if (fd < 0 && (errno != EEXIST || tries >= 100)) {
            const int e = errno;
            throw error(errc::store_failure, std::string("cannot write ") + what + " " + tmp.string() + ": " +
                                                 std::strerror(e) + "; the previous file is unchanged");
        }
    }
    auto fail = [&](int e, const std::string& why) {  // e: errno, read before anything could change it
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        return error(errc::store_failure, std::string(what) + " " + p.string() + ": " + why + ": " + std::strerror(e) +
                                              "; the previous file is unchanged");
    };
    // The replacement takes the replaced file's permission bits: a rename would otherwise widen a
    // file the host restricted (the decisions, the failure texts) to 0644 at the next save (and the
    // umask may have narrowed the ones it was created with).
    // And its owner and group where this process may give them (root saving a service's witness):
    // otherwise the service could no longer read its own witness. A user who may not keeps the file
    // as before (owned by the writer), which the rename alone would give anyway.
    if (struct ::stat made {}; replacing && ::fstat(fd, &made) == 0 &&
                               (made.st_uid != replaced.st_uid || made.st_gid != replaced.st_gid)) {
        if (::fchown(fd, replaced.st_uid, replaced.st_gid) != 0 &&
            ::fchown(fd, static_cast<uid_t>(-1), replaced.st_gid) != 0) {
            // neither: the file stays the writer's, as the rename alone would leave it
        }
    }
    if (replacing && ::fchmod(fd, replaced.st_mode & 07777) != 0) {
        const int e = errno;
        throw fail(e, "cannot give " + tmp.string() + " the permissions of the file it replaces");
    }
    for (std::size_t off = 0; off < text.size();) {
        auto n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            throw fail(e, "write to " + tmp.string() + " failed");
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int e = errno;
        throw fail(e, "fsync of " + tmp.string() + " failed");
    }
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) {
        const int e = errno;
        throw fail(e, "close of " + tmp.string() + " failed");
    }
    if (::rename(tmp.c_str(), p.c_str()) != 0) {
        const int e = errno;
        throw fail(e, "cannot rename " + tmp.string() + " into place");
    }
    auto dir = p.parent_path();
    fsync_path(dir.empty() ? std::filesystem::path(".") : dir, true);
}
} // namespace detail

/// Serialises a witness record: "concord-witness v1" while `attempts` is 0, else "concord-witness v2",
/// which adds an `attempts <decimal>` line after `failure`. What parse_witness would refuse is
/// errc::invalid_argument: a lineage that is not 32 lowercase hex digits (is_lineage_id), a generation
/// at or above witness_generation_limit, attempts at or above witness_attempts_limit.
inline std::string format_witness(const witness_record& r) {
    if (!is_lineage_id(r.lineage))
        throw error(errc::invalid_argument, "witness lineage " + detail::quoted_excerpt(r.lineage) +
                                                " is not 32 lowercase hex digits (a lineage id new_lineage_id() makes)");
    if (r.generation >= witness_generation_limit)
        throw error(errc::invalid_argument, "witness generation " + std::to_string(r.generation) +
                                                " is at or above 2^63; the generation counter is exhausted");
    if (r.attempts >= witness_attempts_limit)
        throw error(errc::invalid_argument, "witness attempts " + std::to_string(r.attempts) +
                                                " is at or above 2^63; the attempt counter is exhausted");
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
    // Numbers as format_witness writes them: decimal digits, no sign and no leading zero, so one
    // record has one text (from_chars alone also takes "0005" and any run of leading zeros).
    auto number = [](std::string_view v, std::uint64_t& out) {
        return !(v.size() > 1 && v.front() == '0') && detail::parse_u64(v, out);
    };
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
            if (key != "lineage" || !is_lineage_id(val)) return fail("bad lineage line");
            r.lineage = std::string(val);
            break;
        }
        case 2:
            if (key != "generation" || !number(val, r.generation)) return fail("bad generation line");
            if (r.generation >= witness_generation_limit)
                return fail("generation " + std::to_string(r.generation) + " is at or above 2^63 (the next would overflow)");
            break;
        case 3:
            if (key != "in_progress" || !detail::unhex_text(val, r.in_progress)) return fail("bad in_progress line");
            break;
        case 4:
            if (key != "failure" || !detail::unhex_text(val, r.failure)) return fail("bad failure line");
            break;
        case 5:
            if (lines != 6) return fail("unexpected extra line");
            if (key != "attempts" || !number(val, r.attempts) || r.attempts == 0) return fail("bad attempts line");
            if (r.attempts >= witness_attempts_limit)
                return fail("attempts " + std::to_string(r.attempts) + " is at or above 2^63 (the next would overflow)");
            break;
        default: return fail("unexpected extra line");
        }
    }
    if (line_no != lines) return fail("missing fields");
    return r;
}

namespace detail {
/// Shortens the free-text fields, `failure` first, then `in_progress`, keeping their beginnings (cut
/// before a UTF-8 continuation byte), until the formatted record is at most `max_bytes`: an error
/// message of any length must not leave a witness that load() refuses.
inline witness_record fit_witness(witness_record r, std::size_t max_bytes) {
    for (auto size = format_witness(r).size(); size > max_bytes; size = format_witness(r).size()) {
        std::string& s = r.failure.empty() ? r.in_progress : r.failure;
        if (s.empty())
            throw error(errc::invalid_argument, "witness record does not fit in " + std::to_string(max_bytes) +
                                                    " bytes even without its failure and in-progress texts");
        const std::size_t cut = (size - max_bytes + 1) / 2;  // each byte is two hex digits
        std::size_t n = s.size() > cut ? s.size() - cut : 0;
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
        s.resize(n);
    }
    return r;
}
} // namespace detail

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

    /// nullopt only when the file does not exist; unreadable, too large or corrupt is errc::witness_corrupt.
    std::optional<witness_record> load() {
        std::string text;
        if (!detail::read_file_if_exists(path_, witness_max_bytes, text, "witness file")) return std::nullopt;
        if (text.size() > witness_max_bytes)
            throw error(errc::witness_corrupt, "witness file " + path_.string() + " is larger than " +
                                                   std::to_string(witness_max_bytes) + " bytes");
        try {
            return parse_witness(text);
        } catch (const error& e) {
            throw error(errc::witness_corrupt, path_.string() + ": " + e.what());
        }
    }

    /// A record too large for load() has its `failure`, then `in_progress` text shortened first.
    void save(const witness_record& r) {
        auto text = format_witness(r);
        if (text.size() > witness_max_bytes) text = format_witness(detail::fit_witness(r, witness_max_bytes));
        detail::file_lock lock(path_, "witness");  // two reconcilers of one database: one write at a time
        detail::replace_file(path_, text, "witness");
    }

private:
    std::filesystem::path path_;
};

} // namespace concord
