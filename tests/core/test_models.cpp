// The in-memory reference models (memory_remote, memory_store), paging validation, owner tags and
// metadata limits: the semantics users rely on when they use the models as test doubles.
#include <catch2/catch.hpp>

#include "../support/error_capture.hpp"
#include "../support/lineages.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/clock.hpp>
#include <concord/concepts/remote_source.hpp>
#include <concord/concepts/store.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/paging.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>

namespace {
struct plan_row {
    BOOST_HANA_DEFINE_STRUCT(plan_row, (std::int64_t, id), (std::string, customer), (std::int64_t, cents));
};
using remote_t = concord::memory_remote<plan_row>;
using store_t = concord::memory_store<plan_row>;

constexpr std::int64_t day = 24 * 3600;

/// A remote on a manual clock, as a test would set it up.
struct clocked {
    concord::manual_clock clock;
    remote_t remote{[this] { return clock.now(); }};
};

using concord::test::code_of;

using concord::test::message_of;
} // namespace

TEST_CASE("memory models satisfy the concepts and offer every remote capability", "[models]") {
    STATIC_REQUIRE(concord::store<store_t>);
    STATIC_REQUIRE(concord::remote_source<remote_t>);
    STATIC_REQUIRE(concord::remote_can_create<remote_t>);
    STATIC_REQUIRE(concord::remote_can_update<remote_t>);
    STATIC_REQUIRE(concord::remote_can_cancel<remote_t>);
    STATIC_REQUIRE(concord::remote_can_lookup_key<remote_t>);
    STATIC_REQUIRE(concord::remote_has_metadata<remote_t>);
    STATIC_REQUIRE(concord::remote_can_list_since<remote_t>);
}

TEST_CASE("memory_remote: a retried key is answered from the cache, not applied twice", "[models][remote]") {
    clocked c;
    auto& r = c.remote;
    const auto first = r.create(plan_row{5, "acme", 100}, {}, "k1");
    const auto again = r.create(plan_row{5, "acme", 100}, {}, "k1");
    CHECK(again.remote_id == first.remote_id);
    CHECK(r.stats().creates == 1);
    CHECK(r.stats().replays == 1);
    CHECK(r.active_count() == 1);
    CHECK(first.value.id == 0);  // the local id is not the remote's business
    CHECK(r.find_by_key("k1")->remote_id == first.remote_id);
    CHECK_FALSE(r.find_by_key("never-used").has_value());
    // The local id is not part of the request: the entity re-created under a new database id after a
    // restore, sent again with the same key, is the same request.
    CHECK(r.create(plan_row{12, "acme", 100}, {}, "k1").remote_id == first.remote_id);
    CHECK(r.stats().creates == 1);
}

TEST_CASE("memory_remote: keys are kept 24 h on the injected clock, then pruned, a pruned key is a new request",
          "[models][remote]") {
    clocked c;
    auto& r = c.remote;
    const auto first = r.create(plan_row{0, "acme", 100}, {}, "k");
    c.clock.advance(std::chrono::seconds(day - 1));
    CHECK(r.retained_keys() == 1);
    CHECK(r.create(plan_row{0, "acme", 100}, {}, "k").remote_id == first.remote_id);  // still a replay
    CHECK(r.stats().creates == 1);
    c.clock.advance(std::chrono::seconds(1));  // exactly 24 h after the key was first used
    CHECK(r.retained_keys() == 0);
    CHECK_FALSE(r.find_by_key("k").has_value());
    const auto second = r.create(plan_row{0, "acme", 100}, {}, "k");
    CHECK(second.remote_id != first.remote_id);  // the provider forgot: a duplicate object
    CHECK(r.stats().creates == 2);
    CHECK(r.active_count() == 2);
    CHECK(r.find_by_key("k")->remote_id == second.remote_id);
}

TEST_CASE("memory_remote: the retention window is configurable", "[models][remote]") {
    concord::manual_clock clock;
    remote_t r([&] { return clock.now(); }, 3600);
    r.create(plan_row{0, "a", 1}, {}, "k");
    clock.advance(std::chrono::seconds(3599));
    CHECK(r.retained_keys() == 1);
    clock.advance(std::chrono::seconds(1));
    CHECK(r.retained_keys() == 0);
}

TEST_CASE("memory_remote: the same key with other parameters is an idempotency conflict", "[models][remote]") {
    clocked c;
    auto& r = c.remote;
    const auto made = r.create(plan_row{0, "acme", 100}, {}, "k");
    CHECK(code_of([&] { r.create(plan_row{0, "acme", 200}, {}, "k"); }) == concord::errc::idempotency_conflict);
    CHECK(code_of([&] { r.create(plan_row{0, "acme", 100}, {{"note", "x"}}, "k"); }) ==
          concord::errc::idempotency_conflict);
    CHECK(code_of([&] { r.cancel(made.remote_id, "k"); }) == concord::errc::idempotency_conflict);
    CHECK(r.stats().creates == 1);
    CHECK(r.stats().cancels == 0);
    CHECK(r.current(made.remote_id)->state == concord::remote_state::active);
    // distinct operations with distinct keys are fine
    CHECK(r.cancel(made.remote_id, "k-cancel").state == concord::remote_state::cancelled);
}

TEST_CASE("memory_remote: rate limits and transient faults are checked before idempotency", "[models][remote]") {
    clocked c;
    auto& r = c.remote;
    const auto made = r.create(plan_row{0, "acme", 100}, {}, "k");
    SECTION("a retry of an applied call can be refused for another reason") {
        r.inject(concord::fault::rate_limit);
        CHECK(code_of([&] { r.create(plan_row{0, "acme", 100}, {}, "k"); }) == concord::errc::remote_rate_limited);
        r.inject(concord::fault::transient);
        CHECK(code_of([&] { r.create(plan_row{0, "acme", 100}, {}, "k"); }) == concord::errc::remote_transient);
        CHECK(r.stats().replays == 0);
        CHECK(r.create(plan_row{0, "acme", 100}, {}, "k").remote_id == made.remote_id);
        CHECK(r.stats().replays == 1);
    }
    SECTION("even a conflicting key is answered with the rate limit first") {
        r.inject(concord::fault::rate_limit);
        CHECK(code_of([&] { r.create(plan_row{0, "other", 1}, {}, "k"); }) == concord::errc::remote_rate_limited);
        CHECK(code_of([&] { r.create(plan_row{0, "other", 1}, {}, "k"); }) == concord::errc::idempotency_conflict);
    }
    SECTION("faults apply to the next calls in order, then stop") {
        r.inject(concord::fault::transient, 2);
        CHECK(code_of([&] { r.create(plan_row{0, "b", 1}, {}, "k2"); }) == concord::errc::remote_transient);
        CHECK(code_of([&] { r.create(plan_row{0, "b", 1}, {}, "k2"); }) == concord::errc::remote_transient);
        CHECK(r.create(plan_row{0, "b", 1}, {}, "k2").value.customer == "b");
        CHECK(r.stats().creates == 2);
    }
    SECTION("remote errors say whether a retry may help") {
        r.inject(concord::fault::rate_limit);
        try {
            r.create(plan_row{0, "x", 1}, {}, "k3");
            FAIL("expected a remote_error");
        } catch (const concord::remote_error& e) {
            CHECK(e.retryable());
        }
        try {
            r.create(plan_row{0, "x", 2}, {}, "k");
            FAIL("expected a remote_error");
        } catch (const concord::remote_error& e) {
            CHECK(e.code() == concord::errc::idempotency_conflict);
            CHECK_FALSE(e.retryable());
        }
    }
}

TEST_CASE("memory_remote: timeout before vs after the call was applied", "[models][remote]") {
    clocked c;
    auto& r = c.remote;
    SECTION("timeout_before: nothing happened, the key is unknown, a retry creates once") {
        r.inject(concord::fault::timeout_before);
        CHECK(code_of([&] { r.create(plan_row{0, "acme", 100}, {}, "k"); }) == concord::errc::remote_timeout);
        CHECK(r.active_count() == 0);
        CHECK_FALSE(r.find_by_key("k").has_value());
        r.create(plan_row{0, "acme", 100}, {}, "k");
        CHECK(r.stats().creates == 1);
    }
    SECTION("timeout_after: the object exists, the key finds it, a retry replays") {
        r.inject(concord::fault::timeout_after);
        CHECK(code_of([&] { r.create(plan_row{0, "acme", 100}, {}, "k"); }) == concord::errc::remote_timeout);
        CHECK(r.active_count() == 1);
        const auto found = r.find_by_key("k");
        REQUIRE(found.has_value());
        CHECK(r.create(plan_row{0, "acme", 100}, {}, "k").remote_id == found->remote_id);
        CHECK(r.stats().creates == 1);
        CHECK(r.stats().replays == 1);
    }
    SECTION("timeout_after on a cancel: cancelled although the caller saw a timeout") {
        const auto made = r.create(plan_row{0, "acme", 100}, {}, "k");
        r.inject(concord::fault::timeout_after);
        CHECK(code_of([&] { r.cancel(made.remote_id, "c"); }) == concord::errc::remote_timeout);
        CHECK(r.current(made.remote_id)->state == concord::remote_state::cancelled);
        CHECK(r.stats().cancels == 1);
    }
}

TEST_CASE("memory_remote: update, cancel and the errors of missing or cancelled objects", "[models][remote]") {
    clocked c;
    auto& r = c.remote;
    const auto made = r.create(plan_row{0, "acme", 100}, {}, "k");
    CHECK(r.update(made.remote_id, plan_row{3, "acme", 150}, "u1").value.cents == 150);
    CHECK(r.current(made.remote_id)->value.id == 0);
    CHECK(r.stats().updates == 1);
    r.cancel(made.remote_id, "c1");
    CHECK(code_of([&] { r.update(made.remote_id, plan_row{0, "acme", 1}, "u2"); }) == concord::errc::remote_permanent);
    CHECK(code_of([&] { r.cancel("r999", "c2"); }) == concord::errc::remote_not_found);
    CHECK(code_of([&] { r.create(plan_row{0, "x", 1}, {}, ""); }) == concord::errc::remote_permanent);
    CHECK(r.active_count() == 0);
}

TEST_CASE("memory_remote: metadata limits of real providers, naming the key", "[models][remote][metadata]") {
    clocked c;
    auto& r = c.remote;
    CHECK(remote_t::limits().max_keys == 50);
    CHECK(remote_t::limits().max_key_length == 40);
    CHECK(remote_t::limits().max_value_length == 500);

    concord::metadata fifty;
    for (int i = 0; i < 50; ++i) fifty["k" + std::to_string(i)] = "v";
    fifty["k0"] = std::string(500, 'x');
    fifty["k1" + std::string(38, 'n')] = "v";  // a 40-character name
    fifty.erase("k49");
    REQUIRE(fifty.size() == 50);
    CHECK(r.create(plan_row{0, "a", 1}, fifty, "ok").meta == fifty);

    auto too_many = fifty;
    too_many["one-more"] = "v";
    CHECK(code_of([&] { r.create(plan_row{0, "b", 1}, too_many, "k1"); }) == concord::errc::metadata_limit);

    const std::string long_name(41, 'q');
    const auto name_msg = message_of([&] { r.create(plan_row{0, "b", 1}, {{long_name, "v"}}, "k2"); });
    CHECK_THAT(name_msg, Catch::Contains(long_name) && Catch::Contains("metadata_limit"));

    const auto value_msg = message_of([&] { r.create(plan_row{0, "b", 1}, {{"plan_note", std::string(501, 'v')}}, "k3"); });
    CHECK_THAT(value_msg, Catch::Contains("'plan_note'") && Catch::Contains("501"));
    CHECK(r.stats().creates == 1);

    // A refused request does not consume its key: fixed metadata under the same key goes through.
    CHECK(r.create(plan_row{0, "b", 1}, {{"plan_note", "short"}}, "k3").meta.at("plan_note") == "short");
}

TEST_CASE("check_metadata applies the given limits", "[models][metadata]") {
    const concord::metadata_limits tight{2, 4, 3};
    CHECK_NOTHROW(concord::check_metadata({{"abcd", "xyz"}, {"b", ""}}, tight));
    CHECK(code_of([&] { concord::check_metadata({{"a", "1"}, {"b", "2"}, {"c", "3"}}, tight); }) ==
          concord::errc::metadata_limit);
    CHECK_THAT(message_of([&] { concord::check_metadata({{"abcde", "1"}}, tight); }), Catch::Contains("'abcde'"));
    CHECK_THAT(message_of([&] { concord::check_metadata({{"ab", "1234"}}, tight); }), Catch::Contains("'ab'"));
    CHECK(code_of([&] { concord::check_metadata({{"", "1"}}, tight); }) == concord::errc::metadata_limit);
    CHECK_NOTHROW(concord::check_metadata({}, concord::metadata_limits{}));
}

TEST_CASE("memory_remote: pages by increasing seq with has_more", "[models][remote][paging]") {
    clocked c;
    auto& r = c.remote;
    for (int i = 0; i < 5; ++i) r.put_external(plan_row{0, "c" + std::to_string(i), i});
    auto seqs = [](const concord::page<plan_row>& p) {
        std::vector<std::uint64_t> out;
        for (const auto& x : p.items) out.push_back(x.seq);
        return out;
    };
    auto p1 = r.list(std::nullopt, 2);
    CHECK(seqs(p1) == std::vector<std::uint64_t>{1, 2});
    CHECK(p1.has_more);
    auto p2 = r.list(2, 2);
    CHECK(seqs(p2) == std::vector<std::uint64_t>{3, 4});
    CHECK(p2.has_more);
    auto p3 = r.list(4, 2);
    CHECK(seqs(p3) == std::vector<std::uint64_t>{5});
    CHECK_FALSE(p3.has_more);
    auto p4 = r.list(5, 2);
    CHECK(p4.items.empty());
    CHECK_FALSE(p4.has_more);
    CHECK(r.list(2, 10).items.front().value.customer == "c2");

    concord::listing_stats stats;
    const auto all = concord::list_all(r, 2, std::nullopt, &stats);
    CHECK(all.size() == 5);
    CHECK(stats.calls == 3);
    CHECK(stats.rows == 5);
    CHECK(concord::list_all(r, 2, 3).size() == 2);

    // creation-time bounded listing
    c.clock.advance(std::chrono::seconds(100));
    r.put_external(plan_row{0, "late", 9});
    const auto since = r.list_created_since(c.clock.now(), std::nullopt, 10);
    REQUIRE(since.items.size() == 1);
    CHECK(since.items[0].value.customer == "late");
}

namespace {
/// A remote that answers with scripted pages, whatever was asked: a misbehaving provider.
struct scripted_remote {
    using entity_type = plan_row;
    std::deque<concord::page<plan_row>> pages;
    concord::page<plan_row> list(std::optional<std::uint64_t>, std::size_t) {
        if (pages.empty()) return {};
        auto p = pages.front();
        pages.pop_front();
        return p;
    }
};
concord::remote_record<plan_row> rec(std::uint64_t seq, std::string id = {}) {
    concord::remote_record<plan_row> r;
    r.seq = seq;
    r.remote_id = id.empty() ? "r" + std::to_string(seq) : id;
    return r;
}
concord::page<plan_row> page_of(std::vector<concord::remote_record<plan_row>> items, bool more) {
    concord::page<plan_row> p;
    p.items = std::move(items);
    p.has_more = more;
    return p;
}
} // namespace

TEST_CASE("validate_page refuses pages that go backwards, repeat or are too large", "[paging]") {
    CHECK_NOTHROW(concord::validate_page(page_of({rec(3), rec(5)}, true), 2, 2));
    CHECK(code_of([] { concord::validate_page(page_of({rec(3), rec(2)}, false), std::nullopt, 5); }) ==
          concord::errc::bad_page);
    CHECK(code_of([] { concord::validate_page(page_of({rec(3), rec(3, "other")}, false), std::nullopt, 5); }) ==
          concord::errc::bad_page);
    CHECK(code_of([] { concord::validate_page(page_of({rec(4)}, false), 4, 5); }) == concord::errc::bad_page);
    CHECK_THAT(message_of([] { concord::validate_page(page_of({rec(1), rec(2), rec(3)}, false), std::nullopt, 2); }),
               Catch::Contains("3 items") && Catch::Contains("2 were asked"));
    auto empty_id = rec(1);
    empty_id.remote_id.clear();
    CHECK(code_of([&] { concord::validate_page(page_of({empty_id}, false), std::nullopt, 2); }) ==
          concord::errc::bad_page);
}

TEST_CASE("list_all stops with bad_page instead of classifying a partial picture", "[paging]") {
    scripted_remote r;
    SECTION("the next page goes backwards") {
        r.pages = {page_of({rec(1), rec(2)}, true), page_of({rec(2, "r2b")}, false)};
        CHECK(code_of([&] { concord::list_all(r, 2); }) == concord::errc::bad_page);
    }
    SECTION("a remote id listed twice under different seqs") {
        r.pages = {page_of({rec(1), rec(2)}, true), page_of({rec(3, "r1")}, false)};
        CHECK_THAT(message_of([&] { concord::list_all(r, 2); }), Catch::Contains("'r1' listed twice"));
    }
    SECTION("a page larger than asked") {
        r.pages = {page_of({rec(1), rec(2), rec(3)}, false)};
        CHECK(code_of([&] { concord::list_all(r, 2); }) == concord::errc::bad_page);
    }
    SECTION("a well-behaved script is read to the end") {
        r.pages = {page_of({rec(1), rec(2)}, true), page_of({rec(7)}, false)};
        CHECK(concord::list_all(r, 2).size() == 3);
    }
    SECTION("a zero page size is refused") {
        CHECK(code_of([&] { concord::list_all(r, 0); }) == concord::errc::invalid_argument);
    }
}

TEST_CASE("memory_store: ids like SQLite rowids, atomic commit", "[models][store]") {
    store_t s;
    CHECK(s.put(plan_row{0, "a", 1}) == 1);
    CHECK(s.put(plan_row{0, "b", 2}) == 2);
    CHECK(s.put(plan_row{0, "c", 3}) == 3);
    CHECK(s.erase(3));
    CHECK_FALSE(s.erase(3));
    CHECK(s.put(plan_row{0, "d", 4}) == 3);  // max + 1: the deleted id is handed out again
    CHECK(s.get(3)->customer == "d");
    CHECK_FALSE(s.get(9).has_value());

    concord::change_batch<plan_row> ok;
    ok.upserts = {plan_row{0, "new", 5}, plan_row{1, "a-edited", 1}};
    ok.removals = {2};
    ok.link_upserts = {concord::link{concord::key128{1, 2}, "r1", 1}};
    ok.new_checkpoint = concord::checkpoint{concord::test::lineage_id('a'), 1, {{"c", 7}}};
    s.commit(ok);
    CHECK(s.size() == 3);
    CHECK(s.get(1)->customer == "a-edited");
    CHECK_FALSE(s.get(2).has_value());
    CHECK(s.get(4)->customer == "new");
    CHECK(s.links().size() == 1);
    CHECK(s.load_checkpoint()->cursors.at("c") == 7);
    CHECK(s.commits() == 1);

    SECTION("a bad batch changes nothing") {
        concord::change_batch<plan_row> bad;
        bad.upserts = {plan_row{0, "ghost", 1}};
        bad.link_removals = {concord::key128{1, 2}};
        bad.new_checkpoint = concord::checkpoint{concord::test::lineage_id('a'), 2, {}};
        bad.removals = {42};  // unknown id
        CHECK(code_of([&] { s.commit(bad); }) == concord::errc::store_failure);
        CHECK(s.size() == 3);
        CHECK(s.links().size() == 1);
        CHECK(s.load_checkpoint()->generation == 1);
        CHECK(s.commits() == 1);
    }
    SECTION("an injected failure changes nothing, then commits work again") {
        concord::change_batch<plan_row> b;
        b.upserts = {plan_row{0, "x", 9}};
        b.new_checkpoint = concord::checkpoint{concord::test::lineage_id('a'), 2, {}};
        s.fail_next_commits(1);
        CHECK_THROWS_AS(s.commit(b), concord::store_error);
        CHECK(s.size() == 3);
        CHECK(s.load_checkpoint()->generation == 1);
        s.commit(b);
        CHECK(s.size() == 4);
        CHECK(s.load_checkpoint()->generation == 2);
    }
    SECTION("link removals and a batch without checkpoint keep the checkpoint") {
        concord::change_batch<plan_row> b;
        b.link_removals = {concord::key128{1, 2}};
        s.commit(b);
        CHECK(s.links().empty());
        CHECK(s.load_checkpoint()->generation == 1);
    }
}

TEST_CASE("memory_store: snapshot/restore rewinds rows, links and checkpoint, ids are reused", "[models][store]") {
    store_t s;
    s.put(plan_row{0, "a", 1});
    s.put(plan_row{0, "b", 2});
    concord::change_batch<plan_row> b1;
    b1.link_upserts = {concord::link{concord::key128{0, 1}, "r1", 1}};
    b1.new_checkpoint = concord::checkpoint{concord::test::lineage_id('b'), 1, {}};
    s.commit(b1);
    const auto backup = s.snapshot();

    const auto late = s.put(plan_row{0, "created-after-backup", 3});
    CHECK(late == 3);
    concord::change_batch<plan_row> b2;
    b2.link_upserts = {concord::link{concord::key128{0, 3}, "r3", 2}};
    b2.new_checkpoint = concord::checkpoint{concord::test::lineage_id('b'), 2, {}};
    s.commit(b2);

    s.restore(backup);
    CHECK(s.size() == 2);
    CHECK(s.links().size() == 1);
    CHECK(s.load_checkpoint()->generation == 1);
    CHECK_FALSE(s.get(3).has_value());
    // The user redoes the undone work: the new row gets id 3 again (another entity, same id).
    CHECK(s.put(plan_row{0, "someone-else", 4}) == 3);
    CHECK(s.get(3)->customer == "someone-else");
}

TEST_CASE("memory_store: a checkpoint whose lineage is not a lineage id is refused, nothing changed", "[models][store]") {
    store_t s;
    s.put(plan_row{0, "a", 1});
    s.put(plan_row{0, "b", 2});
    concord::change_batch<plan_row> first;
    first.link_upserts = {concord::link{concord::key128{1, 2}, "r1", 1}};
    first.new_checkpoint = concord::checkpoint{concord::test::lineage_id('a'), 1, {{"c", 7}}};
    s.commit(first);
    const auto before = s.snapshot();

    concord::change_batch<plan_row> b;
    b.upserts = {plan_row{0, "new", 5}, plan_row{1, "a-edited", 1}};
    b.removals = {2};
    b.link_upserts = {concord::link{concord::key128{3, 4}, "r2", 2}};
    b.link_removals = {concord::key128{1, 2}};
    for (const auto& lineage : concord::test::bad_lineages()) {
        INFO("lineage '" << lineage << "'");
        b.new_checkpoint = concord::checkpoint{lineage, 2, {{"c", 9}}};
        bool refused = false;
        try {
            s.commit(b);
        } catch (const concord::error& e) {
            refused = true;
            CHECK(e.code() == concord::errc::invalid_argument);
            CHECK(std::string(e.what()).find("\"" + lineage + "\"") != std::string::npos);
        }
        CHECK(refused);
        CHECK(s.commits() == 1);
        const auto now = s.snapshot();
        CHECK(now.rows.size() == before.rows.size());
        CHECK(s.get(1)->customer == "a");
        CHECK(s.get(2)->customer == "b");
        CHECK(now.links == before.links);
        CHECK(now.cp == before.cp);
    }
    SECTION("an injected failure is kept for the next batch, which then fails as asked") {
        s.fail_next_commits(1);
        CHECK(code_of([&] { s.commit(b); }) == concord::errc::invalid_argument);
        b.new_checkpoint = concord::checkpoint{concord::test::lineage_id('a'), 2, {{"c", 9}}};
        CHECK(code_of([&] { s.commit(b); }) == concord::errc::store_failure);
        s.commit(b);
        CHECK(s.load_checkpoint() == b.new_checkpoint);
        CHECK(s.size() == 2);
    }
    SECTION("a message names the value escaped and shortened") {
        const std::string lineage = "lin\r\n\x07" + std::string(200, 'y');
        b.new_checkpoint = concord::checkpoint{lineage, 2, {}};
        const auto what = message_of([&] { s.commit(b); });
        CHECK(what.find("\"lin\\r\\n\\u0007yyy") != std::string::npos);
        CHECK(what.find_first_of("\r\n\x07") == std::string::npos);
        CHECK(what.find(std::string(60, 'y')) == std::string::npos);
        CHECK(what.find("(" + std::to_string(lineage.size()) + " bytes)") != std::string::npos);
        CHECK(s.commits() == 1);
    }
}

TEST_CASE("memory_store: a restored snapshot whose lineage is not a lineage id reads as checkpoint_corrupt, kept",
          "[models][store]") {
    store_t s;
    s.put(plan_row{0, "a", 1});
    auto old = s.snapshot();
    old.cp = concord::checkpoint{"lin", 4, {{"c", 3}}};  // a backup from before stores refused such lineages
    s.restore(old);
    CHECK(code_of([&] { (void)s.load_checkpoint(); }) == concord::errc::checkpoint_corrupt);
    CHECK(message_of([&] { (void)s.load_checkpoint(); }).find("\"lin\"") != std::string::npos);
    concord::memory_witness w;
    CHECK(code_of([&] { (void)concord::begin_session(w, s); }) == concord::errc::checkpoint_corrupt);
    CHECK(w.saves() == 0);
    REQUIRE(s.snapshot().cp);
    CHECK(*s.snapshot().cp == *old.cp);  // kept as it was: nothing lost
    CHECK(s.size() == 1);
}

TEST_CASE("owner_tag: text form, parsing and validation", "[records][owner]") {
    const concord::owner_tag tag{"inst-1", "payments"};
    CHECK(tag.text() == "concord/v1:inst-1:payments");
    concord::owner_tag parsed;
    REQUIRE(concord::owner_tag::parse(tag.text(), parsed) == concord::owner_tag::parse_result::ok);
    CHECK(parsed == tag);

    using pr = concord::owner_tag::parse_result;
    auto parse = [](std::string_view t) {
        concord::owner_tag out{"untouched", "untouched"};
        const auto r = concord::owner_tag::parse(t, out);
        if (r != pr::ok) CHECK(out.installation == "untouched");
        return r;
    };
    CHECK(parse("someone-else:acme") == pr::not_concord);
    CHECK(parse("") == pr::not_concord);
    CHECK(parse("concord/v2:a:b") == pr::malformed);
    CHECK(parse("concord/v1:a") == pr::malformed);
    CHECK(parse("concord/v1::b") == pr::malformed);
    CHECK(parse("concord/v1:a:") == pr::malformed);
    CHECK(parse("concord/v1:a:b:c") == pr::malformed);
    CHECK(parse("concord/v1:a b:c") == pr::malformed);
    CHECK(parse("concord/v1:a:b\n") == pr::malformed);

    CHECK_NOTHROW(tag.validate());
    CHECK(code_of([] { concord::owner_tag{"", "x"}.validate(); }) == concord::errc::invalid_argument);
    CHECK(code_of([] { concord::owner_tag{"a:b", "x"}.validate(); }) == concord::errc::invalid_argument);
    CHECK(code_of([] { concord::owner_tag{"a", "with space"}.validate(); }) == concord::errc::invalid_argument);
    CHECK(code_of([] { concord::owner_tag{"a", "caf\xc3\xa9"}.validate(); }) == concord::errc::invalid_argument);
}
