// Streaming merge (issue 8, item 2): concord::stream_merge() over two inputs generated lazily in
// identity order, against a plain read of both inputs, and the peak resident memory at the end.
//
//   concord_stream_bench [--n 100000000] [--check]
//
// Prints a Markdown section for docs/benchmarks.md; exits non-zero if the counts are wrong or (with
// --check) if an out-of-order input is not refused, a small merge reports the wrong cases, or a fingerprint
// or identity key differs from the hash of its documented bytes.

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <concord/identity.hpp>
#include <concord/streaming.hpp>

#include "bench_common.hpp"

namespace {

using bench::item;

/// Lazily generates the entities of one side in SKU order: key i is present unless it belongs to the
/// other side only (i % 100 == 0: local only, 1: remote only); i % 100 == 2 differs in qty.
struct generator {
    std::uint64_t n, i = 0;
    bool remote;

    std::optional<item> operator()() {
        for (; i < n; ++i) {
            const auto cls = i % 100;
            if ((remote && cls == 0) || (!remote && cls == 1)) continue;
            item e;
            e.id = remote ? 0 : static_cast<std::int64_t>(i + 1);
            e.sku = "SKU-000000000000";
            for (std::uint64_t v = i, p = 15; v && p >= 4; v /= 10, --p) e.sku[p] = static_cast<char>('0' + v % 10);
            e.name = "item";
            e.qty = static_cast<std::int64_t>(i % 1000) + (remote && cls == 2 ? 1 : 0);
            e.price_cents = static_cast<std::int64_t>(i % 977) * 10;
            e.revision = 1;
            ++i;
            return e;
        }
        return std::nullopt;
    }
};

/// Entities of one identity are equivalent under the SKU order (natural_key<&item::sku>).
struct by_sku {
    bool operator()(const item& a, const concord::key128&, const item& b, const concord::key128&) const {
        return a.sku < b.sku;
    }
};

bool check_order_refused() {
    // A remote side that goes backwards must be refused, not silently turned into orphans.
    int calls = 0;
    auto bad_remote = [&]() -> std::optional<item> {
        ++calls;
        if (calls == 1) return item{0, "SKU-2", "b", 1, 1, 1};
        if (calls == 2) return item{0, "SKU-1", "a", 1, 1, 1};
        return std::nullopt;
    };
    auto empty = []() -> std::optional<item> { return std::nullopt; };
    try {
        concord::stream_merge<item>(concord::identity::natural_key<&item::sku>{}, empty, bad_remote,
                                    [](const auto&) {}, by_sku{});
    } catch (const concord::error& e) {
        return e.code() == concord::errc::bad_page;
    }
    return false;
}

/// Cases, counts and sink pointers on a small input with a duplicate group: the first entity of a
/// group must stay valid while the merge reads ahead on that side.
bool check_cases() {
    const std::vector<item> local = {{1, "SKU-A", "a", 1, 1, 1}, {2, "SKU-B", "b1", 1, 1, 1}, {3, "SKU-B", "b2", 1, 1, 1},
                                     {4, "SKU-C", "c", 1, 1, 1}, {5, "SKU-E", "e", 1, 1, 1}};
    const std::vector<item> remote = {{0, "SKU-B", "b", 1, 1, 1}, {0, "SKU-C", "c", 2, 1, 1}, {0, "SKU-D", "d", 1, 1, 1},
                                      {0, "SKU-E", "e", 1, 1, 1}};
    auto reader = [](const std::vector<item>& v) {
        return [&v, i = std::size_t{0}]() mutable -> std::optional<item> {
            if (i == v.size()) return std::nullopt;
            return v[i++];
        };
    };
    const concord::identity::natural_key<&item::sku> id;
    std::string seen;
    auto sink = [&](const concord::stream_case<item>& c) {
        seen += std::to_string(static_cast<int>(c.kind)) + ":" + (c.local ? c.local->name : "-") + "/" +
                (c.remote ? c.remote->name : "-") + ":" + std::to_string(c.local_count) +
                std::to_string(c.remote_count) + (c.identity == id.key(c.local ? *c.local : *c.remote) ? "" : "!") +
                ";";
    };
    const auto c = concord::stream_merge<item>(id, reader(local), reader(remote), sink, by_sku{});
    using concord::case_kind;
    auto expect = [](case_kind k, const char* rest) { return std::to_string(static_cast<int>(k)) + rest; };
    const std::string want = expect(case_kind::local_only, ":a/-:10;") + expect(case_kind::duplicate, ":b1/b:21;") +
                             expect(case_kind::diverged, ":c/c:11;") + expect(case_kind::orphan, ":-/d:01;");
    if (seen != want || c.in_sync != 1 || c.local_read != 5 || c.remote_read != 4) {
        std::fprintf(stderr, "FAIL: cases %s, want %s\n", seen.c_str(), want.c_str());
        return false;
    }
    return true;
}

/// The stack-buffer encoders must hash exactly the documented bytes, on both sides of the stack
/// buffer's size (docs/reference.md: canonical encoding v1, identity keys).
bool check_hash_bytes() {
    auto u64 = [](std::string& out, std::uint64_t v) {
        for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xFF));
    };
    auto str = [&](std::string& out, const std::string& v) {
        u64(out, v.size());
        out += v;
    };
    for (std::size_t len : {0, 1, 3, 4, 7, 8, 15, 16, 17, 100, 200, 230, 240, 300, 5000}) {
        const item e{9, std::string(len, 'k'), std::string(len / 2, 'n'), -3, 400, 7};
        std::string content;
        str(content, e.sku);
        str(content, e.name);
        u64(content, static_cast<std::uint64_t>(e.qty));
        u64(content, static_cast<std::uint64_t>(e.price_cents));
        u64(content, static_cast<std::uint64_t>(e.revision));
        if (concord::fingerprint(e) != concord::xxh3_128(content)) {
            std::fprintf(stderr, "FAIL: fingerprint of a %zu-byte sku differs from its documented bytes\n", len);
            return false;
        }
        if (len == 0) continue;  // an empty natural key is unidentifiable
        for (const std::string& scope : {std::string(), std::string("tenant-42"), std::string(len, 's')}) {
            std::string key = "concord-id/v1";
            str(key, scope);
            str(key, "natural_key");
            str(key, e.sku);
            if (concord::identity::natural_key<&item::sku>{scope}.key(e) != concord::xxh3_128(key)) {
                std::fprintf(stderr, "FAIL: identity key of a %zu-byte sku differs from its documented bytes\n", len);
                return false;
            }
        }
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t n = 100000000;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--n" && i + 1 < argc) n = static_cast<std::uint64_t>(std::strtod(argv[++i], nullptr));
        else if (a == "--check") check = true;
        else {
            std::fprintf(stderr, "usage: %s [--n N] [--check]\n", argv[0]);
            return 2;
        }
    }
    // Expected counts, from the same rule as the generator.
    std::size_t e_lo = 0, e_or = 0, e_dv = 0, e_in = 0;
    for (std::uint64_t c = 0; c < 100; ++c) {
        const std::uint64_t k = n > c ? (n - c + 99) / 100 : 0;  // keys i < n with i % 100 == c
        if (c == 0) e_lo += k;
        else if (c == 1) e_or += k;
        else if (c == 2) e_dv += k;
        else e_in += k;
    }

    double t_read = 0;
    std::size_t touched = 0;
    {
        generator gl{n, 0, false}, gr{n, 0, true};
        t_read = bench::seconds([&] {
            while (auto e = gl()) touched += e->sku.size() + static_cast<std::size_t>(e->qty);
            while (auto e = gr()) touched += e->sku.size() + static_cast<std::size_t>(e->qty);
        });
    }
    // by_members<&item::sku> with natural_key<&item::sku>: identity keys only for the reported cases.
    // by_sku (the same order, but opaque to concord): an identity key per entity, checked per match.
    concord::stream_counts c, c_eager;
    std::size_t sunk = 0, sunk_eager = 0;
    const double t_merge = bench::seconds([&] {
        c = concord::stream_merge<item>(concord::identity::natural_key<&item::sku>{}, generator{n, 0, false},
                                        generator{n, 0, true}, [&](const concord::stream_case<item>&) { ++sunk; },
                                        concord::by_members<&item::sku>{});
    });
    const double t_eager = bench::seconds([&] {
        c_eager = concord::stream_merge<item>(concord::identity::natural_key<&item::sku>{}, generator{n, 0, false},
                                              generator{n, 0, true},
                                              [&](const concord::stream_case<item>&) { ++sunk_eager; }, by_sku{});
    });
    const long rss = bench::peak_rss_kib();
    if (c.in_sync != e_in || c.diverged != e_dv || c.local_only != e_lo || c.orphan != e_or || c.duplicate != 0 ||
        sunk != e_dv + e_lo + e_or || touched == 0 || c_eager.in_sync != c.in_sync || c_eager.diverged != c.diverged ||
        c_eager.local_only != c.local_only || c_eager.orphan != c.orphan || sunk_eager != sunk) {
        std::fprintf(stderr, "FAIL: in_sync %zu/%zu diverged %zu/%zu local_only %zu/%zu orphan %zu/%zu\n", c.in_sync, e_in,
                     c.diverged, e_dv, c.local_only, e_lo, c.orphan, e_or);
        return 1;
    }
    if (check && !check_order_refused()) {
        std::fprintf(stderr, "FAIL: an out-of-order input was not refused with errc::bad_page\n");
        return 1;
    }
    if (check && !(check_cases() && check_hash_bytes())) return 1;
    const double ents = static_cast<double>(c.local_read + c.remote_read);
    std::printf("### Streaming merge\n\n");
    std::printf("%llu keys generated lazily in SKU order (identity natural_key<&item::sku>), 1%% local_only, 1%% "
                "orphan, 1%% diverged; %zu entities read in all. The plain read generates and touches both sides "
                "without classifying.\n\n",
                static_cast<unsigned long long>(n), c.local_read + c.remote_read);
    std::printf("| measure | time | ns/entity |\n|---|---|---|\n");
    std::printf("| plain read of both sides | %s | %.1f |\n", bench::fmt_time(t_read).c_str(), t_read / ents * 1e9);
    std::printf("| stream_merge, order by_members<&item::sku> (merge, content compared member by member; identity "
                "keys for the reported cases) | %s | %.1f |\n",
                bench::fmt_time(t_merge).c_str(), t_merge / ents * 1e9);
    std::printf("| stream_merge, the same order as an opaque comparator (identity key per entity + merge, content "
                "compared) | %s | %.1f |\n",
                bench::fmt_time(t_eager).c_str(), t_eager / ents * 1e9);
    std::printf("\nstream_merge (by_members) / plain read: %.2fx [goal <= 2x]; with an identity key per entity: "
                "%.2fx. Peak RSS of the whole process: %.1f MiB [goal < 64 "
                "MiB]. Cases reported: %zu.\n\n",
                t_merge / t_read, t_eager / t_read, static_cast<double>(rss) / 1024.0, sunk);
    return 0;
}
