// policy::per_case keeps the state of the strategies it is given: an override with a limit decides
// with that limit, not with a default-constructed copy of its type (which per_case made for every
// case, so the limit was lost and every orphan judged against the default). A strategy that cannot
// be default-constructed is given to the constructor (a default-constructed per_case refuses it with
// a static_assert naming what to do: tests/engine/compile_fail/no_default.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

namespace {

/// Cancels orphans worth less than `limit` cents, asks about the others (the default: ask about all).
struct cancel_below {
    std::int64_t limit = 0;
    template <class E>
    concord::resolution decide(const concord::classified<E>& c, const concord::timeline_status&) const {
        if (c.kind != concord::case_kind::orphan || c.remote.empty()) return concord::resolution::ask;
        return c.remote.front().value.cents < limit ? concord::resolution::cancel_remote : concord::resolution::ask;
    }
};

/// The same without a default: a limit is required.
struct cancel_under {
    explicit cancel_under(std::int64_t l) : limit(l) {}
    std::int64_t limit;
    template <class E>
    concord::resolution decide(const concord::classified<E>& c, const concord::timeline_status& t) const {
        return cancel_below{limit}.decide(c, t);
    }
};

using guarded = concord::policy::per_case<concord::policy::trust_local, concord::case_<concord::orphan, cancel_below>>;
using strict = concord::policy::per_case<concord::policy::trust_local, concord::case_<concord::orphan, cancel_under>>;

/// The policy made from its strategies; where it has no constructor taking them, default-constructed
/// (the state given is lost, and the checks below say so).
template <class P, class... S>
P make_policy(S... s) {
    if constexpr (std::is_constructible_v<P, S...>) return P(std::move(s)...);
    else return P{};
}

concord::timeline_status same_timeline() {
    concord::timeline_status st;
    st.kind = concord::verdict::same_timeline;
    st.generation = 2;
    return st;
}

/// What the policy made from its strategies decides for `c`; nothing where it has no constructor taking them.
template <class P, class... S>
std::optional<concord::resolution> decide_with(const concord::classified<engine_test::item>& c, S... s) {
    if constexpr (std::is_constructible_v<P, S...>) return P(std::move(s)...).decide(c, same_timeline());
    else return std::nullopt;
}

/// An object of ours (generation 1) with no local entity: an orphan.
concord::remote_record<engine_test::item> ours(const engine_test::item& v, std::string rid, std::uint64_t seq) {
    concord::remote_record<engine_test::item> r;
    r.remote_id = std::move(rid);
    r.seq = seq;
    r.value = v;
    r.meta = concord::stamp_metadata(engine_test::options().owner, engine_test::sku_identity{}.key(v), 1);
    return r;
}

} // namespace

TEST_CASE("per_case decides with the state of the strategies it was given", "[engine][policy]") {
    using namespace engine_test;
    concord::classified<item> c;
    c.kind = concord::case_kind::orphan;
    c.remote.push_back(ours(make_item("A-1", "a", 500), "rA", 1));

    const auto p = make_policy<guarded>(concord::policy::trust_local{}, cancel_below{1000});
    CHECK(p.decide(c, same_timeline()) == concord::resolution::cancel_remote);
    CHECK(guarded{}.decide(c, same_timeline()) == concord::resolution::ask);  // the default limit: ask

    SECTION("through a reconciler's plan") {
        concord::memory_store<item> db;
        concord::memory_remote<item> remote;
        auto rec = concord::make_reconciler<guarded>(db, remote, options(), sku_identity{},
                                                     make_policy<guarded>(concord::policy::trust_local{}, cancel_below{1000}));
        const std::vector<item> local;
        const std::vector<concord::link> links;
        const std::vector<concord::remote_record<item>> listing{ours(make_item("A-1", "cheap", 500), "rA", 1),
                                                                 ours(make_item("B-1", "dear", 5000), "rB", 2)};
        const auto plan = rec.plan_from(same_timeline(), true, local, links, listing);
        REQUIRE(plan.count(concord::case_kind::orphan) == 2);
        std::vector<std::string> cancelled;
        for (const auto& a : plan.actions)
            if (a.kind == concord::action_kind::cancel_remote) cancelled.push_back(a.remote_id);
        CHECK(cancelled == std::vector<std::string>{"rA"});  // under the limit
        CHECK(plan.decisions.size() == 1);                  // rB: over it, asked
    }
    SECTION("a strategy without a default constructor is given to the constructor") {
        CHECK(decide_with<strict>(c, concord::policy::trust_local{}, cancel_under{1000}) ==
              concord::resolution::cancel_remote);
    }
    SECTION("the default strategy alone given, the overrides default-constructed") {
        const guarded g(concord::policy::trust_local{});
        CHECK(g.decide(c, same_timeline()) == concord::resolution::ask);
        c.kind = concord::case_kind::duplicate;
        CHECK(g.decide(c, same_timeline()) == concord::resolution::keep_oldest);
    }
}
