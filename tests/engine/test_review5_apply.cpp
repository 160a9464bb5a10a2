// Regressions of the fifth review of the apply phase:
//  1. a look-up that settles a timeout and is itself refused retryably (a 429 on find_by_key or on
//     the listing) settles nothing: the call is retried under its key instead of being reported
//     failed (a create or cancel that took effect reported failed, and a cancelled orphan's link
//     left behind for good); detail::call_with_retries is shared with the payments gateway;
//  2. an update's timeout settled by listing takes only an active object: one edited to the new
//     content and cancelled by someone else is no sign the update was applied.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <concord/detail/retry.hpp>

#include "fixture.hpp"

using namespace engine_test;
namespace policy = concord::policy;

namespace {

/// A memory_remote whose look-ups can be refused with a 429: find_by_key (when `keyed`) or the
/// listing (when not, so timeouts are settled by listing). `refusals` look-ups are refused once armed.
template <bool Keyed>
struct refusing_remote {
    using entity_type = item;
    concord::memory_remote<item>* m;
    int refusals = 0;
    bool armed = false;
    static concord::metadata_limits limits() { return {}; }
    void refuse() {
        if (armed && refusals > 0) {
            --refusals;
            throw concord::remote_error(concord::errc::remote_rate_limited, "look-up rate limited (429)");
        }
    }
    concord::page<item> list(std::optional<std::uint64_t> after, std::size_t limit) {
        if constexpr (!Keyed) refuse();
        return m->list(after, limit);
    }
    concord::remote_record<item> create(const item& e, const concord::metadata& md, const std::string& key) {
        return m->create(e, md, key);
    }
    concord::remote_record<item> update(std::string_view id, const item& e, const std::string& key) {
        return m->update(id, e, key);
    }
    concord::remote_record<item> cancel(std::string_view id, const std::string& key) { return m->cancel(id, key); }
    std::optional<concord::remote_record<item>> find_by_key(const std::string& key)
        requires Keyed
    {
        refuse();
        return m->find_by_key(key);
    }
};

const concord::action_outcome* outcome_of(const concord::report& r, std::string_view kind) {
    for (const auto& a : r.actions)
        if (a.action == kind) return &a;
    return nullptr;
}

/// A create (of a new item A) or an orphan's cancel (A deleted locally), whose call times out
/// (`fault`) and whose look-up is refused once with a 429. Returns the apply's report.
template <bool Keyed>
concord::report timeout_then_refused_look_up(world& w, bool create, concord::fault fault) {
    concord::manual_clock clock;
    refusing_remote<Keyed> rr{&w.remote};
    w.db.put(make_item("A"));
    if (!create) {
        auto r = concord::make_reconciler<policy::trust_local>(w.db, rr, options(), sku_identity{});
        r.reconcile(w.witness);
        REQUIRE(w.db.links().size() == 1);
        w.db.erase(w.local("A")->id);
    }
    auto r = concord::make_reconciler<policy::trust_local>(w.db, rr, options(), sku_identity{});
    r.use_clock(clock);
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    rr.armed = true;
    rr.refusals = 1;
    w.remote.inject(fault);
    auto rep = r.apply(p, s);
    s.commit();
    CHECK(rr.refusals == 0);  // the look-up was asked, and refused
    CHECK(clock.slept_ms() > 0);  // the retry backed off
    return rep;
}

template <bool Keyed>
void check_refused_look_up_is_retried() {
    world w;
    const bool create = GENERATE(true, false);
    const auto fault = GENERATE(concord::fault::timeout_after, concord::fault::timeout_before);
    INFO((create ? "create" : "cancel") << ", " << (fault == concord::fault::timeout_after ? "applied" : "not applied")
                                        << ", look-up by " << (Keyed ? "key" : "listing"));
    const auto rep = timeout_then_refused_look_up<Keyed>(w, create, fault);
    const auto* a = outcome_of(rep, create ? "create_remote" : "cancel_remote");
    REQUIRE(a);
    CHECK(a->outcome == "done");
    CHECK(a->error.empty());
    CHECK(a->attempts == 2);
    CHECK(rep.failed() == 0);
    CHECK(rep.problems.empty());
    CHECK(w.remote.stats().creates == 1);  // made once, whatever happened to the answer
    if (create) {
        REQUIRE(w.active("A").size() == 1);
        REQUIRE(w.db.links().size() == 1);  // linked in this apply
        CHECK(w.db.links()[0].remote_id == w.active("A")[0].remote_id);
    } else {
        CHECK(w.active("A").empty());
        CHECK(w.remote.stats().cancels == 1);
        CHECK(w.db.links().empty());  // unlinked with its cancel, not left behind for good
        const auto* u = outcome_of(rep, "unlink");
        REQUIRE(u);
        CHECK(u->outcome == "done");
    }
}

} // namespace

TEST_CASE("review5 apply: a look-up by key refused with a 429 after a timeout is retried under the key",
          "[review5][apply][timeout]") {
    check_refused_look_up_is_retried<true>();
}

TEST_CASE("review5 apply: a listing look-up refused with a 429 after a timeout is retried under the key",
          "[review5][apply][timeout]") {
    check_refused_look_up_is_retried<false>();
}

TEST_CASE("review5 apply: call_with_retries retries a timeout whose settling look-up fails retryably",
          "[review5][apply][retry]") {
    concord::retry_policy rp;
    std::chrono::milliseconds slept{0};
    auto sleep = [&](std::chrono::milliseconds d) { slept += d; };
    int attempts = 0, calls = 0, look_ups = 0;

    SECTION("a retryable look-up failure: the call is retried, its answer returned") {
        const auto look_up_error = GENERATE(concord::errc::remote_rate_limited, concord::errc::remote_transient,
                                            concord::errc::remote_timeout);
        const int got = concord::detail::call_with_retries(
            rp, sleep,
            [&] {
                if (++calls == 1) throw concord::remote_error(concord::errc::remote_timeout, "lost answer");
                return 7;
            },
            [&]() -> std::optional<int> {
                ++look_ups;
                throw concord::remote_error(look_up_error, "look-up refused");
            },
            attempts);
        CHECK(got == 7);
        CHECK(calls == 2);
        CHECK(attempts == 2);
        CHECK(look_ups == 1);
        CHECK(slept == rp.delay(0));
    }

    SECTION("every look-up refused: bounded, then retries_exhausted") {
        concord::errc code{};
        try {
            concord::detail::call_with_retries(
                rp, sleep,
                [&]() -> int {
                    ++calls;
                    throw concord::remote_error(concord::errc::remote_timeout, "lost answer");
                },
                [&]() -> std::optional<int> {
                    ++look_ups;
                    throw concord::remote_error(concord::errc::remote_rate_limited, "look-up refused");
                },
                attempts);
        } catch (const concord::error& e) {
            code = e.code();
        }
        CHECK(code == concord::errc::retries_exhausted);
        CHECK(calls == rp.max_attempts);
        CHECK(look_ups == rp.max_attempts);
    }

    SECTION("a look-up refused for good is thrown as is") {
        concord::errc code{};
        try {
            concord::detail::call_with_retries(
                rp, sleep,
                [&]() -> int {
                    ++calls;
                    throw concord::remote_error(concord::errc::remote_timeout, "lost answer");
                },
                [&]() -> std::optional<int> {
                    ++look_ups;
                    throw concord::remote_error(concord::errc::remote_permanent, "look-up refused for good");
                },
                attempts);
        } catch (const concord::error& e) {
            code = e.code();
        }
        CHECK(code == concord::errc::remote_permanent);
        CHECK(calls == 1);
        CHECK(look_ups == 1);
    }
}

TEST_CASE("review5 apply: an update settled by listing takes only an active object", "[review5][apply][timeout]") {
    // Between the plan and the apply, someone edits A's object to the very content the update sends,
    // then cancels it; the update times out before it arrives. The listing shows the content, but an
    // update never takes effect on a cancelled object: not settled, retried, and refused.
    world w;
    concord::manual_clock clock;
    refusing_remote<false> rr{&w.remote};
    w.db.put(make_item("A", "old"));
    concord::make_reconciler<policy::trust_local>(w.db, rr, options(), sku_identity{}).reconcile(w.witness);
    auto a = *w.local("A");
    a.name = "new";
    w.db.put(a);
    auto r = concord::make_reconciler<policy::trust_local>(w.db, rr, options(), sku_identity{});
    r.use_clock(clock);
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    REQUIRE(w.remote.all().size() == 1);
    const auto object = w.remote.all()[0];
    auto edited = object.value;
    edited.name = "new";
    w.remote.edit_external(object.remote_id, edited);
    w.remote.cancel_external(object.remote_id);
    w.remote.inject(concord::fault::timeout_before);
    auto rep = r.apply(p, s);
    s.commit();
    const auto* u = outcome_of(rep, "update_remote");
    REQUIRE(u);
    CHECK(u->outcome == "failed");
    CHECK(u->error == "remote_permanent");
    CHECK(u->attempts == 2);
    CHECK(w.remote.stats().updates == 0);
    CHECK(rep.failed() == 1);
}
