// Planning throughput (issue 8, item 1) and apply throughput (item 3), measured side by side in one
// run on the same data. Prints Markdown sections that scripts/benchmarks.sh pastes into
// docs/benchmarks.md.
//
//   concord_plan_bench plan  [--sizes 10000,100000,1000000] [--baseline-max N] [--reps R]
//   concord_plan_bench apply [--actions 100000]
//
// Every contender starts from the same entity structs (std::vector<item> local and
// std::vector<remote_record<item>> remote, random order) and must report the same counts; the driver
// exits non-zero if any of them disagrees.

#include <malloc.h>
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <sqlite3.h>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

#include "bench_common.hpp"

// ------------------------------------------------------------------------------ heap accounting
// Live and peak bytes handed out by operator new (usable sizes, so allocator rounding counts).
// SQLite allocates with malloc and is not counted.
//
// concord allocates on several threads with reconciler_options::threads > 1. Each thread adds up
// its own changes and moves them to the shared counters every 64 KiB: one shared counter bumped on
// every allocation would be a data race as plain integers and, as atomics, a cache line bouncing
// between the cores on every allocation (in a profile of a two-thread plan, a quarter of the
// decisions' time). A worker thread ends with less than 64 KiB not moved: the peak is exact to
// 64 KiB per thread, and the live count drifts by as much per ended thread, which the measurement
// (peak minus live bytes at the start of each run) does not see. No thread_local with a destructor:
// its guard would cost every allocation a call.
namespace {
std::atomic<std::ptrdiff_t> g_live{0};
std::atomic<std::ptrdiff_t> g_peak{0};
constexpr std::ptrdiff_t flush_bytes = 64 * 1024;
thread_local std::ptrdiff_t t_pending = 0;

void flush_pending() noexcept {
    const std::ptrdiff_t live = g_live.fetch_add(t_pending, std::memory_order_relaxed) + t_pending;
    t_pending = 0;
    std::ptrdiff_t peak = g_peak.load(std::memory_order_relaxed);
    while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
    }
}
void account(std::ptrdiff_t bytes) noexcept {
    t_pending += bytes;
    if (t_pending > flush_bytes || t_pending < -flush_bytes) flush_pending();
}
/// Live bytes now (this thread's pending changes included; call between timed runs only).
std::ptrdiff_t live_bytes() noexcept {
    flush_pending();
    return g_live.load(std::memory_order_relaxed);
}
void* counted_alloc(std::size_t n) {
    void* p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    account(static_cast<std::ptrdiff_t>(malloc_usable_size(p)));
    return p;
}
void counted_free(void* p) noexcept {
    if (!p) return;
    account(-static_cast<std::ptrdiff_t>(malloc_usable_size(p)));
    std::free(p);
}
} // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
// Aligned forms (concord's huge-page row buffers and the floor's arrays use them): counted too.
void* operator new(std::size_t n, std::align_val_t a) {
    void* p = nullptr;
    if (posix_memalign(&p, std::max(static_cast<std::size_t>(a), sizeof(void*)), n ? n : 1) != 0) throw std::bad_alloc();
    account(static_cast<std::ptrdiff_t>(malloc_usable_size(p)));
    return p;
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }

namespace {

using bench::item;
using record = concord::remote_record<item>;
using identity_policy = concord::identity::natural_key<&item::sku>;

/// Case counts every contender must agree on.
struct counts {
    std::size_t in_sync = 0, diverged = 0, local_only = 0, orphan = 0;
    friend bool operator==(const counts&, const counts&) = default;
};

/// One data set: N keys in random order; 1% local_only, 1% orphan, 1% diverged, the rest in sync.
struct dataset {
    std::vector<item> local;
    std::vector<concord::link> links;
    std::vector<record> remote;
    counts expected;
    concord::timeline_status status;
};

const concord::owner_tag owner{"bench-host", "bench"};

std::string sku_of(std::uint64_t k) {
    char b[24];
    std::snprintf(b, sizeof b, "SKU-%010llu", static_cast<unsigned long long>(k));
    return b;
}

dataset make_dataset(std::size_t n, std::uint64_t seed) {
    dataset d;
    std::mt19937_64 rng(seed);
    identity_policy idp;
    const std::string tag = owner.text();
    d.local.reserve(n);
    d.remote.reserve(n);
    d.links.reserve(n);
    // Each side is built in its own random order, the way a loader materialises rows or a listing's
    // records one after the other: an object's heap data (strings, metadata nodes) lies near its
    // neighbours in the vector. Shuffling objects after building them would scatter every record's
    // metadata over the whole heap, a layout no loader produces.
    std::vector<item> items(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t key = i * 7919 + 13;  // distinct SKUs
        items[i] = item{static_cast<std::int64_t>(i + 1), sku_of(key), "item " + std::to_string(key % 100000),
                        static_cast<std::int64_t>(rng() % 1000), static_cast<std::int64_t>(rng() % 100000), 1};
        const auto cls = i % 100;
        if (cls == 0) ++d.expected.local_only;
        else if (cls == 1) ++d.expected.orphan;
        else if (cls == 2) ++d.expected.diverged;
        else ++d.expected.in_sync;
    }
    auto order = [&] {
        std::vector<std::size_t> o(n);
        for (std::size_t i = 0; i < n; ++i) o[i] = i;
        std::shuffle(o.begin(), o.end(), rng);
        return o;
    };
    auto has_local = [](std::size_t i) { return i % 100 != 1; };
    auto has_remote = [](std::size_t i) { return i % 100 != 0; };
    auto remote_id = [](std::size_t i) { return "rm_" + std::to_string(i); };
    for (const auto i : order())
        if (has_local(i)) d.local.push_back(items[i]);
    for (const auto i : order()) {
        if (!has_remote(i)) continue;
        record r;
        r.remote_id = remote_id(i);
        r.seq = i + 1;
        r.value = items[i];
        r.value.id = 0;
        if (i % 100 == 2) r.value.qty += 1;  // diverged
        r.meta[std::string(concord::meta_keys::owner)] = tag;
        r.meta[std::string(concord::meta_keys::identity)] = idp.key(items[i]).hex();
        r.meta[std::string(concord::meta_keys::generation)] = "1";
        d.remote.push_back(std::move(r));
    }
    for (const auto i : order())
        if (has_local(i) && has_remote(i)) d.links.push_back({idp.key(items[i]), remote_id(i), 1});
    d.status.kind = concord::verdict::same_timeline;
    d.status.lineage = "bench-lineage";
    d.status.generation = 2;
    return d;
}

bool same_content(const item& a, const item& b) {
    return a.name == b.name && a.qty == b.qty && a.price_cents == b.price_cents && a.revision == b.revision;
}

// ------------------------------------------------------------------------------ contenders

/// concord: plan_from() end to end (identity, ownership check, fingerprints, join, policy, plan).
struct concord_planner {
    explicit concord_planner(unsigned threads = 1) : threads(threads) {}
    unsigned threads;
    concord::memory_store<item> store;
    concord::memory_remote<item> remote;
    decltype(concord::make_reconciler<concord::policy::trust_local>(store, remote, {.owner = owner},
                                                                        identity_policy{})) rec =
        concord::make_reconciler<concord::policy::trust_local>(store, remote, {.owner = owner, .threads = threads},
                                                               identity_policy{});

    counts run(const concord::timeline_status& st, const std::vector<item>& local,
               const std::vector<concord::link>& links, const std::vector<record>& rem) const {
        auto p = rec.plan_from(st, false, local, links, rem);
        return {p.count(concord::case_kind::in_sync), p.count(concord::case_kind::diverged),
                p.count(concord::case_kind::local_only), p.count(concord::case_kind::orphan)};
    }
};

/// What a user writes with std::map: index both sides by the natural key, walk them.
counts map_diff(const dataset& d) {
    counts c;
    std::map<std::string, const item*> l, r;
    for (const auto& e : d.local) l.emplace(e.sku, &e);
    for (const auto& e : d.remote) r.emplace(e.value.sku, &e.value);
    for (const auto& [k, e] : l) {
        auto it = r.find(k);
        if (it == r.end()) ++c.local_only;
        else if (same_content(*e, *it->second)) ++c.in_sync;
        else ++c.diverged;
    }
    for (const auto& [k, e] : r)
        if (!l.count(k)) ++c.orphan;
    return c;
}

/// Same with std::unordered_map (reserved up front, which is kind to it).
counts unordered_diff(const dataset& d) {
    counts c;
    std::unordered_map<std::string, const item*> l, r;
    l.reserve(d.local.size());
    r.reserve(d.remote.size());
    for (const auto& e : d.local) l.emplace(e.sku, &e);
    for (const auto& e : d.remote) r.emplace(e.value.sku, &e.value);
    for (const auto& [k, e] : l) {
        auto it = r.find(k);
        if (it == r.end()) ++c.local_only;
        else if (same_content(*e, *it->second)) ++c.in_sync;
        else ++c.diverged;
    }
    for (const auto& [k, e] : r)
        if (!l.count(k)) ++c.orphan;
    return c;
}

/// SQLite: both sides in an in-memory database with primary keys, classified with LEFT JOINs.
struct sqlite_diff {
    sqlite3* db = nullptr;
    double load_s = 0, query_s = 0;

    static void check(int rc, sqlite3* db, const char* what) {
        if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
            throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
    }
    void exec(const char* sql) { check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql); }

    counts run(const dataset& d) {
        counts c;
        load_s = bench::seconds([&] {
            check(sqlite3_open(":memory:", &db), db, "open");
            exec("CREATE TABLE l(sku TEXT PRIMARY KEY, id INTEGER, name TEXT, qty INTEGER, price INTEGER, rev INTEGER)");
            exec("CREATE TABLE r(sku TEXT PRIMARY KEY, remote_id TEXT, name TEXT, qty INTEGER, price INTEGER, rev INTEGER)");
            exec("BEGIN");
            sqlite3_stmt* st = nullptr;
            check(sqlite3_prepare_v2(db, "INSERT INTO l VALUES(?,?,?,?,?,?)", -1, &st, nullptr), db, "prepare l");
            for (const auto& e : d.local) {
                sqlite3_bind_text(st, 1, e.sku.data(), static_cast<int>(e.sku.size()), SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, e.id);
                sqlite3_bind_text(st, 3, e.name.data(), static_cast<int>(e.name.size()), SQLITE_STATIC);
                sqlite3_bind_int64(st, 4, e.qty);
                sqlite3_bind_int64(st, 5, e.price_cents);
                sqlite3_bind_int64(st, 6, e.revision);
                check(sqlite3_step(st), db, "insert l");
                sqlite3_reset(st);
            }
            sqlite3_finalize(st);
            check(sqlite3_prepare_v2(db, "INSERT INTO r VALUES(?,?,?,?,?,?)", -1, &st, nullptr), db, "prepare r");
            for (const auto& rr : d.remote) {
                const auto& e = rr.value;
                sqlite3_bind_text(st, 1, e.sku.data(), static_cast<int>(e.sku.size()), SQLITE_STATIC);
                sqlite3_bind_text(st, 2, rr.remote_id.data(), static_cast<int>(rr.remote_id.size()), SQLITE_STATIC);
                sqlite3_bind_text(st, 3, e.name.data(), static_cast<int>(e.name.size()), SQLITE_STATIC);
                sqlite3_bind_int64(st, 4, e.qty);
                sqlite3_bind_int64(st, 5, e.price_cents);
                sqlite3_bind_int64(st, 6, e.revision);
                check(sqlite3_step(st), db, "insert r");
                sqlite3_reset(st);
            }
            sqlite3_finalize(st);
            exec("COMMIT");
        });
        query_s = bench::seconds([&] {
            sqlite3_stmt* st = nullptr;
            // One row per local entity: no counterpart, same content, or different content.
            check(sqlite3_prepare_v2(db,
                                     "SELECT l.sku, r.remote_id, r.sku IS NULL, "
                                     "(l.name = r.name AND l.qty = r.qty AND l.price = r.price AND l.rev = r.rev) "
                                     "FROM l LEFT JOIN r ON r.sku = l.sku",
                                     -1, &st, nullptr),
                  db, "prepare join");
            int rc;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (sqlite3_column_int(st, 2)) ++c.local_only;
                else if (sqlite3_column_int(st, 3)) ++c.in_sync;
                else ++c.diverged;
            }
            check(rc, db, "step join");
            sqlite3_finalize(st);
            check(sqlite3_prepare_v2(db, "SELECT r.remote_id FROM r LEFT JOIN l ON l.sku = r.sku WHERE l.sku IS NULL", -1,
                                     &st, nullptr),
                  db, "prepare orphans");
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) ++c.orphan;
            check(rc, db, "step orphans");
            sqlite3_finalize(st);
        });
        load_s += bench::seconds([&] { sqlite3_close(db); });  // tear-down counts with the load
        db = nullptr;
        return c;
    }
};

/// An array in fresh memory backed by transparent huge pages when large: first-touch page faults
/// on 4 KiB pages cost this VM more than the join itself, and concord's own row buffers avoid them
/// the same way, so the floor must too.
template <class T>
struct huge_array {
    T* p = nullptr;
    std::size_t n = 0;
    static constexpr std::size_t huge = std::size_t{2} << 20;
    explicit huge_array(std::size_t count) : n(count) {
        const std::size_t bytes = (count * sizeof(T) + huge - 1) / huge * huge;
        if (!bytes) return;
        p = static_cast<T*>(::operator new(bytes, std::align_val_t{huge}));
        madvise(p, bytes, MADV_HUGEPAGE);
    }
    huge_array(const huge_array&) = delete;
    huge_array& operator=(const huge_array&) = delete;
    ~huge_array() {
        if (p) ::operator delete(p, std::align_val_t{huge});
    }
    T& operator[](std::size_t i) { return p[i]; }
};

/// The floor: fingerprint every entity with the same hashes concord uses (identity key and content
/// fingerprint, XXH3-128), then a radix-partitioned hash join over the (identity, fingerprint) pairs:
/// one partitioning pass into cache-sized partitions (at most 4096, so the scatter stays within the
/// TLB), then per partition an open-addressing table built on the local side and probed by the remote.
counts floor_join(const dataset& d) {
    struct row {
        concord::key128 id, fp;
    };
    identity_policy idp;
    const std::size_t nl = d.local.size(), nr = d.remote.size();
    huge_array<row> l(nl), r(nr);
    for (std::size_t i = 0; i < nl; ++i) l[i] = {idp.key(d.local[i]), concord::fingerprint(d.local[i])};
    for (std::size_t i = 0; i < nr; ++i) r[i] = {idp.key(d.remote[i].value), concord::fingerprint(d.remote[i].value)};

    unsigned bits = 0;
    while ((std::size_t{1} << bits) * 2048 < std::max(nl, nr) && bits < 12) ++bits;
    const std::size_t parts = std::size_t{1} << bits;
    auto part_of = [bits](const row& x) { return bits ? static_cast<std::size_t>(x.id.hi >> (64 - bits)) : 0; };
    auto partition = [&](huge_array<row>& in, huge_array<row>& out, std::vector<std::size_t>& start) {
        start.assign(parts + 1, 0);
        for (std::size_t i = 0; i < in.n; ++i) ++start[part_of(in[i]) + 1];
        for (std::size_t q = 0; q < parts; ++q) start[q + 1] += start[q];
        std::vector<std::size_t> pos(start.begin(), start.end() - 1);
        for (std::size_t i = 0; i < in.n; ++i) out[pos[part_of(in[i])]++] = in[i];
    };
    huge_array<row> lp(nl), rp(nr);
    std::vector<std::size_t> ls, rs;
    partition(l, lp, ls);
    partition(r, rp, rs);

    counts c;
    std::size_t max_part = 16;
    for (std::size_t q = 0; q < parts; ++q) max_part = std::max(max_part, ls[q + 1] - ls[q]);
    std::size_t cap_max = 16;
    while (cap_max < 2 * max_part) cap_max *= 2;
    std::vector<std::uint32_t> table(cap_max);  // slot holds local index + 1
    std::vector<std::uint8_t> matched(max_part);
    for (std::size_t q = 0; q < parts; ++q) {
        const std::size_t lb = ls[q], le = ls[q + 1];
        std::size_t cap = 16;
        while (cap < 2 * (le - lb)) cap *= 2;
        std::fill_n(table.begin(), cap, 0u);
        std::fill_n(matched.begin(), le - lb, std::uint8_t{0});
        const std::size_t mask = cap - 1;
        for (std::size_t i = lb; i < le; ++i) {
            std::size_t slot = static_cast<std::size_t>(lp[i].id.lo) & mask;
            while (table[slot]) slot = (slot + 1) & mask;
            table[slot] = static_cast<std::uint32_t>(i - lb + 1);
        }
        for (std::size_t j = rs[q]; j < rs[q + 1]; ++j) {
            std::size_t slot = static_cast<std::size_t>(rp[j].id.lo) & mask;
            bool found = false;
            while (table[slot]) {
                const auto& x = lp[lb + table[slot] - 1];
                if (x.id == rp[j].id) {
                    found = true;
                    matched[table[slot] - 1] = 1;
                    if (x.fp == rp[j].fp) ++c.in_sync;
                    else ++c.diverged;
                    break;
                }
                slot = (slot + 1) & mask;
            }
            if (!found) ++c.orphan;
        }
        for (std::size_t i = 0; i < le - lb; ++i)
            if (!matched[i]) ++c.local_only;
    }
    return c;
}

// ------------------------------------------------------------------------------ driver

std::vector<std::size_t> parse_list(const char* s) {
    std::vector<std::size_t> out;
    while (*s) {
        char* end = nullptr;
        out.push_back(static_cast<std::size_t>(std::strtod(s, &end)));
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s) break;
    }
    return out;
}

std::string ratio(double a, double b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fx", b > 0 ? a / b : 0.0);
    return buf;
}

[[noreturn]] void mismatch(const char* who, const counts& got, const counts& want) {
    std::fprintf(stderr,
                 "FAIL: %s counted in_sync %zu diverged %zu local_only %zu orphan %zu, expected %zu %zu %zu %zu\n",
                 who, got.in_sync, got.diverged, got.local_only, got.orphan, want.in_sync, want.diverged, want.local_only,
                 want.orphan);
    std::exit(1);
}

struct size_result {
    std::size_t n = 0, entities = 0;
    double concord = 0, floor = 0, umap = -1, map = -1, sql_query = -1, sql_total = -1, concord_mt = -1;
    double concord_bytes = 0, floor_bytes = 0, umap_bytes = -1, map_bytes = -1, concord_mt_bytes = -1;
};

int run_plan(const std::vector<std::size_t>& sizes, std::size_t baseline_max, int reps_override, unsigned threads) {
    std::vector<size_result> results;
    concord_planner planner;
    concord_planner planner_mt(threads);
    for (const auto n : sizes) {
        const int reps = reps_override > 0 ? reps_override : n <= 10000 ? 15 : n <= 100000 ? 7 : n <= 1000000 ? 3 : 1;
        std::fprintf(stderr, "plan: N=%zu, %d repetition(s) of the baselines\n", n, reps);
        auto d = make_dataset(n, 42 + n);
        size_result res;
        res.n = n;
        res.entities = d.local.size() + d.remote.size();
        const double per = static_cast<double>(res.entities);
        std::vector<double> t_floor, t_umap, t_map, t_q, t_t, t_c, t_mt;
        // Each contender runs its repetitions back to back, so each one follows its own previous run
        // (the allocator's and the kernel's state after another contender's teardown is not its
        // doing). concord and the floor are cheap and repeat more often than the baselines.
        const int reps_fast = reps_override > 0 ? reps_override : n <= 10000 ? 15 : n <= 1000000 ? 9 : 3;
        auto timed = [&](std::vector<double>& times, double& bytes, const char* who, auto&& run) {
            const std::ptrdiff_t before = live_bytes();
            g_peak.store(before, std::memory_order_relaxed);
            counts got;
            times.push_back(bench::seconds([&] { got = run(); }));
            live_bytes();  // this thread's last changes
            bytes = static_cast<double>(g_peak.load(std::memory_order_relaxed) - before) / per;
            if (!(got == d.expected)) mismatch(who, got, d.expected);
        };
        for (int k = 0; k < reps_fast; ++k)
            timed(t_c, res.concord_bytes, "concord", [&] { return planner.run(d.status, d.local, d.links, d.remote); });
        if (threads > 1)
            for (int k = 0; k < reps_fast; ++k)
                timed(t_mt, res.concord_mt_bytes, "concord (threads)",
                      [&] { return planner_mt.run(d.status, d.local, d.links, d.remote); });
        for (int k = 0; k < reps_fast; ++k) timed(t_floor, res.floor_bytes, "floor", [&] { return floor_join(d); });
        if (n <= baseline_max) {
            for (int k = 0; k < reps; ++k)
                timed(t_umap, res.umap_bytes, "std::unordered_map", [&] { return unordered_diff(d); });
            for (int k = 0; k < reps; ++k) timed(t_map, res.map_bytes, "std::map", [&] { return map_diff(d); });
            for (int k = 0; k < reps; ++k) {
                sqlite_diff s;
                const counts got = s.run(d);
                if (!(got == d.expected)) mismatch("SQLite", got, d.expected);
                t_q.push_back(s.query_s);
                t_t.push_back(s.query_s + s.load_s);
            }
        }
        res.concord = bench::median(t_c);
        res.floor = bench::median(t_floor);
        if (!t_mt.empty()) res.concord_mt = bench::median(t_mt);
        if (!t_umap.empty()) {
            res.umap = bench::median(t_umap);
            res.map = bench::median(t_map);
            res.sql_query = bench::median(t_q);
            res.sql_total = bench::median(t_t);
        }
        results.push_back(res);
    }

    std::printf("### Planning: medians\n\n");
    std::printf("N keys, 1%% local_only, 1%% orphan, 1%% diverged, inputs in random order; \"entities\" counts both "
                "sides. Every contender reported the same counts.\n\n");
    std::printf("| N | entities | concord plan_from | floor (hash + radix join) | std::unordered_map diff | std::map diff "
                "| SQLite query | SQLite load + query |\n|---|---|---|---|---|---|---|---|\n");
    auto cell = [](double s) { return s < 0 ? std::string("not run") : bench::fmt_time(s); };
    for (const auto& r : results)
        std::printf("| %zu | %zu | %s | %s | %s | %s | %s | %s |\n", r.n, r.entities, cell(r.concord).c_str(),
                    cell(r.floor).c_str(), cell(r.umap).c_str(), cell(r.map).c_str(), cell(r.sql_query).c_str(),
                    cell(r.sql_total).c_str());
    std::printf("\n### Planning: ratios (how many times faster concord is; goal in brackets)\n\n");
    std::printf("| N | vs SQLite load + query [>= 50x] | vs SQLite query only | vs std::map [>= 25x] | vs "
                "std::unordered_map [>= 10x] | concord / floor [<= 1.5x] |\n|---|---|---|---|---|---|\n");
    for (const auto& r : results) {
        auto rt = [&](double b) { return b < 0 ? std::string("not run") : ratio(b, r.concord); };
        std::printf("| %zu | %s | %s | %s | %s | %s |\n", r.n, rt(r.sql_total).c_str(), rt(r.sql_query).c_str(),
                    rt(r.map).c_str(), rt(r.umap).c_str(), ratio(r.concord, r.floor).c_str());
    }
    std::printf("\n### Planning: time and extra heap per entity\n\n");
    std::printf("Extra heap = peak live bytes from operator new during the call minus the live bytes before it "
                "(the inputs), divided by the number of entities (both sides). SQLite allocates with malloc and "
                "is not counted.\n\n");
    std::printf("| N | concord ns/entity | floor ns/entity | concord extra B/entity [<= 32] | floor extra B/entity | "
                "unordered_map extra B/entity | map extra B/entity |\n|---|---|---|---|---|---|---|\n");
    auto b = [](double v) {
        char buf[32];
        if (v < 0) return std::string("not run");
        std::snprintf(buf, sizeof buf, "%.1f", v);
        return std::string(buf);
    };
    for (const auto& r : results) {
        const double e = static_cast<double>(r.entities);
        std::printf("| %zu | %.1f | %.1f | %s | %s | %s | %s |\n", r.n, r.concord / e * 1e9, r.floor / e * 1e9,
                    b(r.concord_bytes).c_str(), b(r.floor_bytes).c_str(), b(r.umap_bytes).c_str(), b(r.map_bytes).c_str());
    }
    if (results.size() >= 2) {
        const auto& lo = results[results.size() > 2 ? 1 : 0];
        const auto& hi = results.back();
        const double g = (hi.concord / static_cast<double>(hi.entities)) / (lo.concord / static_cast<double>(lo.entities));
        std::printf("\nPer-entity time growth of concord from N=%zu to N=%zu: %.2fx [goal <= 1.3x].\n", lo.n, hi.n, g);
    }
    if (threads > 1) {
        std::printf("\n### Planning with reconciler_options::threads = %u\n\n", threads);
        std::printf("The same plan_from() with its passes split over %u threads (the plan is the same; the contenders "
                    "above run on one thread, the floor too). Ratios as above, from this column.\n\n",
                    threads);
        std::printf("| N | concord, 1 thread | concord, %u threads | speed-up | vs SQLite load + query [>= 50x] | vs "
                    "std::map [>= 25x] | vs std::unordered_map [>= 10x] | / floor (1 thread) | extra B/entity |\n"
                    "|---|---|---|---|---|---|---|---|---|\n",
                    threads);
        for (const auto& r : results) {
            auto rt = [&](double base) { return base < 0 ? std::string("not run") : ratio(base, r.concord_mt); };
            std::printf("| %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n, cell(r.concord).c_str(),
                        cell(r.concord_mt).c_str(), ratio(r.concord, r.concord_mt).c_str(), rt(r.sql_total).c_str(),
                        rt(r.map).c_str(), rt(r.umap).c_str(), ratio(r.concord_mt, r.floor).c_str(),
                        b(r.concord_mt_bytes).c_str());
        }
    }
    std::printf("\nPeak RSS of the planning run: %ld MiB.\n\n", bench::peak_rss_kib() / 1024);
    return 0;
}

// ------------------------------------------------------------------------------ apply

int run_apply(std::size_t actions) {
    using concord::memory_remote;
    using concord::memory_store;
    // Idempotency-key derivation alone: SHA-256 over identity + operation + parameters.
    identity_policy idp;
    std::vector<concord::key128> ids;
    ids.reserve(actions);
    for (std::size_t i = 0; i < actions; ++i) ids.push_back(idp.key(item{0, sku_of(i), "x", 0, 0, 0}));
    const std::string scope = owner.text();
    std::vector<double> t_key;
    std::size_t sink = 0;
    for (int k = 0; k < 5; ++k)
        t_key.push_back(bench::seconds([&] {
            for (const auto& id : ids)
                sink += concord::idempotency_key(scope, id, concord::operation{"create", 0, id.hex()}).size();
        }));
    std::vector<double> t_fp;
    item probe{1, "SKU-0000000001", "item 1", 3, 499, 1};
    for (int k = 0; k < 5; ++k)
        t_fp.push_back(bench::seconds([&] {
            for (std::size_t i = 0; i < actions; ++i) {
                probe.qty = static_cast<std::int64_t>(i);
                sink += concord::fingerprint(probe).lo & 1;
            }
        }));

    // apply(): a first reconcile that creates `actions` remote entities (one create per entity, each
    // with its idempotency key and metadata stamp), local commits in batches of 256.
    std::vector<double> t_plan, t_apply;
    std::size_t done = 0;
    for (int k = 0; k < 3; ++k) {
        memory_store<item> db;
        memory_remote<item> remote;
        concord::memory_witness w;
        for (std::size_t i = 0; i < actions; ++i)
            db.put(item{0, sku_of(i), "item " + std::to_string(i), static_cast<std::int64_t>(i % 7), 100, 1});
        auto rec = concord::make_reconciler<concord::policy::trust_local>(db, remote, {.owner = owner}, identity_policy{});
        auto session = concord::begin_session(w, db);
        concord::plan<item> p;
        t_plan.push_back(bench::seconds([&] { p = rec.plan(session); }));
        concord::report rep;
        t_apply.push_back(bench::seconds([&] { rep = rec.apply(p, session); }));
        session.commit();
        done = remote.stats().creates;
        if (done != actions || p.actions.size() != actions) {
            std::fprintf(stderr, "FAIL: apply created %zu remote entities for %zu actions\n", done, p.actions.size());
            return 1;
        }
    }
    const double n = static_cast<double>(actions);
    std::printf("### Apply against memory_remote\n\n");
    std::printf("First reconcile of %zu local entities: %zu create_remote actions (idempotency key, metadata stamp, "
                "retry wrapper), local link commits in batches of 256. Median of 3.\n\n",
                actions, actions);
    std::printf("| measure | median | per action | actions/s |\n|---|---|---|---|\n");
    std::printf("| plan() (scan + list + classify + keys) | %s | %.2f us | - |\n", bench::fmt_time(bench::median(t_plan)).c_str(),
                bench::median(t_plan) / n * 1e6);
    std::printf("| apply() | %s | %.2f us | %.0f |\n", bench::fmt_time(bench::median(t_apply)).c_str(),
                bench::median(t_apply) / n * 1e6, n / bench::median(t_apply));
    std::printf("| idempotency_key() alone (SHA-256) | %s | %.0f ns | %.0f |\n", bench::fmt_time(bench::median(t_key)).c_str(),
                bench::median(t_key) / n * 1e9, n / bench::median(t_key));
    std::printf("| fingerprint() alone (XXH3-128), for scale | %s | %.0f ns | %.0f |\n",
                bench::fmt_time(bench::median(t_fp)).c_str(), bench::median(t_fp) / n * 1e9, n / bench::median(t_fp));
    std::printf("\n");
    return sink == 0 ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 2) {
            std::fprintf(stderr, "usage: %s plan [--sizes a,b,c] [--baseline-max N] [--reps R] [--threads T] | apply [--actions N]\n",
                         argv[0]);
            return 2;
        }
        const std::string mode = argv[1];
        std::vector<std::size_t> sizes{10000, 100000, 1000000};
        std::size_t baseline_max = 1000000, actions = 100000;
        int reps = 0;
        unsigned threads = 2;
        for (int i = 2; i + 1 < argc; i += 2) {
            const std::string opt = argv[i];
            if (opt == "--sizes") sizes = parse_list(argv[i + 1]);
            else if (opt == "--baseline-max") baseline_max = static_cast<std::size_t>(std::strtod(argv[i + 1], nullptr));
            else if (opt == "--reps") reps = std::atoi(argv[i + 1]);
            else if (opt == "--threads") threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
            else if (opt == "--actions") actions = static_cast<std::size_t>(std::strtod(argv[i + 1], nullptr));
            else throw std::invalid_argument("unknown option " + opt);
        }
        if (mode == "plan") return run_plan(sizes, baseline_max, reps, threads);
        if (mode == "apply") return run_apply(actions);
        std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "FAIL: %s\n", e.what());
        return 1;
    }
}
