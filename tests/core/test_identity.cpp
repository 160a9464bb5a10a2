#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/error.hpp>
#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/prompt.hpp>
#include <concord/reconciler.hpp>
#include <concord/report.hpp>

namespace {
struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice, (std::int64_t, id), (std::string, customer), (std::string, number),
                             (std::int64_t, cents), (std::string, token));
};
using natural = concord::identity::natural_key<&invoice::customer, &invoice::number>;

struct ticket {
    BOOST_HANA_DEFINE_STRUCT(ticket, (std::int64_t, id), (std::optional<std::string>, code));
};
} // namespace

TEST_CASE("natural key survives a re-creation under a new database id", "[identity]") {
    invoice before{7, "acme", "N-1", 500, ""};
    invoice redone{12, "acme", "N-1", 500, ""};
    natural p;
    REQUIRE(p.key(before) == p.key(redone));
    REQUIRE(p.key(before) != p.key(invoice{7, "acme", "N-2", 500, ""}));
    REQUIRE(p.describe(before) == "customer=\"acme\", number=\"N-1\"");
}

TEST_CASE("surrogate id is unsafe across restores: a re-created entity gets another identity", "[identity]") {
    concord::identity::surrogate_id p;
    invoice before{7, "acme", "N-1", 500, ""};
    invoice redone{12, "acme", "N-1", 500, ""};
    invoice other_after_restore{7, "zeta", "Z-9", 1, ""};
    REQUIRE(p.key(before) != p.key(redone));               // same conceptual invoice, two identities
    REQUIRE(p.key(before) == p.key(other_after_restore));  // another invoice took over the identity
    STATIC_REQUIRE(!concord::identity::surrogate_id::stable_across_restores);
    REQUIRE_THROWS_AS(p.key(invoice{0, "a", "b", 1, ""}), concord::error);
}

TEST_CASE("empty identity fields are a typed error naming the member", "[identity]") {
    natural p;
    try {
        (void)p.key(invoice{1, "", "N-1", 5, ""});
        FAIL("expected an error");
    } catch (const concord::error& e) {
        REQUIRE(e.code() == concord::errc::empty_identity);
        REQUIRE(std::string(e.what()).find("customer") != std::string::npos);
    }
    concord::identity::client_token<&invoice::token> t;
    REQUIRE_THROWS_WITH(t.key(invoice{1, "a", "b", 5, ""}), Catch::Contains("token"));

    // An optional identity member: absent and holding "" are both no identity.
    concord::identity::natural_key<&ticket::code> by_code;
    for (const auto& code : {std::optional<std::string>{}, std::optional<std::string>{""}}) {
        INFO("code " << (code ? "\"\"" : "nullopt"));
        CHECK_FALSE(by_code.identifiable(ticket{1, code}));
        try {
            (void)by_code.key(ticket{1, code});
            FAIL("expected an error");
        } catch (const concord::error& e) {
            CHECK(e.code() == concord::errc::empty_identity);
            CHECK_THAT(e.what(), Catch::Contains("code"));
        }
    }
    CHECK(by_code.identifiable(ticket{1, "T-1"}));
}

TEST_CASE("content identity changes with content, chosen members only with those", "[identity]") {
    concord::identity::content<> all;
    concord::identity::content<&invoice::customer> some;
    invoice a{1, "acme", "N-1", 500, "t"};
    invoice b{2, "acme", "N-1", 600, "t"};
    REQUIRE(all.key(a) != all.key(b));
    REQUIRE(some.key(a) == some.key(b));
}

TEST_CASE("scopes separate tenants", "[identity]") {
    concord::identity::scoped<natural> t1("tenant-1"), t2("tenant-2");
    invoice a{1, "acme", "N-1", 500, ""};
    REQUIRE(t1.key(a) != t2.key(a));
    REQUIRE(t1.key(a) == concord::identity::scoped<natural>("tenant-1").key(a));
    REQUIRE(t1.describe(a).rfind("tenant-1:", 0) == 0);
    REQUIRE_THROWS_AS(concord::identity::scoped<natural>(""), concord::error);
    // '/' joins nested scopes, so a name holding one could pass for a nesting: refused.
    natural eu;
    eu.scope = "eu";
    const concord::identity::scoped<natural> acme_eu("acme", eu);
    REQUIRE_THROWS_WITH(concord::identity::scoped<natural>("acme/eu"), Catch::Contains("'/'"));
    REQUIRE(acme_eu.key(a) != concord::identity::scoped<natural>("acme").key(a));
}

TEST_CASE("client tokens are random, well-formed and identify", "[identity]") {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        auto t = concord::new_client_token();
        REQUIRE(t.size() == 32);
        REQUIRE(seen.insert(t).second);
    }
    concord::identity::client_token<&invoice::token> p;
    REQUIRE(p.key(invoice{1, "a", "b", 1, "tok"}) == p.key(invoice{9, "x", "y", 2, "tok"}));
}

TEST_CASE("idempotency keys: documented SHA-256, stable, distinct per operation instance", "[identity]") {
    natural p;
    const auto id = p.key(invoice{7, "acme", "N-1", 500, ""});
    const auto params = concord::encode_parameters(std::int64_t{500}, std::string("eur"));
    const auto k1 = concord::idempotency_key("scope", id, {"charge", 0, params});
    const auto k1_again = concord::idempotency_key("scope", p.key(invoice{12, "acme", "N-1", 500, ""}), {"charge", 0, params});
    REQUIRE(k1 == k1_again);  // same conceptual operation after a restore re-created the invoice
    REQUIRE(k1.size() == 68);
    REQUIRE(k1.rfind("cc1-", 0) == 0);
    for (char c : k1) REQUIRE((c >= 0x21 && c <= 0x7e));
    // cancel, resume, cancel again: the third call must not collide with the first
    const auto c0 = concord::idempotency_key("scope", id, {"cancel", 0, ""});
    const auto c2 = concord::idempotency_key("scope", id, {"cancel", 2, ""});
    REQUIRE(c0 != c2);
    REQUIRE(concord::idempotency_key("scope", id, {"charge", 0, concord::encode_parameters(std::int64_t{501})}) != k1);
    REQUIRE(concord::idempotency_key("other", id, {"charge", 0, params}) != k1);
    // Known-answer test of the documented derivation, written out here part by part.
    auto documented = [&](std::string_view scope, std::string_view kind, std::uint64_t instance, std::string_view ps) {
        std::string buf = "concord-idem/v1";
        concord::detail::put_bytes(buf, scope);
        for (int i = 7; i >= 0; --i) buf.push_back(static_cast<char>((id.hi >> (8 * i)) & 0xFF));
        for (int i = 7; i >= 0; --i) buf.push_back(static_cast<char>((id.lo >> (8 * i)) & 0xFF));
        concord::detail::put_bytes(buf, kind);
        concord::detail::put_u64(buf, instance);
        concord::detail::put_bytes(buf, ps);
        return "cc1-" + concord::to_hex(concord::sha256(buf));
    };
    REQUIRE(k1 == documented("scope", "charge", 0, params));
    REQUIRE(concord::to_hex(concord::sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    REQUIRE_THROWS_AS(concord::idempotency_key("scope", id, {"charge", 0, params}, 40), concord::error);
    try {
        (void)concord::idempotency_key("scope", id, {"charge", 0, params}, 67);
        FAIL("a limit of 67 characters must refuse a 68-character key");
    } catch (const concord::error& e) {
        REQUIRE(e.code() == concord::errc::key_too_long);
    }
    REQUIRE(concord::idempotency_key("scope", id, {"charge", 0, params}, 68) == k1);
    // Parameters too long for the key's stack buffer (512 bytes) take the heap: the same derivation.
    const std::string long_params(1000, 'p'), long_scope(300, 's');
    REQUIRE(concord::idempotency_key(long_scope, id, {"update", 3, long_params}) ==
            documented(long_scope, "update", 3, long_params));
}

TEST_CASE("identity and idempotency keys match the documented derivation (computed with xxhsum/sha256sum)", "[identity]") {
    // Bytes written out from docs/reference.md and hashed with the command-line tools, not with concord:
    //   identity = xxhsum -H2 over "concord-id/v1" | len"" | len"natural_key" | len"acme" | len"N-1"
    //   key      = "cc1-" + sha256sum over "concord-idem/v1" | len"scope" | identity (16 bytes, big-endian) |
    //              len"charge" | u64le 0 | len(params), params = i64le 500 | len"eur"
    // where len"x" is the 8-byte little-endian length followed by the bytes.
    natural p;
    const auto id = p.key(invoice{7, "acme", "N-1", 500, ""});
    REQUIRE(id.hex() == "3ee7b0f4c0065a748ac1dade9953b2f4");
    const auto params = concord::encode_parameters(std::int64_t{500}, std::string("eur"));
    REQUIRE(concord::idempotency_key("scope", id, {"charge", 0, params}) ==
            "cc1-d529c6b9b7a00888639d6e538c12ef55444ea1044c72d25654d74708a7012b82");
}

TEST_CASE("every error code has its own stable name", "[errors]") {
    std::set<std::string_view> names;
    // unstable_identity is the last enumerator; a code added after it must extend this range.
    for (int i = 0; i <= static_cast<int>(concord::errc::unstable_identity); ++i) {
        const auto name = concord::to_string(static_cast<concord::errc>(i));
        INFO("errc " << i);
        CHECK(name != "unknown");
        CHECK(names.insert(name).second);
    }
    CHECK(concord::to_string(concord::errc::system_failure) == "system_failure");
    const concord::error e(concord::errc::system_failure, "getrandom failed");
    CHECK(std::string(e.what()) == "system_failure: getrandom failed");
}

namespace {
struct label {
    BOOST_HANA_DEFINE_STRUCT(label, (std::int64_t, id), (std::string, code), (std::string, colour), (double, size));
};
} // namespace

TEST_CASE("client_token describe quotes and escapes the token like natural_key", "[identity][printing]") {
    concord::identity::client_token<&invoice::token> t;
    const invoice forged{1, "a", "b", 1, "tok\n  PROBLEM forged \x1b[31m"};
    CHECK(t.describe(forged) == R"(token="tok\n  PROBLEM forged \u001b[31m")");
    CHECK(t.describe(forged) == concord::identity::natural_key<&invoice::token>{}.describe(forged));
    CHECK(t.describe(invoice{1, "a", "b", 1, "0123abcd"}) == "token=\"0123abcd\"");
    CHECK(concord::identity::scoped<concord::identity::client_token<&invoice::token>>("t1").describe(forged) ==
          R"(t1:token="tok\n  PROBLEM forged \u001b[31m")");
}

TEST_CASE("content<&E::a...> describes the chosen members, content<> the fingerprint", "[identity][printing]") {
    const label a{1, "L-1", "red", 2.5}, b{2, "L-1", "blue", 1e-9};
    concord::identity::content<&label::code> by_code;
    REQUIRE(by_code.key(a) == by_code.key(b));
    // One identity, one text: the chosen member, not a fingerprint of everything.
    CHECK(by_code.describe(a) == "code=\"L-1\"");
    CHECK(by_code.describe(a) == by_code.describe(b));
    concord::identity::content<&label::code, &label::size> two;
    CHECK(two.describe(b) == "code=\"L-1\", size=1e-09");
    // All content: the fingerprint of the content, stable and independent of the scope.
    concord::identity::content<> all;
    CHECK(all.describe(a) == "content=" + concord::fingerprint(a).hex());
    CHECK(all.describe(a) != all.describe(b));
    CHECK(concord::identity::scoped<concord::identity::content<>>("t1").describe(a) == "t1:" + all.describe(a));
}

TEST_CASE("key128::parse_hex reads the digits hex() writes, uppercase as the same key, and nothing else",
          "[identity]") {
    concord::key128 k;
    REQUIRE(k.parse_hex("abcdef0123456789abcdef0123456789"));
    CHECK(k.hex() == "abcdef0123456789abcdef0123456789");
    concord::key128 up;  // text a remote or a tool upper-cased still names the key
    REQUIRE(up.parse_hex("ABCDEF0123456789ABCDEF0123456789"));
    CHECK(up == k);
    concord::key128 u{1, 2};
    CHECK_FALSE(u.parse_hex("abcdef0123456789abcdef012345678g"));
    CHECK_FALSE(u.parse_hex("abcdef0123456789abcdef012345678"));
    CHECK(u == concord::key128{1, 2});  // left alone
}

TEST_CASE("nested scoped policies are refused at compile time", "[identity]") {
    // scoped<scoped<P>> fails with a static_assert that says to give P the inner scope instead.
    STATIC_REQUIRE(concord::detail::is_scoped<concord::identity::scoped<natural>>::value);
    STATIC_REQUIRE_FALSE(concord::detail::is_scoped<natural>::value);
    // What the message advises: scoped<P>("tenant", P{.scope = "integration"}).
    const concord::identity::scoped<natural> nested("acme", natural{.scope = "eu"});
    natural joined;
    joined.scope = "acme/eu";
    const invoice a{1, "acme", "N-1", 500, ""};
    CHECK(nested.key(a) == joined.key(a));
}

namespace {
/// The code of the concord::error `f` throws; invalid_argument's opposite, `empty_identity`, when it
/// throws none (neither is expected then).
template <class F>
concord::errc code_of(F&& f, std::string* msg = nullptr) {
    try {
        f();
    } catch (const concord::error& e) {
        if (msg) *msg = e.what();
        return e.code();
    }
    return concord::errc::empty_identity;
}

/// A policy derived from one of concord's, as payments' plan_identity is.
struct eu_invoices : natural {
    eu_invoices() { scope = "acme/eu"; }
};

/// A policy of the user's own: its `scope` is its own business (key() does not hash it).
struct own_policy {
    static constexpr bool stable_across_restores = true;
    std::string scope = "region/eu";
    concord::identity_key key(const invoice& e) const { return natural{}.key(e); }
    std::string describe(const invoice& e) const { return natural{}.describe(e); }
};
} // namespace

TEST_CASE("a '/' in a policy's own scope is refused where the policy is taken, not per key", "[identity]") {
    const invoice a{1, "acme", "N-1", 500, "tok"};
    // Why: '/' joins scoped<P>'s scope to P's, so these two configurations would share every key.
    natural flat;
    flat.scope = "acme/eu";
    CHECK(flat.key(a) == concord::identity::scoped<natural>("acme", natural{.scope = "eu"}).key(a));
    CHECK_NOTHROW(flat.key(a));  // key() is the hot path: it checks nothing

    concord::memory_store<invoice> db;
    concord::memory_remote<invoice> remote;
    auto make = [&](auto policy) {
        return concord::make_reconciler<concord::policy::trust_local>(db, remote, {.owner = {"host-1", "invoices"}},
                                                                      std::move(policy));
    };
    std::string msg;
    CHECK(code_of([&] { make(flat); }, &msg) == concord::errc::invalid_argument);
    CHECK_THAT(msg, Catch::Contains("'acme/eu'") && Catch::Contains("'/'"));
    CHECK(code_of([&] { make(concord::identity::surrogate_id{.scope = "a/b"}); }) == concord::errc::invalid_argument);
    CHECK(code_of([&] { make(concord::identity::content<>{.scope = "a/b"}); }) == concord::errc::invalid_argument);
    CHECK(code_of([&] { make(concord::identity::client_token<&invoice::token>{.scope = "a/b"}); }) ==
          concord::errc::invalid_argument);
    CHECK(code_of([&] { make(eu_invoices{}); }) == concord::errc::invalid_argument);
    // scoped<P> checks P's own scope when it is made: "eu/west" joined to "acme" would pass for
    // scoped("acme/eu", P{.scope = "west"}), which is refused.
    CHECK(code_of([&] { concord::identity::scoped<natural>("acme", natural{.scope = "eu/west"}); }, &msg) ==
          concord::errc::invalid_argument);
    CHECK_THAT(msg, Catch::Contains("'eu/west'"));

    // Accepted: scopes without '/', the join scoped<P> makes, and a user's own policy.
    CHECK_NOTHROW(make(natural{.scope = "eu"}));
    CHECK_NOTHROW(make(natural{}));
    CHECK_NOTHROW(make(concord::identity::scoped<natural>("acme", natural{.scope = "eu"})));
    CHECK_NOTHROW(make(own_policy{}));
}

namespace {
struct prompt_entity {};
} // namespace

TEST_CASE("the terminal prompt and report text escape remote-provided control characters", "[identity][printing]") {
    concord::decision<prompt_entity> d;
    d.id = "0123456789abcdef";
    d.kind = concord::case_kind::orphan;
    d.summary = "orphan [token=\x1b]0;pwned\x07]; remote ch_1\nDecision forged \xc2\x9b" "2J \xff";
    d.options = {{concord::resolution::cancel_remote, "cancel\x1b[2J"}, {concord::resolution::import_local, "import"}};
    std::istringstream in("1\n");
    std::ostringstream out;
    concord::terminal_prompt p(in, out);
    CHECK(p(d) == concord::resolution::cancel_remote);
    const auto shown = out.str();
    INFO(shown);
    CHECK(shown.find('\x1b') == std::string::npos);
    CHECK(shown.find('\x07') == std::string::npos);
    CHECK(shown.find("\xc2\x9b") == std::string::npos);
    CHECK(shown.find("\xff") == std::string::npos);
    CHECK(shown.find("\nDecision forged") == std::string::npos);  // no forged line
    CHECK(shown.find(R"(  orphan [token=\u001b]0;pwned\u0007]; remote ch_1\nDecision forged \u009b2J \ufffd)") !=
          std::string::npos);
    CHECK(shown.find(R"([1] cancel_remote: cancel\u001b[2J)") != std::string::npos);

    concord::report r;
    r.decisions.push_back({d.id, "orphan", "ab", d.summary, {"cancel_remote: cancel\x1b[2J"}});
    r.problems.push_back("remote said \x1b[31mred\nPROBLEM forged");
    r.actions.push_back({});
    r.actions.back().remote_id = "ch_\x1b[1m";
    r.actions.back().detail = "failed:\r\x1b[K";
    const auto text = r.text();
    INFO(text);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
    CHECK(text.find("\nPROBLEM forged") == std::string::npos);
    CHECK(text.find(R"(  PROBLEM remote said \u001b[31mred\nPROBLEM forged)") != std::string::npos);
    CHECK(text.find(R"(remote=ch_\u001b[1m)") != std::string::npos);
}

TEST_CASE("the terminal prompt and report text escape characters that break or reorder a line",
          "[identity][printing]") {
    // U+202E (right-to-left override) would show "cancel ... refund" as something else in a
    // terminal that applies the bidirectional algorithm; U+2028 starts a line in some viewers.
    const std::string rlo = "\xe2\x80\xae", lri = "\xe2\x81\xa6", pdi = "\xe2\x81\xa9", ls = "\xe2\x80\xa8",
                      ps = "\xe2\x80\xa9", alm = "\xd8\x9c", lrm = "\xe2\x80\x8e";
    concord::decision<prompt_entity> d;
    d.id = "0123456789abcdef";
    d.kind = concord::case_kind::orphan;
    d.summary = "orphan ch_1" + rlo + "dnufer" + ls + "Decision forged" + ps + alm + lrm;
    d.options = {{concord::resolution::cancel_remote, "cancel" + lri + "x" + pdi},
                 {concord::resolution::import_local, "import"}};
    std::istringstream in("2\n");
    std::ostringstream out;
    concord::terminal_prompt p(in, out);
    CHECK(p(d) == concord::resolution::import_local);
    const auto shown = out.str();
    INFO(shown);
    for (const auto& c : {rlo, lri, pdi, ls, ps, alm, lrm}) CHECK(shown.find(c) == std::string::npos);
    CHECK(shown.find(R"(orphan ch_1\u202ednufer\u2028Decision forged\u2029\u061c\u200e)") != std::string::npos);
    CHECK(shown.find(R"([1] cancel_remote: cancel\u2066x\u2069)") != std::string::npos);

    concord::report r;
    r.problems.push_back("remote said " + rlo + "der" + ls + "PROBLEM forged");
    const auto text = r.text();
    INFO(text);
    CHECK(text.find(rlo) == std::string::npos);
    CHECK(text.find(ls) == std::string::npos);
    CHECK(text.find(R"(  PROBLEM remote said \u202eder\u2028PROBLEM forged)") != std::string::npos);
    CHECK(r.json().find(R"("problems":["remote said \u202eder\u2028PROBLEM forged"])") != std::string::npos);

    // Their neighbours are ordinary characters and stay as they are.
    for (const std::string keep : {"\xe2\x80\xa7", "\xe2\x80\xaf", "\xe2\x81\xa5", "\xe2\x81\xaa", "\xd8\x9b",
                                   "\xe2\x80\x8d", "\xe2\x80\x90", "caf\xc3\xa9"}) {
        INFO(keep);
        CHECK(concord::detail::display_text(keep) == keep);
    }
}
