// Review 5, cursors:
//  1. restore_scan_bound refuses a negative clock allowance (the bound would pass the commit time and
//     the scan would miss what the lost generations created first), and a commit time no clock wrote
//     (above INT64_MAX: it wrapped into a negative time, and minus the allowance, signed overflow
//     that put the bound in the far future, where the scan finds nothing);
//  2. inbound::puller keeps the cursor below a record whose action was skipped because the local side
//     changed since the plan: past it, no incremental pull would list the record again;
//  3. and below a record of an identity two local entities share (left alone with a duplicate_local
//     problem "until one is changed or removed"), after an incremental pull and after a full
//     re-scan: past it, once the host removed its duplicate, no incremental pull listed the record
//     again, and it stayed unlinked until the next full re-scan.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/cursor.hpp>
#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

namespace {

struct parcel {
    BOOST_HANA_DEFINE_STRUCT(parcel, (std::int64_t, id), (std::string, order_number), (std::string, carrier),
                             (std::string, tracking));
};

concord::timeline_status restored_with_commit_time(std::uint64_t t) {
    concord::timeline_status st;
    st.kind = concord::verdict::restored;
    st.store = concord::checkpoint{"lineage", 3, {{std::string(concord::commit_time_cursor), t}}};
    return st;
}

template <class F>
concord::errc code_of(F&& f, std::string* msg = nullptr) {
    try {
        f();
    } catch (const concord::error& e) {
        if (msg) *msg = e.what();
        return e.code();
    }
    FAIL("nothing was thrown");
    return concord::errc::invalid_argument;
}

} // namespace

TEST_CASE("restore_scan_bound refuses a negative clock allowance and a commit time no clock wrote",
          "[cursor][review5]") {
    SECTION("an ordinary commit time and allowance") {
        CHECK(concord::restore_scan_bound(restored_with_commit_time(1'700'000'000), 300) ==
              std::optional<std::int64_t>(1'699'999'700));
        CHECK(concord::restore_scan_bound(restored_with_commit_time(0), 300) == std::optional<std::int64_t>(-300));
        CHECK(concord::restore_scan_bound(restored_with_commit_time(1'700'000'000), 0) ==
              std::optional<std::int64_t>(1'700'000'000));
    }
    SECTION("a negative allowance would start the scan after the commit time") {
        std::string msg;
        CHECK(code_of([] { concord::restore_scan_bound(restored_with_commit_time(1'700'000'000), -3600); }, &msg) ==
              concord::errc::invalid_argument);
        CHECK_THAT(msg, Catch::Contains("clock_skew_seconds is -3600"));
    }
    SECTION("a commit time above INT64_MAX is a corrupt checkpoint, never a bound in the far future") {
        for (const std::uint64_t t : {std::uint64_t{1} << 63, std::numeric_limits<std::uint64_t>::max()}) {
            std::string msg;
            CHECK(code_of([&] { concord::restore_scan_bound(restored_with_commit_time(t), 300); }, &msg) ==
                  concord::errc::checkpoint_corrupt);
            CHECK_THAT(msg, Catch::Contains(std::to_string(t)) && Catch::Contains("full scan"));
            CHECK(code_of([&] { concord::commit_time_of(restored_with_commit_time(t).store); }) ==
                  concord::errc::checkpoint_corrupt);
        }
        CHECK(concord::commit_time_of(restored_with_commit_time(std::numeric_limits<std::int64_t>::max()).store) ==
              std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
    }
}

TEST_CASE("inbound: a record whose import was skipped because the host wrote it meanwhile is listed again",
          "[inbound][cursor][review5]") {
    using rec_t = concord::reconciler<parcel, concord::memory_store<parcel>, concord::memory_remote<parcel>,
                                      concord::identity::natural_key<&parcel::tracking>, concord::policy::trust_local>;
    concord::memory_store<parcel> db;
    concord::memory_remote<parcel> service;
    concord::memory_witness witness;
    rec_t rec(db, service, {.owner = {"host-1", "parcels"}, .entity_name = "parcel", .page_size = 10, .inbound = true});
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    service.put_external({0, "A-1", "post", "T1"});  // seq 1
    {
        auto s = concord::begin_session(witness, db);
        auto p = pull.plan(s);
        REQUIRE(p.cursor == std::optional<std::uint64_t>(1));
        db.put({0, "A-1", "courier", "T1"});  // the host files the same parcel by hand, between plan and apply
        std::size_t held = 99;
        auto rep = pull.apply(std::move(p), s, &held);
        s.commit();
        REQUIRE_FALSE(rep.actions.empty());
        CHECK(rep.actions[0].outcome == "skipped");  // the import: the identity is present locally now
        CHECK(held == 1);
        CHECK(pull.cursor() == std::optional<std::uint64_t>(0));  // kept below the record
    }
    // The next incremental pull sees the record again and settles the pair the skip left unsettled
    // (trust_local: the host's copy is pushed), then the cursor passes it.
    auto r = pull.pull(witness);
    CHECK(r.listing.rows == 1);
    REQUIRE(r.rep.actions.size() == 1);
    CHECK(r.rep.actions[0].action == "update_remote");
    CHECK(r.rep.actions[0].outcome == "done");
    CHECK(r.held == 0);
    CHECK(pull.cursor() == std::optional<std::uint64_t>(1));
    REQUIRE(service.list(std::nullopt, 10).items.size() == 1);
    CHECK(service.list(std::nullopt, 10).items[0].value.carrier == "courier");
}

TEST_CASE("inbound: a record left alone with two local entities of its identity is listed again once one is gone",
          "[inbound][cursor][review5]") {
    using rec_t = concord::reconciler<parcel, concord::memory_store<parcel>, concord::memory_remote<parcel>,
                                      concord::identity::natural_key<&parcel::tracking>, concord::policy::trust_local>;
    concord::memory_store<parcel> db;
    concord::memory_remote<parcel> service;
    concord::memory_witness witness;
    rec_t rec(db, service, {.owner = {"host-1", "parcels"}, .entity_name = "parcel", .page_size = 10, .inbound = true});
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    const auto first = db.put({0, "A-1", "courier", "T1"});
    db.put({0, "A-1", "van", "T1"});  // the host holds two parcels of one tracking number
    service.put_external({0, "A-1", "post", "T1"});  // seq 1
    service.put_external({0, "A-2", "post", "T2"});  // seq 2: imported

    // An incremental pull and a full re-scan (which resets the cursor from what it saw) alike.
    bool full = false;
    SECTION("incremental pull") { full = false; }
    SECTION("full re-scan") { full = true; }
    auto r1 = full ? pull.full_rescan(witness) : pull.pull(witness);
    CHECK(r1.rep.actions.size() == 2);  // T2's import and link; T1 is left alone
    const auto dup = std::count_if(r1.rep.problems.begin(), r1.rep.problems.end(),
                                   [](const std::string& p) { return p.find("duplicate_local") != std::string::npos; });
    CHECK(dup >= 1);
    CHECK(r1.held == 1);
    CHECK(pull.cursor() == std::optional<std::uint64_t>(0));  // below the record left alone

    db.erase(first);  // the host settles its duplicate
    auto r2 = pull.pull(witness);
    CHECK(r2.held == 0);
    CHECK(pull.cursor() == std::optional<std::uint64_t>(2));
    bool linked = false;
    for (const auto& l : db.links()) linked = linked || l.remote_id == "r1";
    CHECK(linked);  // settled by the incremental pull, not left for a full re-scan
    CHECK(db.links().size() == 2);
}
