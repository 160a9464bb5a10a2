// pull_result::held counts each record the cursor is held below once. A record held because it may
// join an identity two local labels share (its stamp names that identity), classified under the
// identity of its content, whose action then failed, was counted twice: once by the plan, once as a
// record of a failed action.

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
/// A label service whose cancels are refused.
struct refusing_service {
    using entity_type = label;
    concord::memory_remote<label>* inner;
    concord::page<label> list(std::optional<std::uint64_t> after, std::size_t limit) { return inner->list(after, limit); }
    concord::remote_record<label> cancel(std::string_view, const std::string&) {
        throw concord::remote_error(concord::errc::remote_permanent, "cancel refused");
    }
};

template <class Pull>
std::size_t held_of(Pull&& pull) {
    const auto r = pull();
    CHECK(r.rep.failed() == 1);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(0));
    return r.held;
}
} // namespace

TEST_CASE("inbound: a record held for a shared identity and in a failed action counts once", "[inbound][cursor]") {
    host_db db;
    concord::memory_remote<label> service;
    refusing_service refusing{&service};
    concord::memory_witness witness;
    using rec_t = concord::reconciler<label, host_db::label_store, refusing_service,
                                      concord::identity::natural_key<&label::tracking>, concord::policy::trust_local>;
    rec_t rec(db.labels(), refusing, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 10, .inbound = true});
    concord::inbound::puller<rec_t> pull(rec, {.now = [] { return std::int64_t{1'700'000'000}; }});

    db.labels().put({0, "A-0", "post", "TRK-SHARED"});  // two local labels share one identity
    db.labels().put({0, "A-0", "post", "TRK-SHARED"});
    concord::metadata m;  // no owner tag: ours in inbound mode; the stamp names the shared identity
    m[std::string(concord::meta_keys::identity)] =
        concord::identity::natural_key<&label::tracking>{}.key(label{0, "A-0", "post", "TRK-SHARED"}).hex();
    service.put_external({0, "A-1", "post", "TRK-A-1"}, m);  // seq 1: held (shared identity), and kept
    service.put_external({0, "A-1", "post", "TRK-A-1"});     // seq 2: delivered twice; cancelling it fails

    SECTION("incremental pull") {
        CHECK(held_of([&] { return pull.pull(witness); }) == 2);  // two records, each once
    }
    SECTION("full re-scan") {
        CHECK(held_of([&] { return pull.full_rescan(witness); }) == 2);
    }
}
