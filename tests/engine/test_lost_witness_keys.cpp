// Update keys after the witness was lost (deleted, or an older copy put back). The witness holds the
// session attempt counter that keeps update keys of one generation apart; a session that finds the
// store ahead of the witness cannot know which attempts were used, and must not count from 1 again:
// a change pushed under a key an earlier session of the same generation used is replayed by the
// provider, which leaves the remote unchanged while the report says "done".

#include <string>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;

namespace {

const concord::action_outcome* outcome_of(const concord::report& rep, std::string_view kind) {
    for (const auto& a : rep.actions)
        if (a.action == kind) return &a;
    return nullptr;
}

void set_remote_back(world& w, const std::string& rid, const std::string& key) {
    auto back = w.active("a")[0].value;
    back.name = "A";
    w.remote.update(rid, back, key);
}

} // namespace

TEST_CASE("after the witness was deleted, a change pushed again does not reuse an earlier session's key",
          "[engine][keys][witness]") {
    world w;
    auto r = w.reconciler<concord::policy::trust_local>();
    w.db.put(make_item("a", "A"));
    r.reconcile(w.witness);
    REQUIRE(w.active("a").size() == 1);
    const auto rid = w.active("a")[0].remote_id;
    auto local = *w.local("a");
    local.name = "B";
    w.db.put(local);

    // A session pushes A->B, then its store commit fails: the generation is not committed.
    std::string first_key;
    {
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        w.db.fail_next_commits(1);
        CHECK_THROWS(r.apply(p, s));
        for (const auto& a : p.actions)
            if (a.kind == concord::action_kind::update_remote) first_key = a.idempotency_key;
    }
    REQUIRE(!first_key.empty());
    REQUIRE(w.active("a")[0].value.name == "B");

    // Someone sets the remote back; the witness file is deleted.
    set_remote_back(w, rid, "someone-else-1");
    w.witness.erase();

    auto s = concord::begin_session(w.witness, w.db);
    REQUIRE(s.kind() == concord::verdict::witness_behind);
    std::vector<std::string> keys;
    for (int round = 0; round < 3; ++round) {  // the host plans and applies, the remote is set back, again
        auto p = r.plan(s);
        auto rep = r.apply(p, s);
        const auto* u = outcome_of(rep, "update_remote");
        REQUIRE(u);
        CHECK(u->outcome == "done");
        CHECK(u->idempotency_key != first_key);
        keys.push_back(u->idempotency_key);
        CHECK(w.active("a")[0].value.name == "B");  // the report's "done" is true
        set_remote_back(w, rid, "someone-else-" + std::to_string(round + 2));
    }
    s.commit();
    CHECK(keys[0] != keys[1]);
    CHECK(keys[1] != keys[2]);
}

TEST_CASE("a session whose witness is missing or behind the store does not count attempts from the witness",
          "[engine][keys][witness]") {
    concord::checkpoint cp;
    cp.lineage = concord::new_lineage_id();
    cp.generation = 6;
    concord::witness_record old;
    old.lineage = cp.lineage;
    old.generation = 5;
    old.attempts = 9;  // an older copy: later sessions may have used 10, 11, ...

    constexpr std::uint64_t far = std::uint64_t{1} << 32;  // beyond any count of sessions
    const auto gone = concord::check_timeline(cp, std::nullopt);
    CHECK(gone.kind == concord::verdict::witness_behind);
    CHECK(gone.attempt >= far);
    CHECK(gone.attempt < concord::witness_attempts_limit / 2);  // room for the counter to move on
    const auto behind = concord::check_timeline(cp, old);
    CHECK(behind.kind == concord::verdict::witness_behind);
    CHECK(behind.attempt >= far);
    // Two such sessions draw apart (a second loss does not land on the first one's numbers).
    CHECK(concord::check_timeline(cp, std::nullopt).attempt != gone.attempt);

    // Where the witness is current, the counter goes on from it.
    old.generation = 6;
    CHECK(concord::check_timeline(cp, old).attempt == 10);
}
