#pragma once
// Decision books keep the user's answers *outside* the restore scope, so a restore never undoes a
// decision the user made. Answers are keyed by the decision's stable id; answering twice with the
// same choice changes nothing.
//
// File format "concord-decisions v1": a header line, then one line per answer
//     <decision id> <resolution name>
// rewritten atomically (temp file, fsync, rename) on every change.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <concord/cases.hpp>
#include <concord/decision_book.hpp>
#include <concord/error.hpp>
#include <concord/witness.hpp>

namespace concord {

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
        // Whole-file read and line split: no <fstream> (see witness.hpp).
        std::string text;
        if (!detail::read_small_file(path_, std::string::npos, text))  // no size limit
            throw error(errc::witness_corrupt, "cannot read decision file " + path_.string());
        std::string_view rest = text;
        auto next_line = [&rest](std::string_view& line) {
            if (rest.empty()) return false;
            auto nl = rest.find('\n');
            line = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
            return true;
        };
        std::string_view line;
        if (!next_line(line) || line != "concord-decisions v1")
            throw error(errc::witness_corrupt, "decision file " + path_.string() + " has no 'concord-decisions v1' header");
        int n = 1;
        while (next_line(line)) {
            ++n;
            if (line.empty()) continue;
            auto sp = line.find(' ');
            auto r = sp == std::string_view::npos ? std::nullopt : parse_resolution(line.substr(sp + 1));
            if (!r) throw error(errc::witness_corrupt, "decision file " + path_.string() + " line " + std::to_string(n) + " is malformed");
            mem_.record(line.substr(0, sp), *r);
        }
    }
    void save(const memory_decision_book& book) {
        std::string text = "concord-decisions v1\n";
        for (const auto& [id, r] : book.all()) text += id + " " + std::string(to_string(r)) + "\n";
        detail::replace_file(path_, text, "decision file");
    }

    std::filesystem::path path_;
    memory_decision_book mem_;
};

} // namespace concord
