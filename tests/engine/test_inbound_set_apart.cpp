// Inbound mode: a local_only entity beside a record of its identity that is not provably ours is set
// apart and asked about, as outside inbound mode (it was created again, or removed, without asking).

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

namespace {

concord::timeline_status audit_timeline() {
    concord::timeline_status st;
    st.kind = concord::verdict::same_timeline;
    st.generation = 2;
    return st;
}

concord::remote_record<engine_test::item> audit_record(const engine_test::item& v, std::string rid, std::uint64_t seq,
                                                       concord::metadata m) {
    concord::remote_record<engine_test::item> r;
    r.remote_id = std::move(rid);
    r.seq = seq;
    r.value = v;
    r.value.id = 0;
    r.meta = std::move(m);
    return r;
}

} // namespace

TEST_CASE("inbound: a local_only entity beside a foreign record of its identity is asked about, never created or removed",
          "[engine][audit][inbound][foreign]") {
    using namespace engine_test;
    using concord::case_kind;
    const sku_identity idp;
    // A: no link; the remote lists another installation's record with A's content.
    // B: linked to an object the remote no longer lists; the remote lists a record with B's content
    //    under someone else's (non-concord) tag. Outside inbound mode both are set apart and asked.
    item a = make_item("A", "a", 1), b = make_item("B", "b", 2);
    a.id = 1;
    b.id = 2;
    std::vector<item> local{a, b};
    std::vector<concord::link> links{{idp.key(b), "rB-gone", 1}};
    std::vector<concord::remote_record<item>> rem;
    auto other = concord::stamp_metadata(options().owner, idp.key(a), 1);
    other[std::string(concord::meta_keys::owner)] = "concord/v1:other-host:shop";
    rem.push_back(audit_record(a, "rA", 1, other));
    rem.push_back(audit_record(b, "rB", 2, {{std::string(concord::meta_keys::owner), "stripe-app"}}));
    for (int n = 0; n < 40; ++n) {  // in sync, so that two slices have work
        item v = make_item("n" + std::to_string(n));
        v.id = 10 + n;
        local.push_back(v);
        links.push_back({idp.key(v), "rn" + std::to_string(n), 1});
        rem.push_back(audit_record(v, "rn" + std::to_string(n), 3 + n, {}));
    }

    auto check = [&](const auto& p) {
        CHECK(p.count(case_kind::foreign) == 2);
        CHECK(p.count(case_kind::local_only) == 2);
        for (const auto& c : p.cases)
            if (c.kind == case_kind::local_only) {
                INFO(c.identity_text << ": " << c.note);
                CHECK(c.set_apart == 1);
            }
        CHECK(p.decisions.size() == 2);
        for (const auto& act : p.actions) {
            CHECK(act.kind != concord::action_kind::create_remote);
            CHECK(act.kind != concord::action_kind::remove_local);
        }
    };
    for (unsigned threads : {1u, 2u}) {
        INFO("threads " << threads);
        auto o = options();
        o.inbound = true;
        o.threads = threads;
        o.min_slice = 4;
        concord::memory_store<item> db;
        concord::memory_remote<item> remote;
        {
            auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, o, sku_identity{});
            check(rec.plan_from(audit_timeline(), true, local, links, rem));
        }
        {
            auto rec = concord::make_reconciler<concord::policy::trust_remote>(db, remote, o, sku_identity{});
            check(rec.plan_from(audit_timeline(), true, local, links, rem));
        }
    }
}
