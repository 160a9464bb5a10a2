#pragma once
// Range views over a plan. Kept apart from plan.hpp so that only the code that iterates cases this
// way pays for range-v3's view headers.

#include <range/v3/view/filter.hpp>

#include <concord/cases.hpp>
#include <concord/plan.hpp>

namespace concord {

/// The cases of `p` that landed in `k`, as a lazy range-v3 view over plan::cases (for reports and
/// host UIs that show one kind at a time). in_sync entities are only counted (plan::count), never
/// listed. The view refers to `p`: keep the plan alive while iterating.
template <class E>
auto cases_of(const plan<E>& p, case_kind k) {
    return ::ranges::views::filter(p.cases, [k](const classified<E>& c) { return c.kind == k; });
}
/// A view into a temporary plan would dangle.
template <class E>
void cases_of(const plan<E>&& p, case_kind k) = delete;

} // namespace concord
