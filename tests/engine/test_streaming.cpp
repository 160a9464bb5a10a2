// stream_merge(): classification of two inputs read in identity order, with the order given as
// identity keys (by_identity_key), as the natural key's members (by_members: keys only for the
// reported cases), or as an opaque comparator; refusal of inputs out of order.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>
#include <catch2/catch.hpp>

#include <concord/identity.hpp>
#include <concord/streaming.hpp>

#include "fixture.hpp"

namespace {

using engine_test::item;
using engine_test::make_item;
using sku_identity = engine_test::sku_identity;

/// Reads a vector one entity at a time, as a cursor over an ordered query would.
auto reader(const std::vector<item>& v) {
    return [&v, i = std::size_t{0}]() mutable -> std::optional<item> {
        if (i == v.size()) return std::nullopt;
        return v[i++];
    };
}

/// The SKU order as a comparator concord cannot see through: an identity key per entity.
struct opaque_sku_order {
    bool operator()(const item& a, const concord::key128&, const item& b, const concord::key128&) const {
        return a.sku < b.sku;
    }
};

struct seen_case {
    concord::case_kind kind;
    concord::key128 identity;
    std::string local, remote;  // names, "-" for none
    std::size_t local_count, remote_count;
    friend bool operator==(const seen_case&, const seen_case&) = default;
};

template <class Order>
std::vector<seen_case> merge(const std::vector<item>& local, const std::vector<item>& remote, Order order,
                             concord::stream_counts* counts = nullptr) {
    std::vector<seen_case> out;
    const auto c = concord::stream_merge<item>(
        sku_identity{}, reader(local), reader(remote),
        [&](const concord::stream_case<item>& sc) {
            out.push_back({sc.kind, sc.identity, sc.local ? sc.local->name : "-", sc.remote ? sc.remote->name : "-",
                           sc.local_count, sc.remote_count});
        },
        order);
    if (counts) *counts = c;
    return out;
}

} // namespace

TEST_CASE("stream_merge reports every case but in_sync, the same with keys derived lazily or per entity",
          "[engine][streaming]") {
    using concord::case_kind;
    const std::vector<item> local = {make_item("A", "a"), make_item("B", "b1"), make_item("B", "b2"),
                                     make_item("C", "c", 100), make_item("E", "e"), make_item("", "unnamed")};
    const std::vector<item> remote = {make_item("B", "b"), make_item("C", "c", 200), make_item("D", "d"),
                                      make_item("E", "e")};
    const sku_identity id;
    const std::vector<seen_case> want = {
        {case_kind::local_only, id.key(local[0]), "a", "-", 1, 0},
        {case_kind::duplicate, id.key(local[1]), "b1", "b", 2, 1},
        {case_kind::diverged, id.key(local[3]), "c", "c", 1, 1},
        {case_kind::orphan, id.key(remote[2]), "-", "d", 0, 1},
    };
    concord::stream_counts lazy_counts, eager_counts;
    const auto lazy = merge(local, remote, concord::by_members<&item::sku>{}, &lazy_counts);
    const auto eager = merge(local, remote, opaque_sku_order{}, &eager_counts);
    CHECK(lazy == want);
    CHECK(eager == want);
    for (const auto* c : {&lazy_counts, &eager_counts}) {
        CHECK(c->in_sync == 1);
        CHECK(c->duplicate == 1);
        CHECK(c->diverged == 1);
        CHECK(c->local_only == 1);
        CHECK(c->orphan == 1);
        CHECK(c->unidentified == 1);  // the empty SKU: skipped, counted
        CHECK(c->local_read == 6);
        CHECK(c->remote_read == 4);
    }
}

TEST_CASE("stream_merge in identity-key order matches a merge in member order", "[engine][streaming]") {
    std::vector<item> local, remote;
    for (int i = 0; i < 500; ++i) {
        const auto sku = "sku-" + std::to_string(i);
        if (i % 7 != 0) local.push_back(make_item(sku, "n", i));
        if (i % 11 != 0) remote.push_back(make_item(sku, "n", i % 13 == 0 ? i + 1 : i));
    }
    const sku_identity id;
    auto by_key = [&](std::vector<item> v) {
        std::sort(v.begin(), v.end(), [&](const item& a, const item& b) { return id.key(a) < id.key(b); });
        return v;
    };
    auto by_sku = [](std::vector<item> v) {
        std::sort(v.begin(), v.end(), [](const item& a, const item& b) { return a.sku < b.sku; });
        return v;
    };
    concord::stream_counts a, b;
    auto key_cases = merge(by_key(local), by_key(remote), concord::by_identity_key{}, &a);
    auto sku_cases = merge(by_sku(local), by_sku(remote), concord::by_members<&item::sku>{}, &b);
    auto by_identity = [](const seen_case& x, const seen_case& y) { return x.identity < y.identity; };
    std::sort(sku_cases.begin(), sku_cases.end(), by_identity);
    CHECK(key_cases == sku_cases);
    CHECK(a.in_sync == b.in_sync);
    CHECK(a.in_sync > 300);
    CHECK(key_cases.size() > 100);
}

TEST_CASE("stream_merge: a pair is in sync when its content is, whatever the local id", "[engine][streaming]") {
    // Local rows carry database ids, remote ones do not; any content member that differs makes the
    // pair diverged, and the pair's fingerprints say the same.
    std::vector<item> local, remote;
    for (int i = 0; i < 5; ++i) {
        item l = make_item("sku-" + std::to_string(i), "n", 100, "o-1");
        l.id = 1000 + i;
        item r = make_item(l.sku, "n", 100, "o-1");
        if (i == 1) r.name = "m";
        if (i == 2) r.order = "o-2";
        if (i == 3) r.cents = 101;
        local.push_back(l);
        remote.push_back(r);
    }
    concord::stream_counts c;
    const auto cases = merge(local, remote, concord::by_members<&item::sku>{}, &c);
    CHECK(c.in_sync == 2);  // sku-0 and sku-4
    CHECK(c.diverged == 3);
    REQUIRE(cases.size() == 3);
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const std::size_t i = k + 1;
        CHECK(cases[k].kind == concord::case_kind::diverged);
        CHECK(cases[k].identity == sku_identity{}.key(local[i]));
        CHECK(concord::fingerprint(local[i]) != concord::fingerprint(remote[i]));
    }
    CHECK(concord::fingerprint(local[0]) == concord::fingerprint(remote[0]));
}

TEST_CASE("stream_merge refuses an input out of order and an order that merges two identities",
          "[engine][streaming]") {
    const std::vector<item> none;
    const std::vector<item> backwards = {make_item("B"), make_item("A")};
    const sku_identity id;
    for (int lazy = 0; lazy < 2; ++lazy) {
        INFO("lazy keys: " << lazy);
        try {
            if (lazy) merge(none, backwards, concord::by_members<&item::sku>{});
            else merge(none, backwards, opaque_sku_order{});
            FAIL("an input out of order was accepted");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::bad_page);
            const std::string msg = e.what();
            CHECK(msg.find("remote input is not in order") != std::string::npos);
            CHECK(msg.find(id.key(backwards[1]).hex() + " came after " + id.key(backwards[0]).hex()) != std::string::npos);
        }
    }
    // An order that sees only the first letter puts "A1" and "A2" in one group: refused, not merged.
    struct first_letter {
        bool operator()(const item& a, const concord::key128&, const item& b, const concord::key128&) const {
            return a.sku.substr(0, 1) < b.sku.substr(0, 1);
        }
    };
    const std::vector<item> two = {make_item("A1"), make_item("A2")};
    try {
        merge(two, none, first_letter{});
        FAIL("two identities were merged");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::invalid_argument);
    }
}

namespace {

/// A reading keyed by a floating-point member: NaN is neither less nor greater than anything under `<`.
struct reading {
    BOOST_HANA_DEFINE_STRUCT(reading, (std::int64_t, id), (std::string, probe), (double, at), (std::string, note));
};

template <class Identity, class Order>
std::vector<seen_case> merge_readings(const std::vector<reading>& local, const std::vector<reading>& remote,
                                      concord::stream_counts& counts) {
    std::vector<seen_case> out;
    std::size_t li = 0, ri = 0;
    auto next = [](const std::vector<reading>& v, std::size_t& i) -> std::optional<reading> {
        return i < v.size() ? std::optional(v[i++]) : std::nullopt;
    };
    counts = concord::stream_merge<reading>(
        Identity{}, [&] { return next(local, li); }, [&] { return next(remote, ri); },
        [&](const concord::stream_case<reading>& sc) {
            out.push_back({sc.kind, sc.identity, sc.local ? sc.local->note : "-", sc.remote ? sc.remote->note : "-",
                           sc.local_count, sc.remote_count});
        },
        Order{});
    return out;
}

} // namespace

TEST_CASE("stream_merge by members: a NaN key member is one value, after every number, never a neighbour's twin",
          "[engine][streaming][nan]") {
    using by_at = concord::identity::natural_key<&reading::at>;
    using order = concord::by_members<&reading::at>;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    concord::stream_counts c;

    SECTION("NaN sorted last (PostgreSQL's ORDER BY): every identity in sync") {
        const std::vector<reading> both = {{1, "", -inf, "a"}, {2, "", 1.0, "b"}, {3, "", 2.0, "c"},
                                           {4, "", inf, "d"}, {5, "", nan, "e"}};
        CHECK(merge_readings<by_at, order>(both, both, c).empty());
        CHECK(c.in_sync == 5);
        CHECK(c.duplicate == 0);
    }
    SECTION("a NaN on one side only is its own case") {
        const std::vector<reading> local = {{1, "", 1.0, "a"}, {2, "", 2.0, "b"}, {3, "", nan, "n"}};
        const std::vector<reading> remote = {{0, "", 1.0, "a"}, {0, "", 2.0, "b"}};
        const auto cases = merge_readings<by_at, order>(local, remote, c);
        REQUIRE(cases.size() == 1);
        CHECK(cases[0] == seen_case{concord::case_kind::local_only, by_at{}.key(local[2]), "n", "-", 1, 0});
        CHECK(c.in_sync == 2);
    }
    SECTION("-0 and +0 are one value, as in the identity key") {
        const std::vector<reading> local = {{1, "", -0.0, "z"}};
        const std::vector<reading> remote = {{0, "", 0.0, "z"}};
        CHECK(merge_readings<by_at, order>(local, remote, c).empty());
        CHECK(c.in_sync == 1);
    }
    SECTION("NaN sorted between numbers is out of order: refused, not merged with a neighbour") {
        const std::vector<reading> both = {{1, "", 1.0, "a"}, {2, "", nan, "n"}, {3, "", 2.0, "b"}};
        try {
            merge_readings<by_at, order>(both, both, c);
            FAIL("an input with NaN between numbers was accepted");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::bad_page);
        }
    }
    SECTION("a NaN in a later member of the key") {
        using by_probe_at = concord::identity::natural_key<&reading::probe, &reading::at>;
        using order2 = concord::by_members<&reading::probe, &reading::at>;
        const std::vector<reading> both = {{1, "p", 1.0, "a"}, {2, "p", nan, "b"}, {3, "q", 0.5, "c"},
                                           {4, "q", nan, "d"}};
        CHECK(merge_readings<by_probe_at, order2>(both, both, c).empty());
        CHECK(c.in_sync == 4);
    }
}

namespace {

/// An order finer than sku_identity: by SKU, then by price. Keys are derived per entity.
using sku_then_cents = concord::by_members<&item::sku, &item::cents>;
/// The same members the other way round: one SKU's entities need not even be neighbours.
using cents_then_sku = concord::by_members<&item::cents, &item::sku>;

/// Runs stream_merge and expects errc::invalid_argument for an order that separates one identity,
/// naming that identity and `where`, before any case of that identity reached the sink.
template <class Order>
void expect_separated(const std::vector<item>& local, const std::vector<item>& remote, const std::string& sku,
                      const std::string& where) {
    const concord::key128 key = sku_identity{}.key(make_item(sku));
    std::vector<concord::key128> sunk;
    try {
        concord::stream_merge<item>(
            sku_identity{}, reader(local), reader(remote),
            [&](const concord::stream_case<item>& c) { sunk.push_back(c.identity); }, Order{});
        FAIL("an order that separates entities of one identity was accepted");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::invalid_argument);
        const std::string msg = e.what();
        INFO(msg);
        CHECK(msg.find("the order separates entities of one identity") != std::string::npos);
        CHECK(msg.find(key.hex()) != std::string::npos);
        CHECK(msg.find(where) != std::string::npos);
        CHECK(msg.find("finer than the identity policy") != std::string::npos);
    }
    CHECK(std::find(sunk.begin(), sunk.end(), key) == sunk.end());  // no false local_only / orphan first
}

} // namespace

TEST_CASE("stream_merge refuses an order finer than the identity: two entities of one identity on one side",
          "[engine][streaming][finer_order]") {
    const std::vector<item> none;
    // Two "x" apart under the order (price 1, then 2): a duplicate, not two local_only cases.
    const std::vector<item> two_x = {make_item("x", "n", 1), make_item("x", "n", 2)};
    SECTION("local") { expect_separated<sku_then_cents>(two_x, none, "x", "twice in a row in the local input"); }
    SECTION("remote") { expect_separated<sku_then_cents>(none, two_x, "x", "twice in a row in the remote input"); }
    SECTION("the auditor's probe: two local and one remote") {
        // Seen at the heads already: x@1 local, x@3 remote.
        expect_separated<sku_then_cents>(two_x, {make_item("x", "n", 3)}, "x",
                                         "at the head of both the local and the remote input");
    }
    SECTION("after a group of equivalent entities (a true duplicate) and before other identities") {
        const std::vector<item> local = {make_item("w"), make_item("x", "a", 1), make_item("x", "b", 1),
                                         make_item("x", "c", 2), make_item("y")};
        expect_separated<sku_then_cents>(local, {make_item("w")}, "x", "twice in a row in the local input");
    }
}

TEST_CASE("stream_merge refuses an order finer than the identity: one identity at both heads, apart",
          "[engine][streaming][finer_order]") {
    // One local and one remote "x" with different prices: a diverged pair, not local_only + orphan.
    SECTION("local first") {
        expect_separated<sku_then_cents>({make_item("x", "n", 1)}, {make_item("x", "n", 2)}, "x",
                                         "at the head of both the local and the remote input");
    }
    SECTION("remote first") {
        expect_separated<sku_then_cents>({make_item("x", "n", 2)}, {make_item("x", "n", 1)}, "x",
                                         "at the head of both the local and the remote input");
    }
    SECTION("not neighbours in the merged order, but at both heads") {
        // cents then SKU: local x@1, y@1; remote x@2. The merged order is x@1, y@1, x@2.
        expect_separated<cents_then_sku>({make_item("x", "n", 1), make_item("y", "n", 1)}, {make_item("x", "n", 2)},
                                         "x", "at the head of both the local and the remote input");
    }
    SECTION("behind other cases, which reach the sink") {
        expect_separated<sku_then_cents>({make_item("a"), make_item("b", "n", 5), make_item("x", "n", 1)},
                                         {make_item("a"), make_item("c"), make_item("x", "n", 2)}, "x",
                                         "at the head of both the local and the remote input");
    }
}

TEST_CASE("stream_merge with an order finer than the identity still merges inputs it does not split",
          "[engine][streaming][finer_order]") {
    // The check refuses only what the order actually separates: distinct SKUs, equal prices within one
    // SKU, and true duplicates (equivalent under the order) are classified as before.
    using concord::case_kind;
    const std::vector<item> local = {make_item("a", "n", 1), make_item("b", "b1", 7), make_item("b", "b2", 7),
                                     make_item("c", "n", 3), make_item("d", "n", 4)};
    const std::vector<item> remote = {make_item("a", "n", 1), make_item("b", "b", 7), make_item("c", "m", 3),
                                      make_item("e", "n", 5)};
    const sku_identity id;
    const std::vector<seen_case> want = {
        {case_kind::duplicate, id.key(local[1]), "b1", "b", 2, 1},
        {case_kind::diverged, id.key(local[3]), "n", "m", 1, 1},
        {case_kind::local_only, id.key(local[4]), "n", "-", 1, 0},
        {case_kind::orphan, id.key(remote[3]), "-", "n", 0, 1},
    };
    concord::stream_counts c;
    CHECK(merge(local, remote, sku_then_cents{}, &c) == want);
    CHECK(c.in_sync == 1);
}
