// pull_result::held and puller::apply(..., &held) count every record the cursor is held below, once: a
// record held after another that had already lowered the cursor counted nothing before.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/cursor.hpp>
#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

namespace {

struct parcel {
    BOOST_HANA_DEFINE_STRUCT(parcel, (std::int64_t, id), (std::string, order_number), (std::string, carrier),
                             (std::string, tracking));
};

using ask_stale = concord::policy::per_case<concord::policy::trust_local,
                                            concord::policy::case_<concord::stale_inbound, concord::policy::ask_user>>;

} // namespace

TEST_CASE("inbound: held counts every record waiting for a decision", "[inbound][cursor]") {
    using rec_t = concord::reconciler<parcel, concord::memory_store<parcel>, concord::memory_remote<parcel>,
                                      concord::identity::natural_key<&parcel::tracking>, ask_stale>;
    concord::memory_store<parcel> db;
    concord::memory_remote<parcel> service;
    concord::memory_witness witness;
    std::set<std::string> orders{"A-1"};
    rec_t rec(db, service, {.owner = {"host-1", "parcels"}, .entity_name = "parcel", .page_size = 10, .inbound = true});
    rec.set_reference_check([&](const parcel& p) { return orders.count(p.order_number) > 0; });
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    service.put_external({0, "A-1", "post", "T1"});  // seq 1: imported
    for (int i = 2; i <= 6; ++i)                      // seq 2..6: their orders are gone, each asked about
        service.put_external({0, "GONE-" + std::to_string(i), "post", "T" + std::to_string(i)});

    auto r = pull.pull(witness);
    REQUIRE(r.rep.decisions.size() == 5);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(1));
    CHECK(r.held == 5);  // five records wait for a decision: the next pull lists every one of them again
}

namespace {
/// A label service whose cancels are refused.
struct refusing_service {
    using entity_type = parcel;
    concord::memory_remote<parcel>* inner;
    concord::page<parcel> list(std::optional<std::uint64_t> after, std::size_t limit) { return inner->list(after, limit); }
    concord::remote_record<parcel> cancel(std::string_view, const std::string&) {
        throw concord::remote_error(concord::errc::remote_permanent, "cancel refused");
    }
};
} // namespace

TEST_CASE("inbound: held counts the records of failed actions beside those waiting for a decision",
          "[inbound][cursor]") {
    using rec_t = concord::reconciler<parcel, concord::memory_store<parcel>, refusing_service,
                                      concord::identity::natural_key<&parcel::tracking>, ask_stale>;
    concord::memory_store<parcel> db;
    concord::memory_remote<parcel> service;
    refusing_service refusing{&service};
    concord::memory_witness witness;
    std::set<std::string> orders{"A-1"};
    rec_t rec(db, refusing, {.owner = {"host-1", "parcels"}, .entity_name = "parcel", .page_size = 10, .inbound = true});
    rec.set_reference_check([&](const parcel& p) { return orders.count(p.order_number) > 0; });
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    service.put_external({0, "GONE", "post", "T0"});  // seq 1: its order is gone: asked about
    service.put_external({0, "A-1", "post", "T1"});   // seq 2: imported
    service.put_external({0, "A-1", "post", "T1"});   // seq 3: delivered twice; cancelling this copy fails

    auto r = pull.pull(witness);
    REQUIRE(r.rep.decisions.size() == 1);
    CHECK(r.rep.failed() == 1);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(0));
    CHECK(r.held == 3);  // the record asked about, and both records of the case whose cancel failed
}

TEST_CASE("inbound: reconcile() of the inbound reconciler leaves the puller's cursor below an open question",
          "[inbound][cursor]") {
    using rec_t = concord::reconciler<parcel, concord::memory_store<parcel>, concord::memory_remote<parcel>,
                                      concord::identity::natural_key<&parcel::tracking>, ask_stale>;
    concord::memory_store<parcel> db;
    concord::memory_remote<parcel> service;
    concord::memory_witness witness;
    std::set<std::string> orders{"A-1", "A-2"};
    rec_t rec(db, service, {.owner = {"host-1", "parcels"}, .entity_name = "parcel", .page_size = 10, .inbound = true});
    rec.set_reference_check([&](const parcel& p) { return orders.count(p.order_number) > 0; });
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    service.put_external({0, "A-1", "post", "T1"});  // seq 1
    REQUIRE(pull.pull(witness).cursor_after == std::optional<std::uint64_t>(1));
    service.put_external({0, "GONE", "post", "T2"});  // seq 2: its order is gone: asked about
    service.put_external({0, "A-2", "post", "T3"});   // seq 3: imported

    auto rep = rec.reconcile(witness);  // the reconciler's own session, not the puller's
    CHECK(rep.decisions.size() == 1);
    CHECK(db.size() == 2);
    CHECK(pull.cursor() == std::optional<std::uint64_t>(1));  // not moved past the open question

    auto r = pull.pull(witness);  // so the next pull asks it again, under the same decision id
    REQUIRE(r.rep.decisions.size() == 1);
    CHECK(r.rep.decisions.front().id == rep.decisions.front().id);
    CHECK(r.held == 1);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(1));
    CHECK(db.size() == 2);  // seq 3, imported by the reconcile, is in sync: not imported twice
}
