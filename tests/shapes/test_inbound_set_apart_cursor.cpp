// A label the host filed and concord bought at the service, which the service then edited into
// another identity (its tracking number re-issued). The first pull imports the edited object under
// its new identity and asks about the first label (local_only, its object listed under another
// identity, so not gone).
//  1. Every later listing of that object found it in sync with the imported label, and an in-sync
//     pair is no case, so it no longer counted as set apart: trust_local took "the remote no longer
//     lists it" and bought the first label again (refused as an idempotency conflict while the
//     service kept the key, a second label once it had expired).
//  2. The question held no record of its own, so the puller's cursor went past the object, and no
//     incremental pull asked it (or applied the user's answer) again until a full re-scan.

#include <cstdint>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

namespace {

struct world {
    std::int64_t clock = 1'700'000'000;
    host_db db;
    concord::memory_remote<label> service{[this] { return clock; }};
    concord::memory_witness witness;
    using rec_t = concord::reconciler<label, host_db::label_store, concord::memory_remote<label>,
                                      concord::identity::natural_key<&label::tracking>, concord::policy::trust_local>;
    rec_t rec{db.labels(), service, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 10, .inbound = true}};
    concord::inbound::puller<rec_t> pull{rec, {.now = [this] { return clock; }}};
    concord::remote_record<label> object;

    /// Files TRK-1 on the host, buys it, has the service re-issue it as TRK-1-B, pulls once.
    concord::inbound::pull_result edited_and_pulled() {
        rec.set_reference_check([this](const label& l) { return db.has_order(l.order_number); });
        db.add_order("A-1");
        db.labels().put({0, "A-1", "post", "TRK-1"});
        pull.full_rescan(witness);  // trust_local: bought at the service, stamped by us
        REQUIRE(service.active_count() == 1);
        object = service.all().front();
        service.edit_external(object.remote_id, {0, "A-1", "post", "TRK-1-B"});
        clock += 60;
        return pull.pull(witness);
    }
};

std::size_t creates(const concord::report& rep) {
    std::size_t n = 0;
    for (const auto& a : rep.actions) n += a.action == "create_remote";
    return n;
}

} // namespace

TEST_CASE("inbound: a label whose object is in sync with the label imported from it is not bought again",
          "[inbound]") {
    world w;
    auto r1 = w.edited_and_pulled();
    REQUIRE(r1.rep.decisions.size() == 1);  // TRK-1: its object is listed under TRK-1-B
    REQUIRE(w.db.labels().size() == 2);     // TRK-1-B imported

    w.clock += 2 * 24 * 3600;  // the service has forgotten the first create's key
    auto full = w.pull.full_rescan(w.witness);
    CHECK(creates(full.rep) == 0);
    CHECK(full.rep.failed() == 0);
    CHECK(full.rep.decisions.size() == 1);  // still the user's to decide
    CHECK(w.service.active_count() == 1);   // no second label bought
}

TEST_CASE("inbound: the cursor stays below an object set apart from a label that waits for a decision",
          "[inbound][cursor]") {
    world w;
    auto r1 = w.edited_and_pulled();
    REQUIRE(r1.rep.decisions.size() == 1);
    CHECK(r1.held == 1);
    CHECK(w.pull.cursor() < std::optional<std::uint64_t>(w.object.seq));  // not past the object

    auto r2 = w.pull.pull(w.witness);
    CHECK(r2.rep.decisions.size() == 1);  // asked again by the next incremental pull
    CHECK(creates(r2.rep) == 0);
    CHECK(w.service.active_count() == 1);
}
