// simulate: run concord's deterministic simulator over your own entity model.
//
// Example-based tests cover the histories you thought of. The simulator (concord/testing/simulator.hpp,
// docs/testing.md) generates the others from a seed: the user creates, edits, deletes and re-does
// subscriptions, takes backups and restores any of them (also of another database file), opens another
// database, reconciles with trust_local, trust_remote, ask_user or trust_local + orphans asked, while
// the provider times out, rate-limits, delivers creates twice, changes pages under a listing, the
// process crashes inside apply, local commits fail and the clock jumps past the idempotency-key
// retention. After every step it checks the invariants concord promises:
//   1. no conceptual charge is taken twice (per identity, at most one active remote object that
//      concord's own create calls produced);
//   2. every remote object of ours without a local row is classified (orphan, duplicate or
//      stale_inbound) by the next plan, and after a clean reconcile none of them can still take money;
//   3. no foreign object is ever modified;
//   4. no local data is lost that a backup or a committed transaction holds;
//   5. once faults stop, one reconcile settles everything and the next plans nothing.
// Simulating your own entity checks them against your identity (here customer + plan code), your
// notion of what takes money and your references (an add-on refers to the subscription it extends),
// which the project's own model (tests/simulation/sim_item.hpp) cannot do for you.
//
//   simulate [SEEDS]      seeds 1..SEEDS (default: $CONCORD_SIM_SEEDS, else 200), 100 steps each
//   simulate --seed N     replay seed N alone and print its trace
//
// Every tenth seed is run a second time on a fresh simulation and must give the same trace hash. A
// failing seed prints the violated invariant, the step list shrunk by the library (steps removed
// while the run still fails), the trace of the shrunk run and the command that replays it; the
// replay is exact because everything inside a run is drawn from the seed.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/testing/simulator.hpp>

namespace sim = concord::testing;

// The entity of this example's host: a customer's subscription to a plan. "free" plans cannot take
// money; an add-on names the subscription it extends (customer:plan), or is "" for none.
struct subscription {
    BOOST_HANA_DEFINE_STRUCT(subscription, (std::int64_t, id), (std::string, customer), (std::string, plan),
                             (std::int64_t, cents), (std::string, note), (std::string, add_on_to));
};

// How the simulated host creates, edits and relates subscriptions (the sim_model concept).
struct subscription_model {
    using entity_type = subscription;
    // What identifies a subscription in the user's world; database ids do not survive a restore.
    using identity_type = concord::identity::natural_key<&subscription::customer, &subscription::plan>;

    static constexpr std::string_view paid_plans[] = {"basic", "pro", "team"};
    static constexpr std::int64_t list_price[] = {900, 2900, 9900};

    // Each serial is a new customer, so every creation is a new conceptual subscription; a redo
    // after a restore re-uses the same one, which is what concord must recognise.
    static subscription make(sim::sim_rng& rng, std::uint64_t serial, bool takes_money, const std::string& parent) {
        subscription s{0, "cust-" + std::to_string(serial), "free", 0, note(rng), parent};
        if (takes_money) {
            const auto p = static_cast<std::size_t>(rng.below(std::size(paid_plans)));
            s.plan = std::string(paid_plans[p]);
            s.cents = list_price[p];
        }
        return s;
    }
    // An edit changes content, never the identity members nor whether it takes money.
    static subscription edit(const subscription& s, sim::sim_rng& rng) {
        subscription x = s;
        if (takes_money(x)) x.cents = 500 + static_cast<std::int64_t>(rng.below(10'000));
        x.note = note(rng);
        return x;
    }
    // The simulator keys its oracle by this string: one string per identity, so both members. A key
    // that does not match identity_type makes the oracle report violations that are the model's own.
    static std::string key(const subscription& s) { return s.customer + ":" + s.plan; }
    static std::string parent(const subscription& s) { return s.add_on_to; }
    static bool takes_money(const subscription& s) { return s.plan != "free"; }
    // Someone else's object on the provider: concord must report it and never touch it.
    static subscription foreign(std::uint64_t serial) {
        return {0, "other-app-" + std::to_string(serial), "pro", 2900, "theirs", ""};
    }

private:
    static std::string note(sim::sim_rng& rng) { return "note-" + std::to_string(rng.below(5)); }
};
static_assert(sim::sim_model<subscription_model>);

namespace {

constexpr std::size_t steps_per_seed = 100;
using simulation = sim::simulation<subscription_model>;

bool parse_count(std::string_view text, std::uint64_t& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && out > 0;
}

// What a failing seed prints: the library shrinks the step list; rerunning the shrunk list gives
// the trace to read. Replaying the seed runs its full list again, identically.
void report_failure(simulation& s, std::uint64_t seed, const sim::sim_result& r, std::string_view self) {
    std::cout << "FAILED seed " << seed << " at step " << r.failed_step << ": " << r.failure << "\n";
    const auto shrunk = s.shrink(seed, sim::generate_steps(seed, s.options().steps));
    const auto again = simulation(s.options()).run(seed, shrunk);  // a fresh object: probes not counted twice
    std::cout << "shrunk to " << shrunk.size() << " steps (still failing: " << (again.ok ? "no" : "yes") << "):\n";
    for (const auto& st : shrunk) std::cout << "  " << st.text() << "\n";
    std::cout << "trace of the shrunk run:\n" << again.trace_text;
    std::cout << "replay: " << self << " --seed " << seed << "\n";
}

int replay(std::uint64_t seed, std::string_view self) {
    simulation s({.steps = steps_per_seed});
    const auto r = s.run(seed);
    std::cout << r.trace_text;
    std::cout << "seed " << seed << " trace " << r.trace_hash.hex() << (r.ok ? " ok" : " FAILED") << "\n";
    if (!r.ok) {
        report_failure(s, seed, r, self);
        std::cout << "simulate: FAILED\n";
        return 1;
    }
    std::cout << "simulate: OK (seed " << seed << " x " << r.steps_run << " steps, 0 invariant violations)\n";
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string_view self = argc > 0 ? argv[0] : "simulate";
    std::uint64_t seeds = 200;
    if (const char* env = std::getenv("CONCORD_SIM_SEEDS"); env && *env && !parse_count(env, seeds)) {
        std::cout << "CONCORD_SIM_SEEDS is not a positive count: " << env << "\nsimulate: FAILED\n";
        return 1;
    }
    auto usage = [&] {
        std::cout << "usage: " << self << " [SEEDS] | --seed N\nsimulate: FAILED\n";
        return 1;
    };
    if (argc == 3 && std::string_view(argv[1]) == "--seed") {
        std::uint64_t one = 0;
        return parse_count(argv[2], one) ? replay(one, self) : usage();
    }
    // seeds: the argument, else the environment, else the default
    if (argc > 2 || (argc == 2 && !parse_count(argv[1], seeds))) return usage();

    simulation s({.steps = steps_per_seed});
    std::uint64_t runs = 0, failures = 0, replays = 0, nondeterministic = 0, steps_run = 0, crash_points = 0;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
        const auto r = s.run(seed);
        ++runs;
        steps_run += r.steps_run;
        crash_points += r.boundaries;
        if (seed == 1) {
            // What a trace looks like: the seed's fault profile, then one line per step.
            std::cout << "trace of seed 1 (hash " << r.trace_hash.hex() << "), first lines:\n";
            for (std::size_t at = 0, line = 0; line < 4 && at < r.trace_text.size(); ++line) {
                const auto nl = r.trace_text.find('\n', at);  // trace::add ends every line with one
                std::cout << "  " << r.trace_text.substr(at, nl - at) << "\n";
                at = nl + 1;
            }
        }
        if (!r.ok) {
            ++failures;
            report_failure(s, seed, r, self);
            if (failures >= 3) break;  // shrinking is slow; three stories are enough to start with
            continue;
        }
        // Determinism: every tenth seed again, on a fresh simulation object so that the replay's
        // probes are not counted twice below.
        if (seed % 10 == 1) {
            ++replays;
            const auto again = simulation({.steps = steps_per_seed}).run(seed);
            if (again.trace_hash != r.trace_hash) {
                ++nondeterministic;
                std::cout << "NONDETERMINISTIC seed " << seed << ": trace " << r.trace_hash.hex() << " then "
                          << again.trace_hash.hex() << "\n";
            }
        }
    }

    // Coverage: what the seeds exercised, so a passing run is known to have tested something.
    const auto& probes = s.probes();
    std::uint64_t faults = 0;
    for (auto n : probes.faults) faults += n;
    std::cout << "coverage over " << runs << " seeds (" << steps_run << " steps, " << crash_points
              << " crash points passed):\n"
              << probes.text() << "\n";
    const auto missing = probes.missing();
    std::cout << "probes never reached:";
    for (const auto& m : missing) std::cout << " " << m << ";";
    std::cout << (missing.empty() ? " none\n" : " (run more seeds)\n");

    if (failures || nondeterministic) {
        std::cout << "simulate: FAILED (" << failures << " failing seed(s), " << nondeterministic
                  << " nondeterministic replay(s))\n";
        return 1;
    }
    std::cout << "simulate: OK (" << runs << " seeds x " << s.options().steps << " steps, 0 invariant violations, "
              << replays << " replays with equal trace hashes, " << faults << " faults injected)\n";
    return 0;
}
