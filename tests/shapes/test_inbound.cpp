// Cursor paging that refuses bad pages, and the inbound shape: labels a remote service makes from
// the host's orders, pulled incrementally, re-classified after a restore.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

#include <concord/cursor.hpp>
#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

using namespace shapes_test;

namespace {

/// A remote whose pages are scripted by the test, to exercise the paging checks with remotes that
/// misbehave in ways real ones have.
struct scripted_remote {
    using entity_type = label;
    std::deque<concord::page<label>> pages;
    bool reject = false;
    std::vector<std::optional<std::uint64_t>> asked;
    concord::page<label> list(std::optional<std::uint64_t> after, std::size_t) {
        asked.push_back(after);
        if (reject) throw concord::error(concord::errc::cursor_rejected, "cursor expired at the provider");
        if (pages.empty()) return {};
        auto p = pages.front();
        pages.pop_front();
        return p;
    }
};

concord::remote_record<label> rec(std::uint64_t seq, std::string id) {
    concord::remote_record<label> r;
    r.seq = seq;
    r.remote_id = std::move(id);
    r.value = {0, "A-1", "post", "T" + std::to_string(seq)};
    return r;
}

concord::page<label> page_of(std::vector<concord::remote_record<label>> items, bool more) {
    concord::page<label> p;
    p.items = std::move(items);
    p.has_more = more;
    return p;
}

concord::errc code_of(const std::function<void()>& f, std::string* msg = nullptr) {
    try {
        f();
    } catch (const concord::error& e) {
        if (msg) *msg = e.what();
        return e.code();
    }
    return concord::errc::invalid_argument;  // "nothing thrown" never matches the codes tested
}

} // namespace

TEST_CASE("pull_since returns only records after the cursor and counts calls and rows", "[cursor]") {
    concord::memory_remote<label> svc;
    for (int i = 1; i <= 25; ++i) svc.put_external({0, "A-" + std::to_string(i), "post", "T" + std::to_string(i)});
    concord::listing_stats all, inc;
    auto full = concord::pull_since(svc, std::nullopt, 10, &all);
    CHECK(full.size() == 25);
    CHECK(all.calls == 3);
    CHECK(all.rows == 25);
    auto tail = concord::pull_since(svc, full[19].seq, 10, &inc);
    REQUIRE(tail.size() == 5);
    CHECK(tail.front().seq == full[20].seq);
    CHECK(inc.calls == 1);
    CHECK(inc.rows == 5);
}

TEST_CASE("pull_since refuses bad pages with bad_page and names the recovery", "[cursor]") {
    std::string msg;
    SECTION("ids going backwards") {
        scripted_remote r;
        r.pages = {page_of({rec(5, "a"), rec(6, "b")}, true), page_of({rec(4, "c")}, false)};
        CHECK(code_of([&] { concord::pull_since(r, 2, 2); }, &msg) == concord::errc::bad_page);
        CHECK(msg.find("backwards") != std::string::npos);
        CHECK(msg.find("full re-scan") != std::string::npos);
    }
    SECTION("a record at or below the cursor") {
        scripted_remote r;
        r.pages = {page_of({rec(3, "a")}, false)};
        CHECK(code_of([&] { concord::pull_since(r, 7, 5); }, &msg) == concord::errc::bad_page);
        CHECK(msg.find("after cursor 7") != std::string::npos);
    }
    SECTION("a repeated seq") {
        scripted_remote r;
        r.pages = {page_of({rec(5, "a"), rec(5, "b")}, false)};
        CHECK(code_of([&] { concord::pull_since(r, std::nullopt, 5); }, &msg) == concord::errc::bad_page);
        CHECK(msg.find("repeated") != std::string::npos);
    }
    SECTION("a remote id listed twice across pages") {
        scripted_remote r;
        r.pages = {page_of({rec(5, "a")}, true), page_of({rec(6, "a")}, false)};
        CHECK(code_of([&] { concord::pull_since(r, std::nullopt, 1); }, &msg) == concord::errc::bad_page);
        CHECK(msg.find("listed twice") != std::string::npos);
    }
    SECTION("a page larger than asked") {
        scripted_remote r;
        r.pages = {page_of({rec(1, "a"), rec(2, "b"), rec(3, "c")}, false)};
        CHECK(code_of([&] { concord::pull_since(r, std::nullopt, 2); }, &msg) == concord::errc::bad_page);
        CHECK(msg.find("3 records, 2 were asked") != std::string::npos);
    }
    SECTION("more records announced but none sent") {
        scripted_remote r;
        r.pages = {page_of({}, true)};
        CHECK(code_of([&] { concord::pull_since(r, 4, 2); }) == concord::errc::bad_page);
    }
    SECTION("a cursor the remote no longer accepts") {
        scripted_remote r;
        r.reject = true;
        CHECK(code_of([&] { concord::pull_since(r, 42, 2); }, &msg) == concord::errc::cursor_rejected);
        CHECK(msg.find("cursor 42") != std::string::npos);
        CHECK(msg.find("full re-scan") != std::string::npos);
    }
    SECTION("a well-behaved scripted remote passes") {
        scripted_remote r;
        r.pages = {page_of({rec(5, "a"), rec(6, "b")}, true), page_of({rec(9, "c")}, false)};
        auto got = concord::pull_since(r, 4, 2);
        CHECK(got.size() == 3);
        REQUIRE(r.asked.size() == 2);
        CHECK(r.asked[1] == std::optional<std::uint64_t>(6));
    }
}

TEST_CASE("list_created_since_all lists only what was created since the bound", "[cursor]") {
    std::int64_t now = 1000;
    concord::memory_remote<label> svc([&] { return now; });
    for (int i = 0; i < 30; ++i) {
        now += 10;
        svc.put_external({0, "A", "post", "T" + std::to_string(i)});
    }
    concord::listing_stats st;
    auto got = concord::list_created_since_all(svc, 1250, 4, &st);
    CHECK(got.size() == 6);  // created at 1250, 1260, ..., 1300
    for (const auto& r : got) CHECK(r.created_at >= 1250);
    CHECK(st.rows == 6);
    CHECK(st.calls == 2);
}

// ------------------------------------------------------------------------------------------ inbound

namespace {

template <class Policy>
struct inbound_world {
    host_db db;
    concord::memory_remote<label> service;  // the label service: creates labels from orders
    concord::memory_witness witness;
    std::int64_t clock = 1'700'000'000;
    using rec_t = concord::reconciler<label, typename host_db::label_store, concord::memory_remote<label>,
                                      concord::identity::natural_key<&label::tracking>, Policy>;
    rec_t rec;
    concord::inbound::puller<rec_t> pull;

    inbound_world()
        : rec(db.labels(), service, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 2, .inbound = true}),
          pull(rec, {.now = [this] { return clock; }}) {
        rec.set_reference_check([this](const label& l) { return db.has_order(l.order_number); });
    }
    /// The service makes a label for an order it read from the host.
    std::string make_label(const std::string& order_number) {
        auto r = service.put_external({0, order_number, "post", "TRK-" + order_number});
        return r.remote_id;
    }
};

} // namespace

TEST_CASE("inbound: incremental pulls import new labels and read only what is new", "[inbound]") {
    inbound_world<concord::policy::trust_local> w;
    for (auto n : {"A-1", "A-2", "A-3"}) {
        w.db.add_order(n);
        w.make_label(n);
    }
    auto r1 = w.pull.pull(w.witness);
    CHECK(r1.rep.counts[static_cast<std::size_t>(concord::case_kind::orphan)] == 3);  // new inbound entities
    CHECK(w.db.labels().size() == 3);
    CHECK(r1.cursor_after == std::optional<std::uint64_t>(3));
    CHECK(r1.listing.rows == 3);

    auto r2 = w.pull.pull(w.witness);  // nothing new: one call, no rows, nothing done
    CHECK(r2.listing.calls == 1);
    CHECK(r2.listing.rows == 0);
    CHECK(r2.rep.actions.empty());
    CHECK(w.db.labels().size() == 3);

    w.db.add_order("A-4");
    w.make_label("A-4");
    auto r3 = w.pull.pull(w.witness);
    CHECK(r3.listing.rows == 1);  // only the new label crossed the wire
    CHECK(w.db.labels().size() == 4);
    CHECK(r3.cursor_after == std::optional<std::uint64_t>(4));
}

TEST_CASE("inbound: after a restore the rewound cursor re-pulls, and labels of vanished orders are stale_inbound",
          "[inbound][restore]") {
    SECTION("trust_local discards them") {
        inbound_world<concord::policy::trust_local> w;
        w.db.add_order("A-1");
        w.make_label("A-1");
        w.pull.pull(w.witness);
        auto backup = w.db.backup();  // cursor 1 in the backup

        w.db.add_order("A-2");
        const auto rid = w.make_label("A-2");
        w.pull.pull(w.witness);
        REQUIRE(w.db.labels().size() == 2);
        REQUIRE(w.pull.cursor() == std::optional<std::uint64_t>(2));

        w.db.restore(backup);  // order A-2 and its imported label are gone, the cursor is back at 1
        REQUIRE(w.pull.cursor() == std::optional<std::uint64_t>(1));
        auto r = w.pull.pull(w.witness);
        CHECK(r.rep.timeline == concord::verdict::restored);
        CHECK(r.listing.rows == 1);  // re-pulled from the rewound cursor
        CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] == 1);
        CHECK(w.db.labels().size() == 1);
        CHECK(w.service.current(rid)->state == concord::remote_state::cancelled);  // discarded
        CHECK(r.cursor_after == std::optional<std::uint64_t>(2));
        auto again = w.pull.pull(w.witness);
        CHECK(again.rep.actions.empty());
    }
    SECTION("trust_remote keeps them") {
        inbound_world<concord::policy::trust_remote> w;
        w.db.add_order("A-1");
        w.make_label("A-1");
        w.pull.pull(w.witness);
        auto backup = w.db.backup();
        w.db.add_order("A-2");
        const auto rid = w.make_label("A-2");
        w.pull.pull(w.witness);
        w.db.restore(backup);
        auto r = w.pull.pull(w.witness);
        CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] == 1);
        CHECK(w.db.labels().size() == 2);
        CHECK(w.service.current(rid)->state == concord::remote_state::active);
    }
    SECTION("labels whose order still exists after the restore are imported again") {
        inbound_world<concord::policy::trust_local> w;
        w.db.add_order("A-1");
        w.db.add_order("A-2");
        w.make_label("A-1");
        w.pull.pull(w.witness);
        auto backup = w.db.backup();
        w.make_label("A-2");  // made from an order that exists in the backup too
        w.pull.pull(w.witness);
        w.db.restore(backup);
        auto r = w.pull.pull(w.witness);
        CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] == 0);
        CHECK(w.db.labels().size() == 2);
    }
}

TEST_CASE("inbound: ask_user holds the cursor until the decision is answered", "[inbound][restore]") {
    using ask_stale = concord::policy::per_case<concord::policy::trust_local,
                                                concord::policy::case_<concord::stale_inbound, concord::policy::ask_user>>;
    inbound_world<ask_stale> w;
    w.db.add_order("A-1");
    w.make_label("A-1");
    w.pull.pull(w.witness);
    auto backup = w.db.backup();
    w.db.add_order("A-2");
    const auto stale = w.make_label("A-2");
    w.pull.pull(w.witness);
    w.db.restore(backup);

    w.db.add_order("A-3");  // the host keeps working; the service makes another label
    w.make_label("A-3");
    auto r = w.pull.pull(w.witness);
    REQUIRE(r.rep.decisions.size() == 1);
    CHECK(r.held == 1);
    CHECK(r.cursor_after == std::optional<std::uint64_t>(1));  // not past the undecided label (seq 2)
    CHECK(w.db.labels().size() == 2);                           // A-2 waits
    CHECK(w.service.current(stale)->state == concord::remote_state::active);

    auto s = concord::begin_session(w.witness, w.db.labels());
    auto p = w.pull.plan(s);  // the held label is seen again, with the same decision id
    REQUIRE(p.decisions.size() == 1);
    CHECK(p.decisions[0].id == r.rep.decisions[0].id);
    w.rec.answer(p, p.decisions[0].id, concord::resolution::discard);
    auto p2 = w.pull.plan(s);
    CHECK(p2.decisions.empty());
    w.pull.apply(p2, s);
    s.commit();
    CHECK(w.service.current(stale)->state == concord::remote_state::cancelled);
    CHECK(w.pull.cursor() == std::optional<std::uint64_t>(3));
    CHECK(w.db.labels().size() == 2);
}

TEST_CASE("inbound: a bad page or a rejected cursor stops the pull, a full re-scan recovers", "[inbound][cursor]") {
    inbound_world<concord::policy::trust_local> w;
    w.db.add_order("A-1");
    w.make_label("A-1");
    w.pull.pull(w.witness);
    w.db.add_order("A-2");
    w.make_label("A-2");
    w.make_label("A-2");  // the service made a second label for the same order: same content, new id

    SECTION("the remote repeats a label under a new id: duplicate, not an import twice") {
        auto r = w.pull.pull(w.witness);
        CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::duplicate)] == 1);
    }
    SECTION("a misbehaving listing is refused before anything is classified") {
        w.service.set_fault_chooser(nullptr);
        // Wrap the service so its second page goes backwards.
        struct backwards {
            using entity_type = label;
            concord::memory_remote<label>* inner;
            int calls = 0;
            concord::page<label> list(std::optional<std::uint64_t> after, std::size_t n) {
                auto p = inner->list(after, n);
                if (++calls == 2 && !p.items.empty()) p.items.front().seq = 1;
                return p;
            }
            concord::remote_record<label> cancel(std::string_view id, const std::string& key) {
                return inner->cancel(id, key);
            }
        } bad{&w.service};
        concord::reconciler<label, host_db::label_store, backwards, concord::identity::natural_key<&label::tracking>,
                            concord::policy::trust_local>
            rec2(w.db.labels(), bad, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 1, .inbound = true});
        concord::inbound::puller p2(rec2);
        const auto before = w.db.labels().size();
        const auto cursor_before = p2.cursor();
        CHECK(code_of([&] { p2.pull(w.witness); }) == concord::errc::bad_page);
        CHECK(w.db.labels().size() == before);
        CHECK(p2.cursor() == cursor_before);
    }
    SECTION("a rejected cursor: full_rescan lists everything and resets the cursor") {
        struct expiring {
            using entity_type = label;
            concord::memory_remote<label>* inner;
            concord::page<label> list(std::optional<std::uint64_t> after, std::size_t n) {
                if (after && *after == 1)  // the cursor the puller stored: expired at the provider
                    throw concord::error(concord::errc::cursor_rejected, "cursor older than 30 days");
                return inner->list(after, n);
            }
            concord::remote_record<label> cancel(std::string_view id, const std::string& key) {
                return inner->cancel(id, key);
            }
        } exp{&w.service};
        concord::reconciler<label, host_db::label_store, expiring, concord::identity::natural_key<&label::tracking>,
                            concord::policy::trust_local>
            rec2(w.db.labels(), exp, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 2, .inbound = true});
        rec2.set_reference_check([&](const label& l) { return w.db.has_order(l.order_number); });
        concord::inbound::puller p2(rec2);
        std::string msg;
        CHECK(code_of([&] { p2.pull(w.witness); }, &msg) == concord::errc::cursor_rejected);
        CHECK(msg.find("full re-scan") != std::string::npos);
        auto r = p2.full_rescan(w.witness);
        CHECK(r.full);
        CHECK(r.listing.rows == 3);
        CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::in_sync)] == 1);
        CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::duplicate)] == 1);
        CHECK(p2.cursor() == std::optional<std::uint64_t>(3));
    }
}

TEST_CASE("inbound: a full re-scan finds labels whose order the host deleted", "[inbound]") {
    inbound_world<concord::policy::trust_local> w;
    w.db.add_order("A-1");
    w.db.add_order("A-2");
    w.make_label("A-1");
    w.make_label("A-2");
    w.pull.pull(w.witness);
    REQUIRE(w.db.labels().size() == 2);
    w.db.remove_order("A-2");  // a host delete: no new remote record, so no incremental pull sees it
    auto inc = w.pull.pull(w.witness);
    CHECK(inc.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] == 0);
    auto full = w.pull.full_rescan(w.witness);
    CHECK(full.rep.counts[static_cast<std::size_t>(concord::case_kind::stale_inbound)] == 1);
    CHECK(w.db.labels().size() == 1);
}

TEST_CASE("inbound: the puller refuses a reconciler that is not in inbound mode", "[inbound]") {
    host_db db;
    concord::memory_remote<label> svc;
    concord::reconciler<label, host_db::label_store, concord::memory_remote<label>,
                        concord::identity::natural_key<&label::tracking>, concord::policy::trust_local>
        rec(db.labels(), svc, {.owner = {"host-1", "labels"}});
    using P = concord::inbound::puller<decltype(rec)>;
    CHECK(code_of([&] { P p(rec); }) == concord::errc::invalid_argument);
}

TEST_CASE("inbound: a label delivered twice under trust_local imports the oldest copy and cancels the other",
          "[inbound][duplicate]") {
    inbound_world<concord::policy::trust_local> w;
    w.db.add_order("A-1");
    const auto first = w.make_label("A-1");
    const auto second = w.make_label("A-1");  // the service delivered the same label twice
    auto r = w.pull.pull(w.witness);
    CHECK(r.rep.counts[static_cast<std::size_t>(concord::case_kind::duplicate)] == 1);
    REQUIRE(w.db.labels().size() == 1);  // the survivor is a new inbound entity: imported, not cancelled
    CHECK(w.service.current(first)->state == concord::remote_state::active);
    CHECK(w.service.current(second)->state == concord::remote_state::cancelled);
    auto again = w.pull.pull(w.witness);
    CHECK(again.rep.actions.empty());
}

namespace {
/// A remote whose listing seqs start at 0, which the remote_source concept allows: memory_remote's
/// seqs minus one.
struct zero_based_remote {
    using entity_type = label;
    concord::memory_remote<label>* r;
    concord::page<label> list(std::optional<std::uint64_t> after, std::size_t limit) {
        auto p = r->list(after ? std::optional<std::uint64_t>(*after + 1) : std::nullopt, limit);
        for (auto& x : p.items) x.seq -= 1;
        return p;
    }
};
} // namespace

TEST_CASE("inbound: a record at remote seq 0 that waits for a decision is listed again", "[inbound][cursor]") {
    using ask_stale = concord::policy::per_case<concord::policy::trust_local,
                                                concord::policy::case_<concord::stale_inbound, concord::policy::ask_user>>;
    host_db db;
    concord::memory_remote<label> service;
    concord::memory_witness witness;
    zero_based_remote zr{&service};
    service.put_external({0, "GONE", "post", "TRK-0"});  // seq 0: its order does not exist, so it is asked about
    db.add_order("A-1");
    service.put_external({0, "A-1", "post", "TRK-1"});  // seq 1: imported
    concord::reconciler<label, host_db::label_store, zero_based_remote, concord::identity::natural_key<&label::tracking>,
                        ask_stale>
        rec(db.labels(), zr, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 2, .inbound = true});
    rec.set_reference_check([&](const label& l) { return db.has_order(l.order_number); });
    concord::inbound::puller<decltype(rec)> pull(rec);

    auto r1 = pull.pull(witness);
    REQUIRE(r1.rep.decisions.size() == 1);
    CHECK(r1.held == 1);
    CHECK_FALSE(r1.cursor_after.has_value());  // nothing lies below seq 0: no cursor, the next pull starts over
    CHECK(db.labels().size() == 1);

    auto r2 = pull.pull(witness);
    CHECK(r2.listing.rows == 2);
    REQUIRE(r2.rep.decisions.size() == 1);  // the question is still put
    CHECK(r2.rep.decisions[0].id == r1.rep.decisions[0].id);
}

TEST_CASE("inbound: apply() reports the held count of the plan it applies, not of the latest plan()",
          "[inbound][cursor]") {
    using ask_stale = concord::policy::per_case<concord::policy::trust_local,
                                                concord::policy::case_<concord::stale_inbound, concord::policy::ask_user>>;
    inbound_world<ask_stale> w;
    w.db.add_order("A-1");
    w.make_label("A-1");  // seq 1: imported
    {
        // The plan applied holds nothing; a later plan() holds a record.
        auto s = concord::begin_session(w.witness, w.db.labels());
        auto first = w.pull.plan(s);
        w.make_label("GONE");  // seq 2: its order does not exist, so it is asked about
        auto second = w.pull.plan(s);
        REQUIRE(first.decisions.empty());
        REQUIRE(second.decisions.size() == 1);
        std::size_t held = 99;
        w.pull.apply(std::move(first), s, &held);
        s.commit();
        CHECK(held == 0);
        CHECK(w.pull.cursor() == std::optional<std::uint64_t>(1));
    }
    {
        // The plan applied holds a record; a later plan() holds nothing (the order came back meanwhile).
        auto s = concord::begin_session(w.witness, w.db.labels());
        auto first = w.pull.plan(s);
        w.db.add_order("GONE");
        auto second = w.pull.plan(s);
        REQUIRE(first.decisions.size() == 1);
        REQUIRE(second.decisions.empty());
        std::size_t held = 99;
        w.pull.apply(std::move(first), s, &held);
        s.commit();
        CHECK(held == 1);
        CHECK(w.pull.cursor() == std::optional<std::uint64_t>(1));  // kept below the record asked about
    }
}

TEST_CASE("list_all refuses a page that announces more records but holds none", "[cursor]") {
    // Taken as the end of the listing, it would hide every record after it: plan() would then see
    // live entities as gone (trust_remote would remove them locally).
    scripted_remote r;
    r.pages = {page_of({rec(5, "a")}, true), page_of({}, true), page_of({rec(9, "c")}, false)};
    std::string msg;
    CHECK(code_of([&] { concord::list_all(r, 1); }, &msg) == concord::errc::bad_page);
    CHECK_THAT(msg, Catch::Contains("more records follow but sent none") && Catch::Contains("after seq 5"));
}

// ------------------------------------------------------------------ what a partial listing cannot show
// An incremental pull lists what changed since the cursor, not every record of an identity: it cannot
// show that the object a label is linked to is gone. The audit's probes found three ways the plan
// acted on that absence anyway (removing or creating a label, adopting a second delivery).

namespace {

/// Problems of the report named `code` (concord::to_string of an errc).
std::size_t count_code(const concord::report& r, std::string_view code) {
    std::size_t n = 0;
    for (const auto& p : r.problems) n += p.rfind(std::string(code) + ":", 0) == 0;
    return n;
}

std::size_t kind_count(const concord::report& r, concord::case_kind k) { return r.counts[static_cast<std::size_t>(k)]; }

} // namespace

TEMPLATE_TEST_CASE("inbound: another integrator's record with an imported label's identity neither removes nor "
                   "creates the label",
                   "[inbound][partial]", concord::policy::trust_remote, concord::policy::trust_local) {
    inbound_world<TestType> w;
    w.db.add_order("A-1");
    const auto own = w.make_label("A-1");
    w.pull.pull(w.witness);
    REQUIRE(w.db.labels().size() == 1);
    concord::metadata m;
    m[std::string(concord::meta_keys::owner)] = concord::owner_tag{"other-host", "other"}.text();
    const auto other = w.service.put_external({0, "A-1", "post", "TRK-A-1"}, m).remote_id;

    auto r = w.pull.pull(w.witness);
    CHECK(r.rep.actions.empty());
    CHECK(kind_count(r.rep, concord::case_kind::local_only) == 0);
    CHECK(count_code(r.rep, to_string(concord::errc::partial_listing)) == 1);
    CHECK(r.held == 1);  // listed again until a full scan settles it
    CHECK(w.db.labels().size() == 1);
    CHECK(w.service.active_count() == 2);
    auto again = w.pull.pull(w.witness);
    CHECK(again.listing.rows == 1);
    CHECK(count_code(again.rep, to_string(concord::errc::partial_listing)) == 1);

    auto full = w.pull.full_rescan(w.witness);  // sees both records: the label in sync, the other foreign
    CHECK(full.rep.actions.empty());
    CHECK(kind_count(full.rep, concord::case_kind::in_sync) == 1);
    CHECK(kind_count(full.rep, concord::case_kind::foreign) == 1);
    CHECK(w.service.current(own)->state == concord::remote_state::active);
    CHECK(w.service.current(other)->state == concord::remote_state::active);
    auto after = w.pull.pull(w.witness);
    CHECK(after.listing.rows == 0);
    CHECK(after.rep.problems.empty());
}

TEST_CASE("inbound: a record whose stamp names an imported label but whose content is another label does not "
          "remove the named one",
          "[inbound][partial]") {
    inbound_world<concord::policy::trust_remote> w;
    w.db.add_order("A-1");
    w.db.add_order("A-9");
    w.make_label("A-1");
    w.pull.pull(w.witness);
    concord::metadata m;  // no owner tag: ours in inbound mode; the stamp names TRK-A-1's identity
    m[std::string(concord::meta_keys::identity)] =
        concord::identity::natural_key<&label::tracking>{}.key(label{0, "A-1", "post", "TRK-A-1"}).hex();
    w.service.put_external({0, "A-9", "post", "TRK-A-9"}, m);

    auto r = w.pull.pull(w.witness);
    CHECK(r.rep.actions.empty());
    CHECK(count_code(r.rep, to_string(concord::errc::partial_listing)) == 1);
    REQUIRE(w.db.labels().size() == 1);
    CHECK(w.db.labels().scan()[0].tracking == "TRK-A-1");

    auto full = w.pull.full_rescan(w.witness);  // joins the record by its content: a new label
    std::vector<std::string> tracking;
    for (const auto& l : w.db.labels().scan()) tracking.push_back(l.tracking);
    std::sort(tracking.begin(), tracking.end());
    CHECK(tracking == std::vector<std::string>{"TRK-A-1", "TRK-A-9"});
}

TEST_CASE("inbound: a second delivery seen by a later pull is not adopted in place of the first", "[inbound][partial]") {
    inbound_world<concord::policy::trust_local> w;
    w.db.add_order("A-1");
    const auto first = w.make_label("A-1");
    w.pull.pull(w.witness);
    const auto second = w.make_label("A-1");  // delivered again, after the first was imported

    auto r = w.pull.pull(w.witness);
    CHECK(r.rep.actions.empty());
    CHECK(kind_count(r.rep, concord::case_kind::relinkable) == 0);
    CHECK(count_code(r.rep, to_string(concord::errc::partial_listing)) == 1);
    REQUIRE(w.db.labels().links().size() == 1);
    CHECK(w.db.labels().links()[0].remote_id == first);

    auto full = w.pull.full_rescan(w.witness);  // both copies in view: a duplicate, the oldest kept
    CHECK(kind_count(full.rep, concord::case_kind::duplicate) == 1);
    CHECK(w.service.current(first)->state == concord::remote_state::active);
    CHECK(w.service.current(second)->state == concord::remote_state::cancelled);
    REQUIRE(w.db.labels().links().size() == 1);
    CHECK(w.db.labels().links()[0].remote_id == first);
    CHECK(w.db.labels().size() == 1);
}

namespace {
/// zero_based_remote whose cancels fail.
struct zero_based_failing_remote : zero_based_remote {
    concord::remote_record<label> cancel(std::string_view, const std::string&) {
        throw concord::remote_error(concord::errc::remote_permanent, "cancel refused");
    }
};
} // namespace

TEST_CASE("inbound: a failed action does not lift a dropped cursor past a seq-0 record waiting for a decision",
          "[inbound][cursor]") {
    using ask_stale = concord::policy::per_case<concord::policy::trust_local,
                                                concord::policy::case_<concord::stale_inbound, concord::policy::ask_user>>;
    host_db db;
    concord::memory_remote<label> service;
    concord::memory_witness witness;
    zero_based_failing_remote zr{{&service}};
    service.put_external({0, "GONE", "post", "TRK-0"});  // seq 0: its order does not exist: asked about
    db.add_order("A-1");
    service.put_external({0, "A-1", "post", "TRK-1"});  // seq 1
    service.put_external({0, "A-1", "post", "TRK-1"});  // seq 2: delivered twice; cancelling the copy fails
    concord::reconciler<label, host_db::label_store, zero_based_failing_remote,
                        concord::identity::natural_key<&label::tracking>, ask_stale>
        rec(db.labels(), zr, {.owner = {"host-1", "labels"}, .entity_name = "label", .page_size = 10, .inbound = true});
    rec.set_reference_check([&](const label& l) { return db.has_order(l.order_number); });
    concord::inbound::puller<decltype(rec)> pull(rec);

    auto r1 = pull.pull(witness);
    REQUIRE(r1.rep.decisions.size() == 1);
    CHECK(r1.rep.failed() == 1);
    CHECK_FALSE(r1.cursor_after.has_value());  // not seq - 1 of the failed copy: that would pass the question

    auto r2 = pull.pull(witness);
    CHECK(r2.listing.rows == 3);
    REQUIRE(r2.rep.decisions.size() == 1);  // the question is put again
    CHECK(r2.rep.decisions[0].id == r1.rep.decisions[0].id);
}

namespace {
struct contact {
    BOOST_HANA_DEFINE_STRUCT(contact, (std::int64_t, id), (std::string, email), (std::string, name));
};
} // namespace

TEST_CASE("plan_orphans_since: a cancelled record created after the bound does not make its linked entity "
          "local_only",
          "[cursor][partial]") {
    std::int64_t now = 1000;
    concord::memory_store<contact> db;
    concord::memory_remote<contact> svc([&] { return now; });
    concord::memory_witness w;
    concord::identity::natural_key<&contact::email> ident;
    const concord::owner_tag owner{"host", "book"};
    auto rec = concord::make_reconciler<concord::policy::trust_local>(db, svc, {.owner = owner}, ident);
    db.put({0, "x@example.com", "X"});
    rec.reconcile(w);  // its object is created at t=1000 and linked
    REQUIRE(svc.active_count() == 1);
    now = 2000;
    const auto gen = db.load_checkpoint()->generation;
    const auto copy = svc.create({0, "x@example.com", "X"},
                                 concord::stamp_metadata(owner, ident.key(contact{0, "x@example.com", "X"}), gen), "k2");
    svc.cancel(copy.remote_id, "k3");  // a copy made and cancelled after the bound

    auto s = concord::begin_session(w, db);
    auto full = rec.plan(s);
    REQUIRE(full.actions.empty());
    auto p = concord::plan_orphans_since(rec, s.status(), s.database_adopted(), 1500);
    CHECK(p.count(concord::case_kind::local_only) == 0);
    CHECK(p.actions.empty());
    rec.apply(p, s);
    CHECK(svc.active_count() == 1);
    CHECK(svc.stats().creates == 2);  // the first create and the copy: nothing created again
}
