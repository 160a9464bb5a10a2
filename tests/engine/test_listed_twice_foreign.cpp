// A listing handed to plan_from() directly (a host's own listing) that names one remote object twice
// is refused as list_all() refuses it, also when the object is not ours (a foreign case): listed
// twice it became two foreign cases of one object, and in inbound mode was counted twice into a
// local_only entity's set_apart, which goes into its decision id and its create's idempotency key
// (another key and another question than the remote listed once gives).

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

/// A record another installation made (its own owner tag).
concord::remote_record<engine_test::item> theirs(const engine_test::item& v, std::string rid, std::uint64_t seq) {
    concord::remote_record<engine_test::item> r;
    r.remote_id = std::move(rid);
    r.seq = seq;
    r.value = v;
    r.value.id = 0;
    r.meta = concord::stamp_metadata(concord::owner_tag{"inst-2", "shop"}, concord::key128{1, 2}, 1);
    return r;
}

bool is_bad_page(const concord::error& e) { return e.code() == concord::errc::bad_page; }

} // namespace

TEST_CASE("plan_from refuses a foreign record listed twice", "[engine][join]") {
    using namespace engine_test;
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    const std::vector<concord::link> links;

    SECTION("inbound: the record shares a local_only entity's identity") {
        auto o = options();
        o.inbound = true;
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, o, sku_identity{});
        auto a = make_item("A-1", "a", 5);
        a.id = 1;
        const std::vector<item> local{a};
        const std::vector<concord::remote_record<item>> once{theirs(a, "rX", 1)};
        const auto p = rec.plan_from(same_timeline(), true, local, links, once);
        CHECK(p.count(concord::case_kind::foreign) == 1);
        CHECK(p.count(concord::case_kind::local_only) == 1);
        for (const auto& c : p.cases)
            if (c.kind == concord::case_kind::local_only) CHECK(c.set_apart == 1);

        auto twice = once;
        twice.push_back(theirs(a, "rX", 2));
        CHECK_THROWS_MATCHES(rec.plan_from(same_timeline(), true, local, links, twice), concord::error,
                             Catch::Predicate<concord::error>(is_bad_page));
    }
    SECTION("an identity recomputed from content, a record without one") {
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, options(), sku_identity{});
        auto blank = make_item("", "no sku", 7);
        const std::vector<item> local;
        const std::vector<concord::remote_record<item>> once{theirs(blank, "rY", 1)};
        const auto p = rec.plan_from(same_timeline(), true, local, links, once);
        CHECK(p.count(concord::case_kind::foreign) == 1);

        auto twice = once;
        twice.push_back(theirs(blank, "rY", 2));
        CHECK_THROWS_MATCHES(rec.plan_from(same_timeline(), true, local, links, twice), concord::error,
                             Catch::Predicate<concord::error>(is_bad_page));
    }
    SECTION("an identity only the stamp carries (surrogate id)") {
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, options(),
                                                                          concord::identity::surrogate_id{});
        auto b = make_item("B-1", "b", 9);
        const std::vector<item> local;
        const std::vector<concord::remote_record<item>> twice{theirs(b, "rZ", 1), theirs(b, "rZ", 2)};
        CHECK_THROWS_MATCHES(rec.plan_from(same_timeline(), true, local, links, twice), concord::error,
                             Catch::Predicate<concord::error>(is_bad_page));
    }
}
