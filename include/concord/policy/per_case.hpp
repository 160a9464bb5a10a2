#pragma once
// Per-case composition: a default strategy and overrides for chosen cases, checked at compile time.
//
//   using policy = concord::policy::per_case<concord::policy::trust_local,
//                      concord::policy::case_<concord::orphan, concord::policy::ask_user>,
//                      concord::policy::case_<concord::duplicate, concord::policy::ask_user>>;
//
// The overrides are a compile-time table from case tag type to strategy type: a name that is not one
// of the eight case tags, a case listed twice or a strategy that is not a conflict policy fails to
// compile. (A plain type lookup, not a Boost.Hana map: same checks, without Hana's map, set and
// algorithm headers in every program that composes a policy.)
//
// The policy holds its strategies, so a strategy with state (a limit, a list of accounts) keeps the
// state it was given: pass them to the constructor, the default one first, then those of the rules
// in their order (cancel_below being a strategy of the host's, with a limit):
//
//   using guarded = concord::policy::per_case<concord::policy::trust_local, concord::case_<concord::orphan, cancel_below>>;
//   auto sync = concord::make_reconciler<guarded>(db, remote, options, identity,
//                                                 guarded(concord::policy::trust_local{}, cancel_below{50'00}));

#include <cstddef>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>

#include <concord/cases.hpp>
#include <concord/concepts/conflict_policy.hpp>
#include <concord/plan.hpp>
#include <concord/timeline.hpp>

namespace concord::policy {

namespace detail {
template <class T> struct is_case_tag : std::false_type {};
template <case_kind K> struct is_case_tag<case_tag<K>> : std::true_type {};
/// How many of Rules override Case.
template <class Case, class... Rules>
inline constexpr std::size_t times_listed = (std::size_t{std::is_same_v<Case, typename Rules::case_type>} + ... + 0);
/// The strategy of the first rule for Case (only used when there is one).
template <class Case, class... Rules>
struct strategy_of;
template <class Case, class Rule, class... Rest>
struct strategy_of<Case, Rule, Rest...>
    : std::conditional_t<std::is_same_v<Case, typename Rule::case_type>, std::type_identity<typename Rule::strategy>,
                         strategy_of<Case, Rest...>> {};
/// Position of the first rule for Case (only used when there is one).
template <class Case, class... Rules>
constexpr std::size_t rule_index() {
    constexpr bool is[] = {std::is_same_v<Case, typename Rules::case_type>...};
    std::size_t i = 0;
    while (i < sizeof...(Rules) && !is[i]) ++i;
    return i;
}
/// A strategy per_case makes itself (a default-constructed per_case): one that needs arguments is
/// refused with a message saying what to do, not with the errors of the constructor it lacks.
template <class S>
S make_strategy() {
    if constexpr (std::is_default_constructible_v<S>) {
        return S{};
    } else {
        static_assert(std::is_default_constructible_v<S>,
                      "concord::policy::per_case: a strategy is not default-constructible; construct the policy "
                      "with its strategies, in the order of the rules: per_case<Default, case_<...>...>(default "
                      "strategy, override strategies...)");
        std::terminate();
    }
}
} // namespace detail

/// One override: resolve cases tagged `Case` with `Strategy`.
template <class Case, class Strategy>
struct case_ {
    static_assert(detail::is_case_tag<Case>::value,
                  "concord::policy::case_<Case, Strategy>: Case must be one of concord::in_sync, diverged, "
                  "local_only, orphan, relinkable, duplicate, stale_inbound, foreign");
    using case_type = Case;
    using strategy = Strategy;
};

template <class Default, class... Rules>
struct per_case {
    static_assert(((detail::times_listed<typename Rules::case_type, Rules...> == 1) && ...),
                  "concord::policy::per_case: a case is listed twice");

    Default fallback;
    std::tuple<typename Rules::strategy...> overrides;  ///< one per rule, in the order of the rules

    /// Every strategy default-constructed.
    per_case() : fallback(detail::make_strategy<Default>()), overrides(detail::make_strategy<typename Rules::strategy>()...) {}
    /// The strategies given (their state kept): the default one, then one per rule in the order of the rules.
    explicit per_case(Default d, typename Rules::strategy... s) : fallback(std::move(d)), overrides(std::move(s)...) {}
    /// The default strategy given, the overrides default-constructed.
    explicit per_case(Default d)
        requires(sizeof...(Rules) != 0)
        : fallback(std::move(d)), overrides(detail::make_strategy<typename Rules::strategy>()...) {}

    template <case_kind K, class E>
    resolution decide_for(const classified<E>& c, const timeline_status& t) const {
        if constexpr (detail::times_listed<case_tag<K>, Rules...> != 0) {
            using S = typename detail::strategy_of<case_tag<K>, Rules...>::type;
            static_assert(conflict_policy<S, E>, "concord::policy::per_case: the strategy of a case_<> override is not a "
                                                 "conflict policy (it needs `resolution decide(const classified<E>&, "
                                                 "const timeline_status&) const`)");
            if constexpr (conflict_policy<S, E>)
                return std::get<detail::rule_index<case_tag<K>, Rules...>()>(overrides).decide(c, t);  // its own state
            else
                return resolution::report;
        } else {
            return fallback.decide(c, t);
        }
    }

    template <class E>
    resolution decide(const classified<E>& c, const timeline_status& t) const {
        switch (c.kind) {
        case case_kind::in_sync: return decide_for<case_kind::in_sync>(c, t);
        case case_kind::diverged: return decide_for<case_kind::diverged>(c, t);
        case case_kind::local_only: return decide_for<case_kind::local_only>(c, t);
        case case_kind::orphan: return decide_for<case_kind::orphan>(c, t);
        case case_kind::relinkable: return decide_for<case_kind::relinkable>(c, t);
        case case_kind::duplicate: return decide_for<case_kind::duplicate>(c, t);
        case case_kind::stale_inbound: return decide_for<case_kind::stale_inbound>(c, t);
        case case_kind::foreign: return decide_for<case_kind::foreign>(c, t);
        }
        return resolution::report;
    }
};

} // namespace concord::policy

namespace concord {
/// Shorter spelling of policy::case_, as the brief writes it: `concord::case_<concord::orphan, ask_user>`.
template <class Case, class Strategy>
using case_ = policy::case_<Case, Strategy>;
} // namespace concord
