#pragma once
// Decision books keep the user's answers *outside* the restore scope, so a restore never undoes a
// decision the user made. Answers are keyed by the decision's stable id; answering twice with the
// same choice changes nothing.
//
// File format "concord-decisions v2": a header line, one line per answer, then a checksum line
//     concord-decisions v2
//     <decision id> <resolution name>
//     checksum <XXH3-128 hex of every preceding byte>
// "concord-decisions v1" files (no checksum line, written before v2) are still read; the next
// change rewrites them as v2. A line whose resolution is not an answer (`ask`, `report`, `nothing`:
// is_answer) or that answers an id again differently is errc::witness_corrupt, in either version. Every change is made under an flock on "<path>.lock": the file is read
// again, this book's answers merged in, and the result written to a temporary file of its own,
// fsync'ed and renamed into place, so two books on one file (a UI and a sync process) keep each
// other's answers.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <sys/stat.h>

#include <concord/cases.hpp>
#include <concord/decision_book.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/witness.hpp>

namespace concord {

/// Answers in a file beside the witness (default "<database>.concord-decisions").
class file_decision_book {
public:
    explicit file_decision_book(std::filesystem::path path) : path_(std::move(path)) { mem_ = read(seen_); }

    static std::filesystem::path beside(const std::filesystem::path& database) {
        auto p = database;
        p += ".concord-decisions";
        return p;
    }

    /// An id this book has no answer for is looked up again in the file when it changed since the book
    /// last read it: another process (the UI the user answers in) may have answered it since.
    std::optional<resolution> answer(std::string_view id) const {
        if (auto a = mem_.answer(id)) return a;
        if (file_changed()) {
            file_stamp read_at;
            auto next = read(read_at);
            for (const auto& [k, v] : mem_.all())
                if (!next.answer(k)) next.record(k, v);  // never drop an answer this book holds
            mem_ = std::move(next);
            seen_ = read_at;  // only now: a damaged file stays an error at every look-up
        }
        return mem_.answer(id);
    }

    /// Writes the file before the answer counts: if the write fails (typed store_failure) the book
    /// still holds the old answer, so a retry writes again instead of being taken for a repeat.
    /// Answers other books wrote to the file since this one read it are kept, and this book then
    /// answers with them too. Answers are final: when another book answered `id` differently since
    /// this one read it, its answer stands and this one is errc::invalid_argument. `ask`, `report` and
    /// `nothing` are not answers (is_answer): errc::invalid_argument, nothing written.
    void record(std::string_view id, resolution r) {
        detail::check_answer(id, r);
        if (mem_.answer(id) == r) return;  // idempotent: nothing to write
        if (id.empty() || id.find_first_of(" \r\n") != std::string_view::npos)  // the line format could not hold it
            throw error(errc::invalid_argument, "decision id '" + std::string(id) +
                                                    "' is empty or holds a space or line break; the decision file cannot keep it");
        detail::file_lock lock(path_, "decision file");  // read, merge and write as one step
        file_stamp read_at;
        auto next = read(read_at);
        for (const auto& [k, v] : mem_.all())
            if (!next.answer(k)) next.record(k, v);  // never drop an answer this book holds
        const auto theirs = next.answer(id);
        if (theirs && theirs != mem_.answer(id) && *theirs != r) {
            mem_ = std::move(next);
            seen_ = read_at;
            throw error(errc::invalid_argument, "decision " + std::string(id) + " was answered '" +
                                                    std::string(to_string(*theirs)) + "' in " + path_.string() +
                                                    " by another process; answers are final (plan again to see it)");
        }
        if (theirs != r) {
            next.record(id, r);
            save(next);  // on failure seen_ is left as it was: the answers read here are read again
            read_at = stamp_of();  // still under the lock: the file as this book wrote it
        }
        mem_ = std::move(next);
        seen_ = read_at;
    }
    std::size_t size() const noexcept { return mem_.size(); }

private:
    /// What tells one version of the file from another: every save renames a new file into place.
    struct file_stamp {
        bool exists = false;
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = 0;
        std::int64_t mtime_sec = 0, mtime_nsec = 0;
        bool operator==(const file_stamp&) const = default;
    };
    /// The file's answers (none when it does not exist); a damaged file is errc::witness_corrupt.
    /// `stamp` is the file's version, taken before the read (a change made during it is seen by the
    /// next look-up); the caller notes it in seen_ once mem_ holds these answers, never before.
    memory_decision_book read(file_stamp& stamp) const {
        memory_decision_book book;
        stamp = stamp_of();
        // Whole-file read and line split: no <fstream> (see witness.hpp).
        std::string text;
        if (!detail::read_file_if_exists(path_, std::string::npos, text, "decision file")) return book;
        auto fail = [this](const std::string& why) {
            return error(errc::witness_corrupt, "decision file " + path_.string() + " " + why +
                                                    "; restore it from a copy, or delete it to answer its decisions again");
        };
        std::string_view rest = text;
        auto next_line = [&rest](std::string_view& line) {
            if (rest.empty()) return false;
            auto nl = rest.find('\n');
            line = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
            return true;
        };
        std::string_view line;
        if (!next_line(line) || (line != "concord-decisions v1" && line != "concord-decisions v2"))
            throw fail("has no 'concord-decisions v1' or 'v2' header");
        if (line == "concord-decisions v2") {
            // The last line is the checksum of everything before it: a truncated file fails it.
            std::string_view t = text;
            if (t.back() == '\n') t.remove_suffix(1);
            const auto nl = t.rfind('\n');
            const auto last = t.substr(nl + 1);
            if (last.substr(0, 9) != "checksum ") throw fail("has no checksum line (truncated?)");
            key128 expected;
            if (!expected.parse_hex(last.substr(9))) throw fail("has a checksum that is not 32 hex digits");
            if (xxh3_128(std::string_view(text).substr(0, nl + 1)) != expected)
                throw fail("fails its checksum (truncated or edited)");
            rest = std::string_view(text).substr(line.size() + 1, nl - line.size());  // the answers, not the checksum
        }
        int n = 1;
        while (next_line(line)) {
            ++n;
            if (line.empty()) continue;
            auto sp = line.find(' ');
            auto r = sp == std::string_view::npos ? std::nullopt : parse_resolution(line.substr(sp + 1));
            if (!r || sp == 0)  // an empty id: record() refuses it, so no book wrote it
                throw fail("line " + std::to_string(n) + " is malformed");
            const auto id = line.substr(0, sp);
            if (!is_answer(*r))
                throw fail("line " + std::to_string(n) + " records '" + std::string(to_string(*r)) + "' for decision " +
                           std::string(id) + ", which is not an answer");
            if (const auto before = book.answer(id); before && *before != *r)
                throw fail("line " + std::to_string(n) + " answers decision " + std::string(id) + " '" +
                           std::string(to_string(*r)) + "' after an earlier line answered it '" +
                           std::string(to_string(*before)) + "' (answers are final)");
            book.record(id, *r);
        }
        return book;
    }
    void save(const memory_decision_book& book) {
        std::string text = "concord-decisions v2\n";
        for (const auto& [id, r] : book.all()) text += id + " " + std::string(to_string(r)) + "\n";
        text += "checksum " + xxh3_128(text).hex() + "\n";
        detail::replace_file(path_, text, "decision file");
    }

    file_stamp stamp_of() const {
        file_stamp f;
        struct ::stat st;
        if (::stat(path_.c_str(), &st) != 0) return f;
        f.exists = true;
        f.dev = st.st_dev;
        f.ino = st.st_ino;
        f.size = st.st_size;
        f.mtime_sec = st.st_mtim.tv_sec;
        f.mtime_nsec = st.st_mtim.tv_nsec;
        return f;
    }
    bool file_changed() const { return stamp_of() != seen_; }

    std::filesystem::path path_;
    mutable file_stamp seen_;
    mutable memory_decision_book mem_;  ///< refreshed by answer() when the file changed
};

} // namespace concord
