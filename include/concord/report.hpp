#pragma once
// Reports: what a reconcile found, decided and did, as human text and as JSON. Both are stable:
// cases and actions appear in plan order (sorted by identity), so two runs diff cleanly.

#include <array>
#include <locale>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <concord/cases.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/timeline.hpp>

namespace concord {

/// What happened to one planned action.
struct action_outcome {
    std::string action;          ///< action_kind name
    std::string resolution;      ///< why (resolution name)
    std::string identity;        ///< identity key hex
    std::string identity_text;   ///< the identity in words (IdentityPolicy::describe), e.g. sku="A-1"
    std::string remote_id;
    std::string idempotency_key;
    std::string outcome;         ///< "done", "settled" (timeout resolved by look-up), "failed", "skipped", "planned"
    std::string detail;
    std::string error;           ///< failed: the errc name (e.g. "retries_exhausted"), so code can tell causes apart
    int attempts = 0;
};

/// A decision as reported.
struct decision_summary {
    std::string id;
    std::string kind;
    std::string identity;
    std::string summary;
    std::vector<std::string> options;  ///< "resolution: effect"
};

/// The record of one plan (dry run) or one apply.
struct report {
    std::string entity;                        ///< entity type label
    verdict timeline = verdict::first_run;
    std::string timeline_detail;
    std::uint64_t generation = 0;
    std::array<std::size_t, case_count> counts{};
    std::vector<action_outcome> actions;
    std::vector<decision_summary> decisions;
    std::vector<std::string> problems;
    bool dry_run = true;

    std::size_t failed() const {
        std::size_t n = 0;
        for (const auto& a : actions) n += a.outcome == "failed";
        return n;
    }

    /// Human-readable summary, for a terminal: numbers without the global locale's grouping, and
    /// the texts (which may come from the remote) with their control characters escaped
    /// (detail::display_text), so a field can neither forge a line nor send an escape sequence.
    std::string text() const {
        std::ostringstream os;
        os.imbue(std::locale::classic());
        auto txt = [](const std::string& s) { return detail::display_text(s); };
        os << (dry_run ? "plan" : "reconcile") << " [" << txt(entity) << "] timeline: " << to_string(timeline)
           << " (" << txt(timeline_detail) << ")\n";
        os << "  cases:";
        for (auto c : all_cases) os << ' ' << to_string(c) << '=' << counts[static_cast<std::size_t>(c)];
        os << '\n';
        for (const auto& a : actions) {
            os << "  " << (dry_run ? "would " : "") << txt(a.action) << " (" << txt(a.resolution)
               << ") id=" << txt(a.identity.substr(0, 12));
            if (!a.identity_text.empty()) os << " [" << txt(a.identity_text) << ']';
            if (!a.remote_id.empty()) os << " remote=" << txt(a.remote_id);
            if (!a.idempotency_key.empty()) os << " key=" << txt(a.idempotency_key.substr(0, 16));
            if (!dry_run) os << " -> " << txt(a.outcome);
            if (!a.detail.empty()) os << " [" << txt(a.detail) << ']';
            os << '\n';
        }
        for (const auto& d : decisions) {
            os << "  DECISION " << txt(d.id.substr(0, 12)) << " (" << txt(d.kind) << "): " << txt(d.summary) << '\n';
            for (std::size_t i = 0; i < d.options.size(); ++i)
                os << "    [" << i + 1 << "] " << txt(d.options[i]) << '\n';
        }
        for (const auto& p : problems) os << "  PROBLEM " << txt(p) << '\n';
        return os.str();
    }

    /// JSON object with the same content (keys in a fixed order). Always valid JSON: numbers without
    /// the global locale's grouping, strings escaped with ill-formed UTF-8 replaced by \ufffd.
    std::string json() const {
        std::ostringstream os;
        os.imbue(std::locale::classic());
        auto str = [&](const std::string& s) { detail::write_json_string(os, s); };
        os << "{\"entity\":";
        str(entity);
        os << ",\"dry_run\":" << (dry_run ? "true" : "false") << ",\"timeline\":";
        str(std::string(to_string(timeline)));
        os << ",\"timeline_detail\":";
        str(timeline_detail);
        os << ",\"generation\":" << generation << ",\"counts\":{";
        for (std::size_t i = 0; i < case_count; ++i) {
            if (i) os << ',';
            str(std::string(to_string(all_cases[i])));
            os << ':' << counts[i];
        }
        os << "},\"actions\":[";
        for (std::size_t i = 0; i < actions.size(); ++i) {
            const auto& a = actions[i];
            if (i) os << ',';
            os << "{\"action\":";
            str(a.action);
            os << ",\"resolution\":";
            str(a.resolution);
            os << ",\"identity\":";
            str(a.identity);
            os << ",\"identity_text\":";
            str(a.identity_text);
            os << ",\"remote_id\":";
            str(a.remote_id);
            os << ",\"idempotency_key\":";
            str(a.idempotency_key);
            os << ",\"outcome\":";
            str(a.outcome);
            os << ",\"detail\":";
            str(a.detail);
            os << ",\"error\":";
            str(a.error);
            os << ",\"attempts\":" << a.attempts << '}';
        }
        os << "],\"decisions\":[";
        for (std::size_t i = 0; i < decisions.size(); ++i) {
            const auto& d = decisions[i];
            if (i) os << ',';
            os << "{\"id\":";
            str(d.id);
            os << ",\"case\":";
            str(d.kind);
            os << ",\"identity\":";
            str(d.identity);
            os << ",\"summary\":";
            str(d.summary);
            os << ",\"options\":[";
            for (std::size_t j = 0; j < d.options.size(); ++j) {
                if (j) os << ',';
                str(d.options[j]);
            }
            os << "]}";
        }
        os << "],\"problems\":[";
        for (std::size_t i = 0; i < problems.size(); ++i) {
            if (i) os << ',';
            str(problems[i]);
        }
        os << "]}";
        return os.str();
    }
};

} // namespace concord
