#pragma once
// The three strategies of brief section 5, as small types. Each is a compile-time table from case
// to resolution; the reconciler looks it up per case.
//
// | case          | trust_local    | trust_remote  | ask_user |
// | diverged      | push           | pull          | ask      |
// | local_only    | create_remote  | remove_local  | ask      |
// | orphan        | cancel_remote  | import_local  | ask      |
// | relinkable    | adopt          | adopt         | adopt    |
// | duplicate     | keep_oldest    | keep_all      | ask      |
// | stale_inbound | discard        | keep          | ask      |
// | foreign       | report         | report        | report   |

#include <concord/cases.hpp>
#include <concord/plan.hpp>
#include <concord/timeline.hpp>

namespace concord::policy {

namespace detail {
template <class Derived>
struct table_strategy {
    template <class E>
    resolution decide(const classified<E>& c, const timeline_status&) const {
        return Derived::table(c.kind);
    }
};
} // namespace detail

/// The local database is the truth: extend the restore to the remote.
struct trust_local : detail::table_strategy<trust_local> {
    static constexpr resolution table(case_kind c) noexcept {
        switch (c) {
        case case_kind::in_sync: return resolution::nothing;
        case case_kind::diverged: return resolution::push;
        case case_kind::local_only: return resolution::create_remote;
        case case_kind::orphan: return resolution::cancel_remote;
        case case_kind::relinkable: return resolution::adopt;
        case case_kind::duplicate: return resolution::keep_oldest;
        case case_kind::stale_inbound: return resolution::discard;
        case case_kind::foreign: return resolution::report;
        }
        return resolution::report;
    }
};

/// The remote is the truth: bring the local database up to it.
struct trust_remote : detail::table_strategy<trust_remote> {
    static constexpr resolution table(case_kind c) noexcept {
        switch (c) {
        case case_kind::in_sync: return resolution::nothing;
        case case_kind::diverged: return resolution::pull;
        case case_kind::local_only: return resolution::remove_local;
        case case_kind::orphan: return resolution::import_local;
        case case_kind::relinkable: return resolution::adopt;
        case case_kind::duplicate: return resolution::keep_all;
        case case_kind::stale_inbound: return resolution::keep;
        case case_kind::foreign: return resolution::report;
        }
        return resolution::report;
    }
};

/// The user settles what the library cannot: every real discrepancy becomes a decision.
struct ask_user : detail::table_strategy<ask_user> {
    static constexpr resolution table(case_kind c) noexcept {
        switch (c) {
        case case_kind::in_sync: return resolution::nothing;
        case case_kind::relinkable: return resolution::adopt;
        case case_kind::foreign: return resolution::report;
        default: return resolution::ask;
        }
    }
};

} // namespace concord::policy
