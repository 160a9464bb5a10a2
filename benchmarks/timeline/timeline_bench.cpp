// Cost of restore detection on a real SQLite file (issue 4, "the timeline check costs O(1) reads").
//
//  timeline_check/N         begin_session(witness, store): reads the checkpoint row and the witness
//                           file. Expected flat in N; `vm_ops` counts SQLite VM instructions per
//                           check (sqlite3_progress_handler), `rows` the table size.
//  reconcile_with_check/N   a steady-state reconcile (every entity in sync): begin_session, plan,
//                           apply, commit.
//  reconcile_without_check/N  the same reconcile from a verdict computed once and cached, i.e.
//                           what it would cost without restore detection.
//
// Sizes: 1000, 10000, 100000 (--quick: 1000, 10000). Output: a Markdown section on stdout.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>
#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

namespace {

struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, sku), (std::string, name), (std::int64_t, qty),
                             (std::int64_t, price_cents));
};

using store_t = concord::sqlite_store<item>;
using remote_t = concord::memory_remote<item>;
using identity_t = concord::identity::natural_key<&item::sku>;

namespace fs = std::filesystem;

/// One database of N items, reconciled twice (remote populated, links and cursor written).
struct world {
    fs::path dir;
    std::unique_ptr<concord::sqlite_database> db;
    std::unique_ptr<store_t> store;
    std::unique_ptr<concord::file_witness> witness;
    remote_t remote;
    std::size_t n;

    auto sync() {
        return concord::make_reconciler<concord::policy::trust_local>(
            *store, remote, {.owner = {"bench", "timeline"}, .entity_name = "item"}, identity_t{});
    }

    explicit world(std::size_t size) : n(size) {
        dir = fs::temp_directory_path() / ("concord-timeline-bench-" + std::to_string(::getpid()) + "-" + std::to_string(n));
        fs::remove_all(dir);
        fs::create_directories(dir);
        db = std::make_unique<concord::sqlite_database>(dir / "bench.db");
        store = std::make_unique<store_t>(*db, "items");
        witness = std::make_unique<concord::file_witness>(concord::file_witness::beside(db->path()));
        concord::change_batch<item> b;
        for (std::size_t i = 0; i < n; ++i)
            b.upserts.push_back({0, "sku-" + std::to_string(i), "item " + std::to_string(i), static_cast<std::int64_t>(i % 17),
                                 static_cast<std::int64_t>(100 + i)});
        store->commit(b);
        auto s = sync();
        s.reconcile(*witness);
        s.reconcile(*witness);
    }
    ~world() {
        store.reset();
        db.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

world& world_of(std::size_t n) {
    static std::map<std::size_t, std::unique_ptr<world>> worlds;
    auto& w = worlds[n];
    if (!w) w = std::make_unique<world>(n);
    return *w;
}

int count_op(void* p) {
    ++*static_cast<std::uint64_t*>(p);
    return 0;
}

void timeline_check(benchmark::State& state) {
    auto& w = world_of(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto session = concord::begin_session(*w.witness, *w.store);
        benchmark::DoNotOptimize(session.kind());
        if (session.kind() != concord::verdict::same_timeline) state.SkipWithError("unexpected verdict");
    }
    std::uint64_t ops = 0;
    sqlite3_progress_handler(w.db->handle(), 1, count_op, &ops);
    (void)concord::begin_session(*w.witness, *w.store);
    sqlite3_progress_handler(w.db->handle(), 0, nullptr, nullptr);
    state.counters["vm_ops"] = static_cast<double>(ops);
    state.counters["rows"] = static_cast<double>(w.n);
}

void reconcile_with_check(benchmark::State& state) {
    auto& w = world_of(static_cast<std::size_t>(state.range(0)));
    auto sync = w.sync();
    for (auto _ : state) {
        auto session = concord::begin_session(*w.witness, *w.store);
        auto p = sync.plan(session);
        auto rep = sync.apply(p, session);
        session.commit();
        if (!rep.actions.empty() || p.count(concord::case_kind::in_sync) != w.n) state.SkipWithError("not in steady state");
    }
    state.counters["rows"] = static_cast<double>(w.n);
}

void reconcile_without_check(benchmark::State& state) {
    auto& w = world_of(static_cast<std::size_t>(state.range(0)));
    auto sync = w.sync();
    const auto cached = concord::check_timeline(w.store->load_checkpoint(), w.witness->load());
    for (auto _ : state) {
        concord::timeline_session<concord::file_witness> session(*w.witness, cached);
        auto p = sync.plan(session);
        auto rep = sync.apply(p, session);
        session.commit();
        if (!rep.actions.empty() || p.count(concord::case_kind::in_sync) != w.n) state.SkipWithError("not in steady state");
    }
    state.counters["rows"] = static_cast<double>(w.n);
}

/// Prints one Markdown table row per run.
class markdown_reporter : public benchmark::BenchmarkReporter {
public:
    bool ReportContext(const Context&) override {
        std::printf("## Timeline check (restore detection) on SQLite\n\n");
        std::printf("`begin_session` reads the checkpoint row and the witness file; `vm_ops` is the number of SQLite VM\n"
                    "instructions one check executes. A steady-state reconcile (all in sync) with the check and from a\n"
                    "cached verdict (without it). Command: `benchmarks/timeline/timeline_bench%s`.\n\n",
                    quick ? " --quick" : "");
        std::printf("| benchmark | rows | time per iteration | iterations | vm_ops |\n|---|---:|---:|---:|---:|\n");
        return true;
    }
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (r.error_occurred) {
                std::printf("| %s | | error: %s | | |\n", r.benchmark_name().c_str(), r.error_message.c_str());
                continue;
            }
            auto counter = [&](const char* k) -> std::string {
                auto it = r.counters.find(k);
                return it == r.counters.end() ? "" : std::to_string(static_cast<long long>(it->second.value));
            };
            std::printf("| %s | %s | %.1f %s | %lld | %s |\n", r.run_name.function_name.c_str(), counter("rows").c_str(),
                        r.GetAdjustedRealTime(), benchmark::GetTimeUnitString(r.time_unit),
                        static_cast<long long>(r.iterations), counter("vm_ops").c_str());
        }
        std::fflush(stdout);
    }
    bool quick = false;
};

} // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::string(argv[i]) == "--quick") quick = true;
        else args.push_back(argv[i]);
    }
    const std::vector<std::int64_t> sizes = quick ? std::vector<std::int64_t>{1000, 10000}
                                                  : std::vector<std::int64_t>{1000, 10000, 100000};
    for (auto n : sizes) {
        benchmark::RegisterBenchmark("timeline_check", timeline_check)->Arg(n)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark("reconcile_with_check", reconcile_with_check)->Arg(n)->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark("reconcile_without_check", reconcile_without_check)->Arg(n)->Unit(benchmark::kMillisecond);
    }
    int count = static_cast<int>(args.size());
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
    markdown_reporter md;
    md.quick = quick;
    benchmark::RunSpecifiedBenchmarks(&md);
    benchmark::Shutdown();
    return 0;
}
