#pragma once
// Decision books keep the user's answers *outside* the restore scope, so a restore never undoes a
// decision the user made. Answers are keyed by the decision's stable id; answering twice with the
// same choice changes nothing.
//
// File format "concord-decisions v1": a header line, then one line per answer
//     <decision id> <resolution name>
// rewritten atomically (temp file, fsync, rename) on every change.

#include <concepts>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <concord/cases.hpp>
#include <concord/error.hpp>
#include <concord/witness.hpp>

namespace concord {

/// B remembers answers: `std::optional<resolution> answer(std::string_view id)` and
/// `void record(std::string_view id, resolution)`.
template <class B>
concept decision_book = requires(B& b, std::string_view id, resolution r) {
    { b.answer(id) } -> std::same_as<std::optional<resolution>>;
    b.record(id, r);
};

/// Parses a resolution name written by to_string(resolution).
inline std::optional<resolution> parse_resolution(std::string_view s) {
    for (int i = 0; i <= static_cast<int>(resolution::report); ++i) {
        auto r = static_cast<resolution>(i);
        if (to_string(r) == s) return r;
    }
    return std::nullopt;
}

/// Answers in memory (tests, or a host that keeps them elsewhere).
class memory_decision_book {
public:
    std::optional<resolution> answer(std::string_view id) const {
        auto it = answers_.find(std::string(id));
        if (it == answers_.end()) return std::nullopt;
        return it->second;
    }
    void record(std::string_view id, resolution r) { answers_[std::string(id)] = r; }
    std::size_t size() const noexcept { return answers_.size(); }
    const std::map<std::string, resolution>& all() const noexcept { return answers_; }

private:
    std::map<std::string, resolution> answers_;
};

/// Answers in a file beside the witness (default "<database>.concord-decisions").
class file_decision_book {
public:
    explicit file_decision_book(std::filesystem::path path) : path_(std::move(path)) { load(); }

    static std::filesystem::path beside(const std::filesystem::path& database) {
        auto p = database;
        p += ".concord-decisions";
        return p;
    }

    std::optional<resolution> answer(std::string_view id) const { return mem_.answer(id); }

    /// Writes the file before the answer counts: if the write fails (typed store_failure) the book
    /// still holds the old answer, so a retry writes again instead of being taken for a repeat.
    void record(std::string_view id, resolution r) {
        if (mem_.answer(id) == r) return;  // idempotent: nothing to write
        auto next = mem_;
        next.record(id, r);
        save(next);
        mem_ = std::move(next);
    }
    std::size_t size() const noexcept { return mem_.size(); }

private:
    void load() {
        std::error_code ec;
        if (!std::filesystem::exists(path_, ec)) return;
        std::ifstream in(path_);
        std::string line;
        if (!std::getline(in, line) || line != "concord-decisions v1")
            throw error(errc::witness_corrupt, "decision file " + path_.string() + " has no 'concord-decisions v1' header");
        int n = 1;
        while (std::getline(in, line)) {
            ++n;
            if (line.empty()) continue;
            auto sp = line.find(' ');
            auto r = sp == std::string::npos ? std::nullopt : parse_resolution(std::string_view(line).substr(sp + 1));
            if (!r) throw error(errc::witness_corrupt, "decision file " + path_.string() + " line " + std::to_string(n) + " is malformed");
            mem_.record(line.substr(0, sp), *r);
        }
    }
    void save(const memory_decision_book& book) {
        std::string text = "concord-decisions v1\n";
        for (const auto& [id, r] : book.all()) text += id + " " + std::string(to_string(r)) + "\n";
        auto tmp = path_;
        tmp += ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out << text;
            out.flush();
            if (!out) throw error(errc::store_failure, "cannot write decision file " + tmp.string());
        }
        detail::fsync_path(tmp, false);
        std::error_code ec;
        std::filesystem::rename(tmp, path_, ec);
        if (ec) throw error(errc::store_failure, "cannot rename decision file into place: " + ec.message());
        auto dir = path_.parent_path();
        detail::fsync_path(dir.empty() ? std::filesystem::path(".") : dir, true);
    }

    std::filesystem::path path_;
    memory_decision_book mem_;
};

} // namespace concord
