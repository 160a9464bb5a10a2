// concord_simulate: the simulation driver (CI run, long run, replay of one seed).
//
//   concord_simulate [--first F] [--seeds N] [--steps S] [--repeat-percent P] [--require-coverage] [--retag]
//   concord_simulate --seed X [--steps S] [--retag] [--trace]      replay one seed, print its trace
//
// Every seed runs S steps with invariants after each; 1 seed in 100 (P) runs twice and must produce
// the same XXH3-128 trace hash. A failing seed is printed with its shrunk step list, and the driver
// exits non-zero. With --require-coverage a probe never reached (fault class, case, verdict) fails
// the run. --retag lets foreign writers take over objects of ours (sim_options::retag); the seeds'
// histories then differ from the runs without it. The environment variable CONCORD_SIM_SEEDS overrides --seeds (sanitizer builds use it).

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "sim_item.hpp"

namespace {
std::uint64_t arg_u64(int& i, int argc, char** argv) {
    if (i + 1 >= argc) {
        std::cerr << "missing value after " << argv[i] << "\n";
        std::exit(2);
    }
    return std::stoull(argv[++i]);
}
} // namespace

int main(int argc, char** argv) {
    std::uint64_t first = 1, seeds = 1000, steps = 200, repeat_percent = 1;
    std::optional<std::uint64_t> one;
    bool require_coverage = false, print_trace = false, retag = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--first") first = arg_u64(i, argc, argv);
        else if (a == "--seeds") seeds = arg_u64(i, argc, argv);
        else if (a == "--steps") steps = arg_u64(i, argc, argv);
        else if (a == "--repeat-percent") repeat_percent = arg_u64(i, argc, argv);
        else if (a == "--seed") one = arg_u64(i, argc, argv);
        else if (a == "--require-coverage") require_coverage = true;
        else if (a == "--trace") print_trace = true;
        else if (a == "--retag") retag = true;
        else {
            std::cerr << "unknown argument " << a << "\n";
            return 2;
        }
    }
    if (const char* env = std::getenv("CONCORD_SIM_SEEDS"); env && *env && !one) seeds = std::stoull(env);

    concord::testing::simulation<sim::item_model> sim({.steps = steps, .retag = retag});
    auto report_failure = [&](std::uint64_t seed, const concord::testing::sim_result& r) {
        std::cout << "FAILED seed " << seed << " at step " << r.failed_step << ": " << r.failure << "\n";
        auto shrunk = sim.shrink(seed, concord::testing::generate_steps(seed, steps));
        auto again = sim.run(seed, shrunk);
        std::cout << "shrunk to " << shrunk.size() << " steps (still failing: " << (again.ok ? "no" : "yes") << ": "
                  << again.failure << "):\n";
        for (const auto& s : shrunk) std::cout << "  " << s.text() << "\n";
        std::cout << "trace of the shrunk run:\n" << again.trace_text;
        std::cout << "replay: concord_simulate --seed " << seed << " --steps " << steps << (retag ? " --retag" : "")
                  << " --trace\n";
    };

    if (one) {
        auto r = sim.run(*one);
        if (print_trace) std::cout << r.trace_text;
        std::cout << "seed " << *one << " trace " << r.trace_hash.hex() << (r.ok ? " ok" : " FAILED") << "\n";
        if (!r.ok) report_failure(*one, r);
        return r.ok ? 0 : 1;
    }

    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t failures = 0, repeats = 0;
    for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
        auto r = sim.run(seed);
        if (!r.ok) {
            ++failures;
            report_failure(seed, r);
            if (failures >= 3) break;
            continue;
        }
        if (repeat_percent && concord::testing::sim_rng::derive(seed, 0x7e9) % 100 < repeat_percent) {
            ++repeats;
            auto r2 = sim.run(seed);
            if (r2.trace_hash != r.trace_hash) {
                ++failures;
                std::cout << "NONDETERMINISTIC seed " << seed << ": trace " << r.trace_hash.hex() << " then "
                          << r2.trace_hash.hex() << "\n";
            }
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "seeds " << first << ".." << (first + seeds - 1) << " x " << steps << " steps: " << failures
              << " failure(s), " << repeats << " replayed for determinism, " << secs << " s, "
              << static_cast<double>(seeds) / (secs > 0 ? secs : 1) << " seeds/s\n";
    std::cout << sim.probes().text() << "\n";
    if (require_coverage) {
        auto missing = sim.probes().missing();
        for (const auto& m : missing) std::cout << "COVERAGE never reached: " << m << "\n";
        if (!missing.empty()) return 1;
    }
    return failures ? 1 : 0;
}
