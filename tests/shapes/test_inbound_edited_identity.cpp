// A label the service edited into another identity (its tracking number changed) is still listed, as
// ours, under the identity of its new content. The imported label linked to it is local_only, but its
// object is not gone: a full re-scan created it again at the service (trust_local: a second label
// bought) or removed the local label (trust_remote), both on "the remote no longer lists it".

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

using namespace shapes_test;

TEMPLATE_TEST_CASE("inbound: a label the service edited into another identity is neither created again nor removed",
                   "[inbound]", concord::policy::trust_local, concord::policy::trust_remote) {
    host_db db;
    concord::memory_remote<label> service;
    concord::memory_witness witness;
    using rec_t = concord::reconciler<label, host_db::label_store, concord::memory_remote<label>,
                                      concord::identity::natural_key<&label::tracking>, TestType>;
    rec_t rec(db.labels(), service, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 2, .inbound = true});
    rec.set_reference_check([&](const label& l) { return db.has_order(l.order_number); });
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    db.add_order("A-1");
    const auto id = service.put_external({0, "A-1", "post", "TRK-A-1"}).remote_id;
    pull.pull(witness);
    REQUIRE(db.labels().size() == 1);
    service.edit_external(id, {0, "A-1", "post", "TRK-A-1-B"});  // the service re-issued the tracking number

    auto full = pull.full_rescan(witness);
    REQUIRE(full.rep.counts[static_cast<std::size_t>(concord::case_kind::local_only)] == 1);
    std::size_t creates = 0, removes = 0;
    for (const auto& a : full.rep.actions) {
        creates += a.action == "create_remote";
        removes += a.action == "remove_local";
    }
    CHECK(creates == 0);
    CHECK(removes == 0);
    CHECK(service.active_count() == 1);  // no second label at the service
    REQUIRE(full.rep.decisions.size() == 1);  // the user decides, as for a linked object set apart
    CHECK(full.rep.decisions.front().summary.find("no longer lists") == std::string::npos);
    CHECK(full.rep.decisions.front().summary.find(id) != std::string::npos);
    bool first_kept = false;
    for (const auto& l : db.labels().scan()) first_kept = first_kept || l.tracking == "TRK-A-1";
    CHECK(first_kept);
}
