#pragma once
// Deterministic simulation testing for concord integrations (FoundationDB / TigerBeetle style).
//
// One 64-bit seed drives everything: the fault rates of the run (swarm testing: some fault classes
// are switched off entirely per seed), the list of steps (host actions, backups, restores of any
// earlier backup, opening another database, reconciles with each strategy, clock jumps, foreign
// objects) and, through a per-step sub-seed, every choice inside a step (which entity, which fault,
// where to crash, how the seeded user answers decisions). Re-running a seed replays it exactly; a
// failing step list is shrunk by removing steps while the failure persists.
//
// The simulator is generic: a user plugs in their own entity through a Model (how the host creates,
// edits and relates entities) and a Backend (the restorable database: memory_backend here, the
// SQLite store in tests/simulation). Invariants checked after every step (docs/testing.md):
//   1. no conceptual charge is taken twice: per identity at most one active remote object that
//      concord itself created (with sim_options::retag also: no plan creates an identity while the
//      store's link names an object another installation took over, unless the user chose it);
//   2. every remote object we own whose identity has no local entity is classified by the next plan
//      (orphan, duplicate or stale_inbound), and once every decision is resolved and apply succeeded
//      none of them is left able to take money;
//   3. no foreign object is ever modified;
//   4. no local data is lost that a backup or a committed transaction holds: a restore yields the
//      backup's rows exactly, a crash keeps committed rows, and a reconcile changes a local row only
//      through an action of its plan;
//   5. after faults stop, a reconcile settles everything and a second plan has no action and no
//      decision.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <concord/cases.hpp>
#include <concord/clock.hpp>
#include <concord/decisions.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>
#include <concord/witness.hpp>

namespace concord::testing {

// ------------------------------------------------------------------------------------ randomness

/// Platform-stable PRNG (xoshiro256**, seeded by splitmix64). std::mt19937 is stable but the
/// standard distributions are not, so every draw here is integer arithmetic of our own.
class sim_rng {
public:
    explicit sim_rng(std::uint64_t seed) noexcept {
        for (auto& w : s_) w = splitmix(seed);
    }
    std::uint64_t next() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    /// Draw in [0, n) by rejection, so no value is favoured. n == 0 (an empty range) is
    /// errc::invalid_argument: a model that draws from an empty list has a bug worth seeing.
    std::uint64_t below(std::uint64_t n) {
        if (n == 0) throw error(errc::invalid_argument, "sim_rng::below(0): no value to draw from an empty range");
        const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
        for (;;) {
            const std::uint64_t x = next();
            if (x < limit) return x % n;
        }
    }
    /// True with probability per_million / 1e6.
    bool chance(std::uint32_t per_million) noexcept { return per_million > 0 && below(1'000'000) < per_million; }
    /// A sub-seed for an independent stream (per step), stable when other steps are removed.
    static std::uint64_t derive(std::uint64_t seed, std::uint64_t stream) noexcept {
        std::uint64_t x = seed ^ (stream * 0x9E3779B97F4A7C15ULL);
        return splitmix(x);
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix(std::uint64_t& x) noexcept {
        std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::uint64_t s_[4];
};

// ------------------------------------------------------------------------------------ fault model

/// The fault classes the simulator injects (docs/testing.md, "Fault model").
enum class fault_class : std::uint8_t {
    timeout_after,       ///< the remote applied a call, the response was lost
    timeout_before,      ///< the call timed out before the remote saw it
    transient,           ///< 503: nothing applied
    rate_limit,          ///< 429, checked before idempotency
    duplicate_delivery,  ///< the remote applied one create twice (two objects, one request)
    page_changed,        ///< a new object appears between two page calls of one listing
    cursor_regression,   ///< a page restarts below the requested cursor
    repeated_listing,    ///< a page repeats a record (duplicate delivery in a listing)
    crash,               ///< the process dies at a step boundary of apply (before/after a write)
    clock_jump,          ///< the clock jumps past the idempotency-key retention window
    store_failure,       ///< the local transaction fails
};
inline constexpr std::size_t fault_class_count = 11;

constexpr std::string_view to_string(fault_class f) noexcept {
    switch (f) {
    case fault_class::timeout_after: return "timeout_after";
    case fault_class::timeout_before: return "timeout_before";
    case fault_class::transient: return "transient";
    case fault_class::rate_limit: return "rate_limit";
    case fault_class::duplicate_delivery: return "duplicate_delivery";
    case fault_class::page_changed: return "page_changed";
    case fault_class::cursor_regression: return "cursor_regression";
    case fault_class::repeated_listing: return "repeated_listing";
    case fault_class::crash: return "crash";
    case fault_class::clock_jump: return "clock_jump";
    case fault_class::store_failure: return "store_failure";
    }
    return "unknown";
}

/// Per-seed fault rates (per million opportunities). Swarm testing: a seed switches some classes
/// off entirely, so rare interactions between the remaining ones get room to happen.
struct fault_profile {
    std::array<std::uint32_t, fault_class_count> per_million{};

    std::uint32_t rate(fault_class f) const noexcept { return per_million[static_cast<std::size_t>(f)]; }
    bool enabled(fault_class f) const noexcept { return rate(f) > 0; }

    /// Each class off with probability 1/3, else one of 0.5%, 2%, 5%, 15%.
    static fault_profile swarm(sim_rng& r) {
        static constexpr std::uint32_t levels[] = {5'000, 20'000, 50'000, 150'000};
        fault_profile p;
        for (auto& x : p.per_million) x = r.below(3) == 0 ? 0 : levels[r.below(4)];
        return p;
    }
    /// Every fault off (the quiet phase).
    static fault_profile off() { return {}; }

    std::string text() const {
        std::string s;
        for (std::size_t i = 0; i < fault_class_count; ++i) {
            if (!s.empty()) s += ' ';
            s += std::string(to_string(static_cast<fault_class>(i))) + '=' + std::to_string(per_million[i] / 1000) + "/1000";
        }
        return s;
    }
};

// ------------------------------------------------------------------------------------ coverage

/// Coverage probes: how often each fault class was injected, each case classified and each verdict
/// seen. A CI run fails when one of them was never reached (the run did not test what it claims).
struct coverage {
    std::array<std::uint64_t, fault_class_count> faults{};
    std::array<std::uint64_t, case_count> cases{};
    std::array<std::uint64_t, 5> verdicts{};
    std::map<std::string, std::uint64_t> events;  ///< other probes (bad_page refused, decision answered, ...)

    void fault(fault_class f) noexcept { ++faults[static_cast<std::size_t>(f)]; }
    void event(const std::string& name) { ++events[name]; }

    void merge(const coverage& o) {
        for (std::size_t i = 0; i < faults.size(); ++i) faults[i] += o.faults[i];
        for (std::size_t i = 0; i < cases.size(); ++i) cases[i] += o.cases[i];
        for (std::size_t i = 0; i < verdicts.size(); ++i) verdicts[i] += o.verdicts[i];
        for (const auto& [k, v] : o.events) events[k] += v;
    }

    /// The probes never reached: every fault class, case and verdict must be.
    std::vector<std::string> missing() const {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < faults.size(); ++i)
            if (!faults[i]) out.push_back("fault " + std::string(to_string(static_cast<fault_class>(i))));
        for (std::size_t i = 0; i < cases.size(); ++i)
            if (!cases[i]) out.push_back("case " + std::string(to_string(static_cast<case_kind>(i))));
        for (std::size_t i = 0; i < verdicts.size(); ++i)
            if (!verdicts[i]) out.push_back("verdict " + std::string(to_string(static_cast<verdict>(i))));
        return out;
    }

    std::string text() const {
        std::ostringstream os;
        os << "faults:";
        for (std::size_t i = 0; i < faults.size(); ++i) os << ' ' << to_string(static_cast<fault_class>(i)) << '=' << faults[i];
        os << "\ncases:";
        for (std::size_t i = 0; i < cases.size(); ++i) os << ' ' << to_string(static_cast<case_kind>(i)) << '=' << cases[i];
        os << "\nverdicts:";
        for (std::size_t i = 0; i < verdicts.size(); ++i) os << ' ' << to_string(static_cast<verdict>(i)) << '=' << verdicts[i];
        os << "\nevents:";
        for (const auto& [k, v] : events) os << ' ' << k << '=' << v;
        return os.str();
    }
};

/// The trace of one run: every step and what came of it, hashed with XXH3-128 (platform-stable) so
/// two runs of one seed can be compared. Lineage ids (random by design) are kept out of it.
class trace {
public:
    void add(std::string_view line) {
        text_.append(line);
        text_.push_back('\n');
    }
    key128 hash() const noexcept { return xxh3_128(text_); }
    const std::string& text() const noexcept { return text_; }

private:
    std::string text_;
};

/// Thrown from the step hook to simulate a process crash: not a concord::error, so nothing in the
/// engine catches it, as nothing survives a real crash.
struct simulated_crash {
    std::string where;
};

/// An invariant did not hold.
class invariant_violation : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// ------------------------------------------------------------------------------------ faulty remote

/// A RemoteSource wrapping memory_remote that adds the faults memory_remote does not model itself
/// (duplicate deliveries, pages that change between calls, cursor regressions, repeated records)
/// and records which objects concord's own create calls produced (the oracle's ground truth).
template <entity E>
class faulty_remote {
public:
    using entity_type = E;

    faulty_remote(memory_remote<E>& inner, std::function<bool(const E&)> takes_money)
        : inner_(&inner), takes_money_(std::move(takes_money)) {}

    static metadata_limits limits() { return memory_remote<E>::limits(); }

    /// Turns faults on with `profile`, drawing from `rng` and counting into `probes`; `plant_foreign`
    /// inserts someone else's object between two page calls. nullptr profile: faults off.
    void arm(const fault_profile* profile, sim_rng* rng, coverage* probes, std::function<void()> plant_foreign) {
        profile_ = profile;
        rng_ = rng;
        probes_ = probes;
        plant_foreign_ = std::move(plant_foreign);
    }

    page<E> list(std::optional<std::uint64_t> after, std::size_t limit) {
        if (after && plant_foreign_ && draw(fault_class::page_changed)) {
            plant_foreign_();
            probes_->fault(fault_class::page_changed);
        }
        if (after && draw(fault_class::cursor_regression)) {
            auto p = inner_->list(std::nullopt, limit);
            if (!p.items.empty() && p.items.front().seq <= *after) {
                probes_->fault(fault_class::cursor_regression);
                return p;
            }
        }
        auto p = inner_->list(after, limit);
        if (!p.items.empty() && draw(fault_class::repeated_listing)) {
            p.items.push_back(p.items.back());
            probes_->fault(fault_class::repeated_listing);
        }
        return p;
    }

    remote_record<E> create(const E& e, const metadata& m, const std::string& key) {
        ++calls_;
        inner_->set_takes_money(takes_money_(e));
        const auto before = inner_->stats().creates;
        auto note = [&](const remote_record<E>& r) {
            if (inner_->stats().creates == before) return;  // answered from the idempotency cache
            created_.insert(r.remote_id);
            if (draw(fault_class::duplicate_delivery)) {
                auto dup = inner_->put_external(r.value, r.meta, r.takes_money);
                duplicated_.insert(dup.remote_id);
                probes_->fault(fault_class::duplicate_delivery);
            }
        };
        try {
            auto r = inner_->create(e, m, key);
            note(r);
            return r;
        } catch (...) {
            if (inner_->stats().creates != before) note(inner_->all().back());  // applied, then timed out
            throw;
        }
    }
    remote_record<E> update(std::string_view id, const E& e, const std::string& key) {
        ++calls_;
        return inner_->update(id, e, key);
    }
    remote_record<E> cancel(std::string_view id, const std::string& key) {
        ++calls_;
        return inner_->cancel(id, key);
    }
    std::optional<remote_record<E>> find_by_key(const std::string& key) { return inner_->find_by_key(key); }

    memory_remote<E>& inner() noexcept { return *inner_; }
    /// Objects concord's create calls produced (one request, one object).
    const std::set<std::string>& created() const noexcept { return created_; }
    /// Extra copies the remote produced by delivering a create twice.
    const std::set<std::string>& duplicated() const noexcept { return duplicated_; }
    /// Mutating calls made so far (create, update, cancel), whatever their outcome.
    std::size_t mutating_calls() const noexcept { return calls_; }

private:
    bool draw(fault_class f) { return profile_ && rng_->chance(profile_->rate(f)); }

    memory_remote<E>* inner_;
    std::function<bool(const E&)> takes_money_;
    const fault_profile* profile_ = nullptr;
    sim_rng* rng_ = nullptr;
    coverage* probes_ = nullptr;
    std::function<void()> plant_foreign_;
    std::set<std::string> created_, duplicated_;
    std::size_t calls_ = 0;
};

// ------------------------------------------------------------------------------------ backends

/// The restorable local side for the simulation, in memory: several databases (the user may open
/// another one), backups of any of them, restores of any backup into the open one.
template <entity E>
class memory_backend {
public:
    using store_type = memory_store<E>;

    memory_backend() : dbs_(1) {}
    store_type& store() noexcept { return dbs_[current_]; }
    /// Takes a backup of the open database; returns its number.
    std::size_t backup() {
        backups_.push_back(store().snapshot());
        return backups_.size() - 1;
    }
    /// Restores backup `i` (of any database) into the open database.
    void restore(std::size_t i) { store().restore(backups_.at(i)); }
    /// Opens database `i` (a new empty one when i == databases()).
    void open(std::size_t i) {
        if (i >= dbs_.size()) dbs_.resize(i + 1);
        current_ = i;
    }
    std::size_t current() const noexcept { return current_; }
    std::size_t databases() const noexcept { return dbs_.size(); }
    /// After a simulated crash (a new process): in memory nothing committed is lost; a pending
    /// injected commit failure dies with the old process.
    void restart() { store().fail_next_commits(0); }
    /// Makes the next local transaction fail; false when the backend cannot.
    bool fail_next_commit() {
        store().fail_next_commits(1);
        return true;
    }

private:
    std::vector<store_type> dbs_;
    std::vector<typename store_type::snapshot_type> backups_;
    std::size_t current_ = 0;
};

// ------------------------------------------------------------------------------------ steps

/// What a simulation step does.
enum class step_kind : std::uint8_t {
    create,         ///< the user creates an entity that cannot take money
    charge,         ///< the user creates a money-taking entity (a charge, a plan)
    create_child,   ///< a money-taking entity referring to another one
    edit,           ///< the user edits an entity
    remove,         ///< the user deletes an entity that cannot take money
    cancel,         ///< the user cancels (deletes) a money-taking entity
    redo,           ///< the user re-does a creation a restore undid
    backup,         ///< a backup of the open database
    restore,        ///< restore of any earlier backup
    open_other,     ///< the user opens a different database
    reconcile,      ///< a reconcile with the step's strategy
    clock_jump,     ///< time passes beyond the idempotency-key retention window
    foreign,        ///< someone else creates an object on the remote
};
inline constexpr std::size_t step_kind_count = 13;

constexpr std::string_view to_string(step_kind k) noexcept {
    switch (k) {
    case step_kind::create: return "create";
    case step_kind::charge: return "charge";
    case step_kind::create_child: return "create_child";
    case step_kind::edit: return "edit";
    case step_kind::remove: return "remove";
    case step_kind::cancel: return "cancel";
    case step_kind::redo: return "redo";
    case step_kind::backup: return "backup";
    case step_kind::restore: return "restore";
    case step_kind::open_other: return "open_other";
    case step_kind::reconcile: return "reconcile";
    case step_kind::clock_jump: return "clock_jump";
    case step_kind::foreign: return "foreign";
    }
    return "unknown";
}

/// Reconcile strategies the simulation exercises.
enum class strategy : std::uint8_t { trust_local, trust_remote, ask_user, orphans_ask };
inline constexpr std::size_t strategy_count = 4;

constexpr std::string_view to_string(strategy s) noexcept {
    switch (s) {
    case strategy::trust_local: return "trust_local";
    case strategy::trust_remote: return "trust_remote";
    case strategy::ask_user: return "ask_user";
    case strategy::orphans_ask: return "trust_local+orphan:ask_user";
    }
    return "unknown";
}

/// One step: its kind, the strategy (reconcile) and a sub-seed for every choice inside it.
struct step {
    step_kind kind = step_kind::reconcile;
    strategy strat = strategy::trust_local;
    std::uint64_t salt = 0;

    std::string text() const {
        std::string s(to_string(kind));
        if (kind == step_kind::reconcile) s += "(" + std::string(to_string(strat)) + ")";
        return s + " #" + std::to_string(salt % 1'000'000);
    }
};

/// Settings of a simulation run.
struct sim_options {
    std::size_t steps = 200;
    /// Switch every fault off (tests of the driver itself, the exhaustive small scope).
    bool faults = true;
    /// Idempotency-key retention of the remote (seconds).
    std::int64_t key_retention = 24 * 3600;
    /// Exhaustive scope: crash exactly at the n-th step boundary of the run (counted over every
    /// apply), whatever the fault profile says.
    std::optional<std::size_t> crash_at = std::nullopt;
    /// Foreign writers also take over objects of ours: half of the `foreign` steps rewrite the owner
    /// tag of one of our active objects to another installation's. Invariant 3 then covers the object,
    /// and a plan must not create it again while the local entity's link still names it, unless the
    /// user chose so. Off by default, which keeps every earlier seed's history as it was.
    bool retag = false;
};

/// The outcome of one run.
struct sim_result {
    bool ok = true;
    std::string failure;       ///< the violated invariant, in words
    std::size_t failed_step = 0;
    key128 trace_hash;
    std::string trace_text;
    std::size_t steps_run = 0;
    std::size_t boundaries = 0;  ///< step boundaries apply() passed (crash points of the run)
};

/// Draws the step list of a seed (the step kinds' weights are fixed, the order is the seed's).
inline std::vector<step> generate_steps(std::uint64_t seed, std::size_t n) {
    // weights in step_kind order
    static constexpr std::uint32_t weights[step_kind_count] = {12, 10, 5, 12, 5, 5, 5, 8, 6, 2, 24, 2, 3};
    std::uint32_t total = 0;
    for (auto w : weights) total += w;
    sim_rng r(sim_rng::derive(seed, 0x5eed));
    std::vector<step> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto x = static_cast<std::uint32_t>(r.below(total));
        std::size_t k = 0;
        while (x >= weights[k]) x -= weights[k++];
        step s;
        s.kind = static_cast<step_kind>(k);
        s.strat = static_cast<strategy>(r.below(strategy_count));
        s.salt = r.next();
        out.push_back(s);
    }
    return out;
}

// ------------------------------------------------------------------------------------ simulation

/// A Model tells the simulator how the host creates and relates entities of type E:
///   using entity_type = E; using identity_type = <identity policy>;
///   static E make(sim_rng&, std::uint64_t serial, bool takes_money, const std::string& parent_key);
///   static E edit(const E&, sim_rng&);
///   static std::string key(const E&);     // the natural key the identity policy uses
///   static std::string parent(const E&);  // the key it refers to, or ""
///   static bool takes_money(const E&);
///   static E foreign(std::uint64_t serial);  // an object someone else creates
template <class M>
concept sim_model = entity<typename M::entity_type> &&
    requires(sim_rng& r, const typename M::entity_type& e, std::uint64_t n, const std::string& s) {
        typename M::identity_type;
        { M::make(r, n, true, s) } -> std::same_as<typename M::entity_type>;
        { M::edit(e, r) } -> std::same_as<typename M::entity_type>;
        { M::key(e) } -> std::convertible_to<std::string>;
        { M::parent(e) } -> std::convertible_to<std::string>;
        { M::takes_money(e) } -> std::convertible_to<bool>;
        { M::foreign(n) } -> std::same_as<typename M::entity_type>;
    };

/// Runs one seed's history over Model's entities in Backend, checking the invariants after every step.
template <sim_model Model, class Backend = memory_backend<typename Model::entity_type>>
class simulation {
public:
    using E = typename Model::entity_type;
    using store_type = typename Backend::store_type;
    using remote_type = faulty_remote<E>;

    /// `make_backend` builds a fresh backend per run (a SQLite backend needs a fresh directory).
    explicit simulation(sim_options opts = {}, std::function<Backend()> make_backend = [] { return Backend{}; })
        : opts_(opts), make_backend_(std::move(make_backend)) {}

    /// Runs the seed's own step list.
    sim_result run(std::uint64_t seed) { return run(seed, generate_steps(seed, opts_.steps)); }

    /// Runs `steps` with the seed's fault profile (shrinking and replays).
    sim_result run(std::uint64_t seed, const std::vector<step>& steps) {
        world w(*this, seed);
        sim_result res;
        std::size_t i = 0;
        try {
            for (; i < steps.size(); ++i) {
                w.do_step(steps[i]);
                ++res.steps_run;
            }
            w.quiesce();
        } catch (const invariant_violation& v) {
            res.ok = false;
            res.failure = v.what();
            res.failed_step = i;
        } catch (const std::exception& e) {
            res.ok = false;
            res.failure = std::string("unexpected exception: ") + e.what();
            res.failed_step = i;
        }
        probes_.merge(w.probes);
        res.boundaries = w.boundaries;
        res.trace_hash = w.tr.hash();
        res.trace_text = w.tr.text();
        return res;
    }

    /// Removes steps while the run still fails (delta debugging, chunk sizes halving down to one).
    std::vector<step> shrink(std::uint64_t seed, std::vector<step> steps, std::size_t max_runs = 2000) {
        std::size_t runs = 0;
        auto fails = [&](const std::vector<step>& s) {
            ++runs;
            coverage saved = probes_;
            bool f = !run(seed, s).ok;
            probes_ = saved;
            return f;
        };
        for (std::size_t chunk = std::max<std::size_t>(1, steps.size() / 2); chunk >= 1 && runs < max_runs;) {
            bool removed = false;
            for (std::size_t at = 0; at < steps.size() && runs < max_runs;) {
                std::vector<step> cand;
                cand.reserve(steps.size());
                for (std::size_t j = 0; j < steps.size(); ++j)
                    if (j < at || j >= at + chunk) cand.push_back(steps[j]);
                if (cand.size() < steps.size() && fails(cand)) {
                    steps = std::move(cand);
                    removed = true;
                } else {
                    at += chunk;
                }
            }
            if (!removed) {
                if (chunk == 1) break;
                chunk /= 2;
            }
        }
        return steps;
    }

    /// Probes accumulated over every run of this simulation object.
    const coverage& probes() const noexcept { return probes_; }
    coverage& probes() noexcept { return probes_; }
    const sim_options& options() const noexcept { return opts_; }

private:
    using identity_type = typename Model::identity_type;

    // One run's world: both sides, the witness and decisions (outside the restore scope), the clock
    // and the oracle's independent record of what the user did.
    struct world {
        simulation& sim;
        std::uint64_t seed;
        sim_rng rng;          // per-step choices (re-seeded from each step's salt)
        fault_profile profile;
        fault_profile quiet = fault_profile::off();
        bool faults_on = true;
        coverage probes;
        trace tr;
        Backend backend;
        manual_clock clock;
        memory_remote<E> inner;
        remote_type remote;
        memory_witness witness;
        memory_decision_book book;
        std::uint64_t serial = 0;
        std::size_t page_size = 100;
        // oracle
        std::vector<std::map<std::string, E>> backup_rows;  // backup number -> rows by key
        std::vector<std::size_t> backup_db;                  // backup number -> database it was taken of
        std::vector<E> journal;                              // every creation the user made (for redo)
        std::map<std::string, remote_record<E>> foreign;     // foreign objects as created
        std::map<std::string, remote_record<E>> retagged;    // objects of ours another installation took over
        std::set<key128> consented;                          // identities the user chose to create again
        std::set<std::string> live_keys;                     // local keys at plan time (reference check)
        std::size_t boundaries = 0;                          // step-hook calls so far

        world(simulation& s, std::uint64_t sd)
            : sim(s), seed(sd), rng(sd), backend(s.make_backend_()),
              inner([this] { return clock.now(); }, s.opts_.key_retention),
              remote(inner, [](const E& e) { return Model::takes_money(e); }) {
            sim_rng pr(sim_rng::derive(seed, 0xfa17));
            profile = s.opts_.faults ? fault_profile::swarm(pr) : fault_profile::off();
            static constexpr std::size_t sizes[] = {2, 3, 7, 100};
            page_size = sizes[pr.below(4)];
            tr.add("seed " + std::to_string(seed) + " profile " + profile.text() + " page " + std::to_string(page_size));
            inner.set_fault_chooser([this](std::string_view) { return draw_call_fault(); });
        }

        const fault_profile& active() const { return faults_on ? profile : quiet; }

        fault draw_call_fault() {
            const auto& p = active();
            if (rng.chance(p.rate(fault_class::timeout_after))) return probes.fault(fault_class::timeout_after), fault::timeout_after;
            if (rng.chance(p.rate(fault_class::timeout_before))) return probes.fault(fault_class::timeout_before), fault::timeout_before;
            if (rng.chance(p.rate(fault_class::transient))) return probes.fault(fault_class::transient), fault::transient;
            if (rng.chance(p.rate(fault_class::rate_limit))) return probes.fault(fault_class::rate_limit), fault::rate_limit;
            return fault::none;
        }

        void fail(const std::string& why) { throw invariant_violation(why); }

        store_type& db() { return backend.store(); }

        std::map<std::string, E> rows() {
            std::map<std::string, E> out;
            for (auto& e : db().scan()) out[Model::key(e)] = e;
            return out;
        }

        template <class F>
        std::optional<E> pick(F&& pred) {
            std::vector<E> c;
            for (auto& e : db().scan())
                if (pred(e)) c.push_back(e);
            if (c.empty()) return std::nullopt;
            return c[rng.below(c.size())];
        }

        // ------------------------------------------------------------------ steps

        void do_step(const step& s) {
            rng = sim_rng(sim_rng::derive(seed, s.salt));
            std::string line = s.text() + ":";
            switch (s.kind) {
            case step_kind::create:
            case step_kind::charge:
            case step_kind::create_child: {
                std::string parent;
                if (s.kind == step_kind::create_child) {
                    auto p = pick([](const E&) { return true; });
                    if (!p) break;
                    parent = Model::key(*p);
                }
                E e = Model::make(rng, ++serial, s.kind != step_kind::create, parent);
                set_local_id(e, 0);
                journal.push_back(e);
                db().put(e);
                line += " put " + Model::key(e);
                break;
            }
            case step_kind::edit: {
                auto p = pick([](const E&) { return true; });
                if (!p) break;
                db().put(Model::edit(*p, rng));
                line += " edit " + Model::key(*p);
                break;
            }
            case step_kind::remove:
            case step_kind::cancel: {
                const bool money = s.kind == step_kind::cancel;
                auto p = pick([&](const E& e) { return Model::takes_money(e) == money; });
                if (!p) break;
                db().erase(local_id_of(*p));
                line += " erase " + Model::key(*p);
                break;
            }
            case step_kind::redo: {
                auto have = rows();
                std::vector<E> c;
                for (const auto& e : journal)
                    if (!have.count(Model::key(e))) c.push_back(e);
                if (c.empty()) break;
                E e = c[rng.below(c.size())];
                db().put(e);
                line += " redo " + Model::key(e);
                break;
            }
            case step_kind::backup:
                backup_rows.push_back(rows());
                backup_db.push_back(backend.current());
                line += " backup " + std::to_string(backend.backup());
                break;
            case step_kind::restore: {
                if (backup_rows.empty()) break;
                // The salt picks the backup, so a scripted history (exhaustive scope) names it.
                const auto b = static_cast<std::size_t>(s.salt % backup_rows.size());
                backend.restore(b);
                line += " restore " + std::to_string(b) + (backup_db[b] != backend.current() ? " (of another database)" : "");
                check_rows_equal(backup_rows[b], "restore of backup " + std::to_string(b));
                break;
            }
            case step_kind::open_other: {
                const auto n = backend.databases();
                std::size_t target = static_cast<std::size_t>(rng.below(n + 1));
                if (target == backend.current()) target = n;
                backend.open(target);
                line += " open database " + std::to_string(target);
                break;
            }
            case step_kind::clock_jump:
                if (!active().enabled(fault_class::clock_jump)) {
                    clock.advance(std::chrono::seconds(60));
                    line += " +60s";
                    break;
                }
                clock.advance(std::chrono::seconds(sim.opts_.key_retention + 3600));
                probes.fault(fault_class::clock_jump);
                line += " +retention";
                break;
            case step_kind::foreign: {
                if (sim.opts_.retag && rng.below(2) == 0) {
                    if (auto id = retag_one()) {
                        line += " retag " + *id;
                        break;
                    }
                }
                auto r = plant_foreign(rng.below(4));
                line += " foreign " + r.remote_id;
                break;
            }
            case step_kind::reconcile: line += reconcile(s.strat, true); break;
            }
            tr.add(line);
            // Only reconciles and foreign writers touch the remote; other steps cannot break 1 or 3.
            if (s.kind == step_kind::reconcile || s.kind == step_kind::foreign) check_always();
        }

        remote_record<E> plant_foreign(std::uint64_t variant) {
            E e = Model::foreign(++serial);
            metadata m;
            switch (variant) {
            case 0: break;                                                    // no tag at all
            case 1: m[std::string(meta_keys::owner)] = "concord/v1:other-host:payments"; break;  // another installation
            case 2: m[std::string(meta_keys::owner)] = "concord/v2:broken"; break;               // malformed
            default:                                                         // look-alike: our tag, no identity
                m[std::string(meta_keys::owner)] = owner().text();
                break;
            }
            auto r = inner.put_external(e, m, rng.below(2) == 0);
            foreign[r.remote_id] = r;
            return r;
        }

        static owner_tag owner() { return owner_tag{"sim-host", "payments"}; }

        /// Another installation takes over one of our active objects (sim_options::retag).
        std::optional<std::string> retag_one() {
            std::vector<remote_record<E>> c;
            for (const auto& r : inner.all())
                if (r.state == remote_state::active && ours(r) && !foreign.count(r.remote_id)) c.push_back(r);
            if (c.empty()) return std::nullopt;
            auto r = c[rng.below(c.size())];
            r.meta[std::string(meta_keys::owner)] = "concord/v1:other-host:payments";
            inner.set_metadata_external(r.remote_id, r.meta);
            retagged[r.remote_id] = r;
            probes.event("object of ours retagged");
            return r.remote_id;
        }

        // ------------------------------------------------------------------ reconcile

        template <class Policy>
        auto make_reconciler() {
            reconciler<E, store_type, remote_type, identity_type, Policy> rec(
                db(), remote, reconciler_options{.owner = owner(), .entity_name = "item", .page_size = page_size},
                identity_type{});
            rec.use_decision_book(book);
            rec.use_clock(clock);
            rec.set_reference_check([this](const E& e) {
                auto p = Model::parent(e);
                return p.empty() || live_keys.count(p) > 0;
            });
            return rec;
        }

        std::string reconcile(strategy s, bool with_faults) {
            switch (s) {
            case strategy::trust_local: return reconcile_with<policy::trust_local>(with_faults);
            case strategy::trust_remote: return reconcile_with<policy::trust_remote>(with_faults);
            case strategy::ask_user: return reconcile_with<policy::ask_user>(with_faults);
            case strategy::orphans_ask:
                return reconcile_with<policy::per_case<policy::trust_local, policy::case_<orphan, policy::ask_user>>>(with_faults);
            }
            return {};
        }

        struct outcome {
            bool applied = false;    // apply + commit returned
            bool clean = false;      // ... and no action failed, no decision left open
            std::size_t actions = 0;
            std::size_t decisions = 0;
            bool only_cascade = false;  // every action settles an entity with a reference
        };
        outcome last;

        template <class Policy>
        std::string reconcile_with(bool with_faults) {
            std::string line;
            try {
                line = reconcile_steps<Policy>(with_faults);
            } catch (const invariant_violation& v) {
                throw invariant_violation(std::string(v.what()) + "\n    during reconcile:" + current_line);
            }
            return line;
        }
        std::string current_line;

        template <class Policy>
        std::string reconcile_steps(bool with_faults) {
            faults_on = with_faults;
            last = outcome{};
            remote.arm(with_faults ? &profile : nullptr, &rng, &probes, [this] { plant_foreign(rng.below(4)); });
            auto rec = make_reconciler<Policy>();
            std::ostringstream os;
            const std::uint32_t crash_rate = with_faults ? profile.rate(fault_class::crash) : 0;
            rec.set_step_hook([this, crash_rate](std::string_view where) {
                const bool planned = faults_on && sim.opts_.crash_at && *sim.opts_.crash_at == boundaries;
                ++boundaries;
                if (planned || rng.chance(crash_rate)) {
                    probes.fault(fault_class::crash);
                    probes.event("crash " + std::string(where.substr(0, where.find(' ', 7))));
                    throw simulated_crash{std::string(where)};
                }
            });
            const auto pre = rows();
            current_line.clear();
            auto session = begin_session(witness, db());
            probes.verdicts[static_cast<std::size_t>(session.kind())]++;
            os << " verdict " << to_string(session.kind());
            if (session.status().interrupted) probes.event("interrupted reconcile seen");
            if (session.kind() == verdict::different_database && rng.below(2) == 0) {
                session.adopt_database();
                probes.event("database adopted");
                os << " (adopted)";
            }
            plan<E> p;
            try {
                live_keys.clear();
                for (auto& [k, e] : pre) live_keys.insert(k);
                p = rec.plan(session);
                current_line = os.str() + " [plan: " + describe_plan(p) + "]";
                check_plan(p, pre);
                for (int round = 0; round < 4 && !p.decisions.empty(); ++round) {
                    std::size_t answered = 0;
                    for (const auto& d : p.decisions) {
                        if (with_faults && rng.below(10) == 0) continue;  // the user leaves one open for now
                        const auto choice = d.options[rng.below(d.options.size())].choice;
                        rec.answer(p, d.id, choice);
                        if (choice == resolution::create_remote) consented.insert(d.identity);
                        ++answered;
                        probes.event("decision answered");
                    }
                    if (!answered) break;
                    live_keys.clear();
                    for (auto& [k, e] : pre) live_keys.insert(k);
                    p = rec.plan(session);
                    current_line = os.str() + " [replan: " + describe_plan(p) + "]";
                    check_plan(p, pre);
                }
            } catch (const error& e) {
                if (e.code() != errc::bad_page) throw;
                probes.event("bad page refused");
                os << " plan refused: bad_page";
                return os.str();
            }
            for (std::size_t k = 0; k < case_count; ++k) probes.cases[k] += p.counts[k];
            for (const auto& c : p.cases)
                if (c.set_apart) probes.event("entity whose object was taken over: asked");
            check_no_second_object(p);
            os << " cases";
            for (std::size_t k = 0; k < case_count; ++k)
                if (p.counts[k]) os << ' ' << to_string(static_cast<case_kind>(k)) << '=' << p.counts[k];
            os << " actions " << p.actions.size() << " decisions " << p.decisions.size();
            last.actions = p.actions.size();
            last.only_cascade = std::all_of(p.actions.begin(), p.actions.end(), [&](const action<E>& a) {
                const auto& c = p.cases[a.group];
                const E& any = c.local ? *c.local : c.remote.front().value;
                return !Model::parent(any).empty();
            });
            last.decisions = p.decisions.size();
            bool store_fault = false;
            if (with_faults && rng.chance(profile.rate(fault_class::store_failure)) && backend.fail_next_commit()) {
                probes.fault(fault_class::store_failure);
                store_fault = true;
            }
            const std::size_t calls_before = remote.mutating_calls();
            try {
                auto rep = rec.apply(p, session);
                session.commit();
                last.applied = true;
                std::size_t failed = 0;
                for (const auto& a : rep.actions) {
                    if (a.outcome == "failed") {
                        ++failed;
                        if (a.detail.find("idempotency_conflict") != std::string::npos)
                            fail("a remote call reused an idempotency key with other parameters: " + a.detail);
                        if (a.detail.find("remote_not_found") != std::string::npos ||
                            a.detail.find("is cancelled") != std::string::npos)
                            fail("concord acted on a remote object that is gone: " + a.detail);
                    }
                    os << ' ' << a.action << '/' << a.outcome;
                }
                last.clean = failed == 0 && p.decisions.empty();
                if (failed) probes.event("action failed after retries");
            } catch (const simulated_crash& c) {
                os << " CRASH at " << c.where;
                const auto before = rows();
                backend.restart();
                check_rows_equal(before, "restart after a crash");
            } catch (const error& e) {
                if (e.code() == errc::repeated_failure) probes.event("repeated failure stopped");
                else if (e.code() != errc::store_failure || !store_fault) throw;
                os << " failed: " << to_string(e.code());
                // The remote may hold this apply's effects: the next session must be told it was interrupted.
                if (remote.mutating_calls() != calls_before) {
                    const auto w = witness.load();
                    if (!w || w->in_progress.empty())
                        fail("an apply with remote effects failed (" + std::string(to_string(e.code())) +
                             ") and the witness holds no in-progress mark");
                }
            }
            if (store_fault) backend.restart();
            current_line = os.str() + " [plan: " + describe_plan(p) + "]";
            check_local_changes(pre, p);
            if (last.clean) check_no_money_orphans();
            return os.str();
        }

        static std::string describe_plan(const plan<E>& p) {
            std::string s;
            for (const auto& c : p.cases) {
                s += std::string(to_string(c.kind)) + "(" + c.identity_text;
                for (const auto& r : c.remote) s += " " + r.remote_id;
                s += ") ";
            }
            for (const auto& a : p.actions)
                s += std::string(to_string(a.kind)) + "/" + std::string(to_string(a.why)) + " " + a.remote_id + " ";
            return s;
        }

        // ------------------------------------------------------------------ invariants

        key128 identity_of(const E& e) const { return identity_type{}.key(e); }

        static bool ours_tagged(const remote_record<E>& r) {
            auto it = r.meta.find(std::string(meta_keys::owner));
            return it != r.meta.end() && it->second == owner().text() && r.meta.count(std::string(meta_keys::identity));
        }

        bool ours(const remote_record<E>& r) const {
            if (retagged.count(r.remote_id)) return false;  // no longer provably ours: never concord's to settle
            return remote.created().count(r.remote_id) || remote.duplicated().count(r.remote_id);
        }

        void check_rows_equal(const std::map<std::string, E>& want, const std::string& what) {
            auto have = rows();
            if (have.size() != want.size())
                fail(what + ": " + std::to_string(have.size()) + " local rows, expected " + std::to_string(want.size()));
            for (const auto& [k, e] : want) {
                auto it = have.find(k);
                if (it == have.end()) fail(what + ": local row " + k + " lost");
                if (fingerprint(it->second) != fingerprint(e) || local_id_of(it->second) != local_id_of(e))
                    fail(what + ": local row " + k + " changed: " + concord::to_string(it->second) + " vs " + concord::to_string(e));
            }
        }

        // Invariant 4 for reconciles: every local difference is an action of the plan.
        void check_local_changes(const std::map<std::string, E>& pre, const plan<E>& p) {
            auto post = rows();
            for (const auto& [k, e] : pre) {
                auto it = post.find(k);
                if (it != post.end() && fingerprint(it->second) == fingerprint(e)) continue;
                bool justified = false;
                for (const auto& a : p.actions) {
                    if (a.local_id != local_id_of(e)) continue;
                    if (it == post.end() && a.kind == action_kind::remove_local) justified = true;
                    if (it != post.end() && a.kind == action_kind::upsert_local && a.value &&
                        fingerprint(*a.value) == fingerprint(it->second))
                        justified = true;
                }
                if (!justified) fail("local row " + k + " was " + (it == post.end() ? "lost" : "changed") +
                                     " by a reconcile without a planned action");
            }
            for (const auto& [k, e] : post) {
                if (pre.count(k)) continue;
                bool justified = false;
                for (const auto& a : p.actions)
                    if (a.kind == action_kind::upsert_local && a.local_id == 0 && a.value &&
                        fingerprint(*a.value) == fingerprint(e))
                        justified = true;
                if (!justified) fail("local row " + k + " appeared without a planned import");
            }
        }

        // Invariant 2a: every remote object we own without a local counterpart is classified.
        void check_plan(const plan<E>& p, const std::map<std::string, E>& pre) {
            std::set<key128> local_ids;
            for (const auto& [k, e] : pre) local_ids.insert(identity_of(e));
            std::set<std::string> classified_ids;
            for (const auto& c : p.cases)
                if (c.kind == case_kind::orphan || c.kind == case_kind::duplicate || c.kind == case_kind::stale_inbound)
                    for (const auto& r : c.remote) classified_ids.insert(r.remote_id);
            for (const auto& r : inner.all()) {
                if (r.state != remote_state::active || !ours(r)) continue;
                if (local_ids.count(identity_of(r.value))) continue;
                if (!classified_ids.count(r.remote_id))
                    fail("remote object " + r.remote_id + " of ours (" + Model::key(r.value) +
                         ") has no local counterpart but the plan does not classify it as an orphan");
            }
        }

        // Invariant 1 for objects another installation took over (sim_options::retag): a plan does not
        // create an identity again while the store's link for it names such an object, still listed
        // and active, unless the user chose create_remote for it. Read from the store and the
        // simulation's own record of the takeover, not from the plan's cases.
        void check_no_second_object(const plan<E>& p) {
            if (retagged.empty()) return;
            std::map<key128, std::vector<std::string>> links_of;
            for (const auto& l : db().links()) links_of[l.identity].push_back(l.remote_id);
            for (const auto& a : p.actions) {
                if (a.kind != action_kind::create_remote || consented.count(a.identity)) continue;
                const auto l = links_of.find(a.identity);
                if (l == links_of.end()) continue;
                for (const auto& rid : l->second) {
                    const auto f = retagged.find(rid);
                    if (f != retagged.end() && f->second.state == remote_state::active)
                        fail("the plan creates " + a.identity.hex() + " again while its link names " + rid +
                             ", still listed (taken over by another installation): a second object");
                }
            }
        }

        // Invariant 2b: once decisions are resolved and apply succeeded, no orphan can take money.
        void check_no_money_orphans() {
            std::set<key128> local_ids;
            for (auto& e : db().scan()) local_ids.insert(identity_of(e));
            for (const auto& r : inner.all())
                if (r.state == remote_state::active && r.takes_money && ours(r) && !local_ids.count(identity_of(r.value)))
                    fail("remote object " + r.remote_id + " (" + Model::key(r.value) +
                         ") can still take money but has no local owner after a clean reconcile");
        }

        // Invariants 1 and 3, after every step.
        void check_always() {
            std::map<key128, std::vector<std::string>> active_created;
            // An object concord must leave alone: as its snapshot was, content, metadata and state.
            auto changed = [](const remote_record<E>& now, const remote_record<E>& then) {
                return !(fingerprint(now.value) == fingerprint(then.value)) || now.meta != then.meta || now.state != then.state;
            };
            for (const auto& r : inner.all()) {
                if (auto f = foreign.find(r.remote_id); f != foreign.end()) {
                    if (changed(r, f->second)) fail("foreign object " + r.remote_id + " was modified");
                    continue;
                }
                if (auto f = retagged.find(r.remote_id); f != retagged.end()) {
                    if (changed(r, f->second))
                        fail("object " + r.remote_id + ", taken over by another installation, was modified");
                    continue;
                }
                if (r.state == remote_state::active && remote.created().count(r.remote_id))
                    active_created[identity_of(r.value)].push_back(r.remote_id);
            }
            for (const auto& [id, v] : active_created)
                if (v.size() > 1) {
                    std::string ids;
                    for (const auto& x : v) ids += " " + x;
                    fail("conceptual entity " + id.hex() + " is active twice on the remote, both created by concord:" + ids);
                }
        }

        // Invariant 5: with faults off, one reconcile settles everything, a second plans nothing.
        void quiesce() {
            faults_on = false;
            inner.set_fault_chooser([](std::string_view) { return fault::none; });
            sim_rng pick_rng(sim_rng::derive(seed, 0x9e1));
            const auto s = static_cast<strategy>(pick_rng.below(strategy_count));
            rng = sim_rng(sim_rng::derive(seed, 0x9e2));
            std::string l1 = reconcile(s, false);
            tr.add("quiesce 1 " + std::string(to_string(s)) + ":" + l1);
            if (!last.applied) fail("after faults stopped, a reconcile did not complete:" + l1);
            check_always();
            check_no_money_orphans();
            std::string l2 = reconcile(s, false);
            tr.add("quiesce 2:" + l2);
            // References cascade: a removal or import in one reconcile changes whether a child refers
            // to something, so the next reconcile settles the child (a chain of n references needs n
            // rounds). Extra rounds are allowed only while every action settles such a child.
            for (int round = 3; round < 40 && last.applied && last.decisions == 0 && last.actions != 0 && last.only_cascade;
                 ++round) {
                probes.event("reference cascade settled");
                l2 = reconcile(s, false);
                tr.add("quiesce " + std::to_string(round) + ":" + l2);
            }
            if (!last.applied || last.actions != 0 || last.decisions != 0)
                fail("after faults stopped, the second reconcile still plans work:" + l2 + "\n    " + current_line);
        }
    };

    sim_options opts_;
    std::function<Backend()> make_backend_;
    coverage probes_;
};

} // namespace concord::testing
