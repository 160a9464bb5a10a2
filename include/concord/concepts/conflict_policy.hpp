#pragma once
// Concept: a conflict policy decides what to do with each classified case.

#include <concepts>

#include <concord/cases.hpp>
#include <concord/plan.hpp>
#include <concord/timeline.hpp>

namespace concord {

/// P decides a resolution for each case of entities of type E:
/// `resolution decide(const classified<E>&, const timeline_status&) const`.
/// The reconciler enforces the rules no policy can bend: foreign records are never touched,
/// relinkable entities are always adopted, an answer that does not fit the case is refused.
template <class P, class E>
concept conflict_policy = requires(const P& p, const classified<E>& c, const timeline_status& t) {
    { p.decide(c, t) } -> std::same_as<resolution>;
};

namespace detail {
template <class P, class E>
constexpr bool check_conflict_policy() {
    static_assert(conflict_policy<P, E>,
                  "concord conflict_policy: add `template <class E> concord::resolution decide(const "
                  "concord::classified<E>&, const concord::timeline_status&) const` to your policy, or use "
                  "concord::policy::trust_local / trust_remote / ask_user / per_case");
    return true;
}
} // namespace detail

} // namespace concord
