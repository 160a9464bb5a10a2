#pragma once
// A terminal prompt that answers ask_user decisions: it prints each decision (the case, both sides'
// data, the options and what each would do) and reads the user's choice. Streams are injected, so a
// host can drive it from std::cin/std::cout and a test from scripted input.
//
//   concord::terminal_prompt prompt(std::cin, std::cout);
//   sync.answer_all(plan, prompt);     // then apply(plan) again, or plan + apply anew
//
// Accepted answers: the option's number ("1"), its resolution name ("cancel_remote"), or "s" /
// "skip" to leave the decision open (its entities stay blocked). Anything else is asked again.
// Input that ends before an answer is a typed error (errc::invalid_argument): nothing is guessed.

#include <cctype>
#include <istream>
#include <ostream>
#include <string>

#include <concord/cases.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/plan.hpp>

namespace concord {

/// Answers decisions from a text stream; usable wherever answer_all() takes a callback.
class terminal_prompt {
public:
    /// Reads answers from `in` and writes the questions to `out`; both must outlive the prompt.
    terminal_prompt(std::istream& in, std::ostream& out) : in_(&in), out_(&out) {}

    /// Asks about one decision. Returns the chosen resolution, or resolution::ask when the user skips.
    template <class E>
    resolution operator()(const decision<E>& d) {
        auto& out = *out_;
        // The summary and the effects hold remote-provided text (remote ids, notes, entity values):
        // their control characters are escaped so that they cannot send escape sequences to the
        // terminal or forge lines of the prompt.
        out << "\nDecision " << detail::display_text(d.id.substr(0, 12)) << " (" << to_string(d.kind) << ")\n  "
            << detail::display_text(d.summary) << '\n';
        for (std::size_t i = 0; i < d.options.size(); ++i)
            out << "  [" << i + 1 << "] " << to_string(d.options[i].choice) << ": "
                << detail::display_text(d.options[i].effect) << '\n';
        out << "  [s] skip: leave it open (its entities stay blocked)\n";
        for (;;) {
            out << "choice> " << std::flush;
            std::string line;
            if (!std::getline(*in_, line))
                throw error(errc::invalid_argument,
                            "input ended before decision " + d.id.substr(0, 12) + " was answered");
            line = trim(line);
            if (line == "s" || line == "skip") {
                out << "  left open\n";
                return resolution::ask;
            }
            for (std::size_t i = 0; i < d.options.size(); ++i) {
                if (line == std::to_string(i + 1) || line == to_string(d.options[i].choice)) {
                    out << "  chosen: " << to_string(d.options[i].choice) << '\n';
                    ++answered_;
                    return d.options[i].choice;
                }
            }
            out << "  '" << detail::display_text(line) << "' is not an option; answer 1-" << d.options.size() << ", a name, or s\n";
        }
    }

    /// How many decisions this prompt answered (skips not counted).
    std::size_t answered() const noexcept { return answered_; }

private:
    static std::string trim(const std::string& s) {
        std::size_t b = 0, e = s.size();
        while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
        while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
        return s.substr(b, e - b);
    }

    std::istream* in_;
    std::ostream* out_;
    std::size_t answered_ = 0;
};

} // namespace concord
