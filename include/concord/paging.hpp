#pragma once
// Reading a remote listing page by page ("next N with seq > X"), refusing bad pages. A remote that
// goes backwards, repeats an id or sends more than asked cannot be trusted to have shown everything,
// so the listing stops with errc::bad_page instead of classifying a partial picture (which could make
// live entities look like orphans). Recovery: fix or wait out the remote, then run a full re-scan
// (cursor reset); nothing is acted upon meanwhile.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <concord/concepts/remote_source.hpp>
#include <concord/error.hpp>
#include <concord/records.hpp>

namespace concord {

/// Checks one page against the request; throws errc::bad_page saying what is wrong.
template <class E>
void validate_page(const page<E>& p, std::optional<std::uint64_t> after, std::size_t limit) {
    if (p.items.size() > limit)
        throw error(errc::bad_page, "remote page holds " + std::to_string(p.items.size()) + " items, " +
                                        std::to_string(limit) + " were asked for");
    // Taken as the end, it would cut the listing short: every record not yet listed would look gone.
    if (p.has_more && p.items.empty())
        throw error(errc::bad_page, "the remote says more records follow but sent none" +
                                        (after ? " after seq " + std::to_string(*after) : std::string()));
    std::optional<std::uint64_t> prev = after;
    for (const auto& r : p.items) {
        if (prev && r.seq <= *prev)
            throw error(errc::bad_page, "remote page goes backwards or repeats: seq " + std::to_string(r.seq) +
                                            " after " + std::to_string(*prev) + " (remote id '" + r.remote_id + "')");
        if (r.remote_id.empty())
            throw error(errc::bad_page, "remote record with seq " + std::to_string(r.seq) + " has an empty remote id");
        prev = r.seq;
    }
}

/// Statistics of one listing, for benchmarks and reports.
struct listing_stats {
    std::size_t calls = 0;
    std::size_t rows = 0;
};

/// Lists every record with seq > after, validating each page and refusing a remote id seen twice.
template <remote_source R>
std::vector<remote_record<typename R::entity_type>> list_all(R& remote, std::size_t page_size,
                                                             std::optional<std::uint64_t> after = std::nullopt,
                                                             listing_stats* stats = nullptr) {
    if (page_size == 0) throw error(errc::invalid_argument, "page size must be at least 1");
    std::vector<remote_record<typename R::entity_type>> out;
    std::unordered_set<std::string> seen;
    for (;;) {
        auto p = remote.list(after, page_size);
        if (stats) {
            ++stats->calls;
            stats->rows += p.items.size();
        }
        validate_page(p, after, page_size);
        for (auto& r : p.items) {
            if (!seen.insert(r.remote_id).second)
                throw error(errc::bad_page, "remote id '" + r.remote_id + "' listed twice (seq " + std::to_string(r.seq) + ")");
            after = r.seq;
            out.push_back(std::move(r));
        }
        if (!p.has_more || p.items.empty()) break;
    }
    return out;
}

} // namespace concord
