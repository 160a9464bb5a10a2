// A listing handed to plan_from() directly (the puller, the mirror, a host) that names one remote
// object twice is refused as list_all() refuses it: also when the object is a cancelled one of ours,
// which is counted into the identity's cancelled_before and so into the instance of its re-creation's
// idempotency key (a key other than the one the same remote listed once gives).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

namespace {

concord::timeline_status same_timeline() {
    concord::timeline_status st;
    st.kind = concord::verdict::same_timeline;
    st.generation = 2;
    return st;
}

concord::remote_record<engine_test::item> record(const engine_test::item& v, std::string rid, std::uint64_t seq,
                                                 concord::remote_state state) {
    concord::remote_record<engine_test::item> r;
    r.remote_id = std::move(rid);
    r.seq = seq;
    r.value = v;
    r.value.id = 0;
    r.meta = concord::stamp_metadata(engine_test::options().owner, engine_test::sku_identity{}.key(v), 1);
    r.state = state;
    return r;
}

std::string create_key(const concord::plan<engine_test::item>& p) {
    for (const auto& a : p.actions)
        if (a.kind == concord::action_kind::create_remote) return a.idempotency_key;
    return {};
}

} // namespace

TEST_CASE("plan_from refuses a cancelled object of ours listed twice", "[engine][join]") {
    using namespace engine_test;
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, options(), sku_identity{});
    auto a = make_item("A-1", "a", 5);
    a.id = 1;
    const std::vector<item> local{a};
    const std::vector<concord::link> links;

    // The remote as it is: the object the user cancelled once; the entity is created again.
    const std::vector<concord::remote_record<item>> once{record(a, "rA", 1, concord::remote_state::cancelled)};
    const auto p = rec.plan_from(same_timeline(), true, local, links, once);
    REQUIRE(p.cases.size() == 1);
    CHECK(p.cases.front().cancelled_before == 1);
    const std::string key = create_key(p);
    CHECK(!key.empty());

    SECTION("the same cancelled record twice") {
        auto twice = once;
        twice.push_back(record(a, "rA", 2, concord::remote_state::cancelled));
        CHECK_THROWS_MATCHES(rec.plan_from(same_timeline(), true, local, links, twice), concord::error,
                             Catch::Predicate<concord::error>(
                                 [](const concord::error& e) { return e.code() == concord::errc::bad_page; }));
    }
    SECTION("one object listed cancelled and active, in sync with its entity") {
        auto linked = links;
        linked.push_back({sku_identity{}.key(a), "rA"});
        auto both = once;
        both.push_back(record(a, "rA", 2, concord::remote_state::active));
        CHECK_THROWS_MATCHES(rec.plan_from(same_timeline(), true, local, linked, both), concord::error,
                             Catch::Predicate<concord::error>(
                                 [](const concord::error& e) { return e.code() == concord::errc::bad_page; }));
    }
}
