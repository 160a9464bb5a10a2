#pragma once
// The decision_book concept and the in-memory book, apart from file_decision_book (decisions.hpp,
// which includes this header): the reconciler needs only these, not <filesystem>.

#include <concepts>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <concord/cases.hpp>
#include <concord/error.hpp>

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
    // Every value of the underlying type, so a resolution added anywhere is found; to_string() names
    // values that are not resolutions "unknown", which is not an answer.
    if (s == to_string(static_cast<resolution>(0xFF))) return std::nullopt;
    for (unsigned i = 0; i <= 0xFF; ++i) {
        const auto r = static_cast<resolution>(i);
        if (to_string(r) == s) return r;
    }
    return std::nullopt;
}

/// True for the resolutions a decision can be answered with: not `ask` (that leaves it open), nor
/// `report` or `nothing` (what plans say of cases no one decides). A book refuses to record the others.
constexpr bool is_answer(resolution r) noexcept {
    return r != resolution::ask && r != resolution::report && r != resolution::nothing;
}

namespace detail {
inline void check_answer(std::string_view id, resolution r) {
    if (!is_answer(r))
        throw error(errc::invalid_argument, "'" + std::string(to_string(r)) + "' is not an answer to decision " +
                                                std::string(id) + "; a decision book keeps only answers that settle it");
}
} // namespace detail

/// Answers in memory (tests, or a host that keeps them elsewhere). record() refuses what is not an
/// answer (is_answer) with errc::invalid_argument.
class memory_decision_book {
public:
    std::optional<resolution> answer(std::string_view id) const {
        auto it = answers_.find(id);  // no string per look-up: a plan may ask for every case
        if (it == answers_.end()) return std::nullopt;
        return it->second;
    }
    void record(std::string_view id, resolution r) {
        detail::check_answer(id, r);
        answers_[std::string(id)] = r;
    }
    std::size_t size() const noexcept { return answers_.size(); }
    bool empty() const noexcept { return answers_.empty(); }
    const std::map<std::string, resolution, std::less<>>& all() const noexcept { return answers_; }

private:
    std::map<std::string, resolution, std::less<>> answers_;
};

} // namespace concord
