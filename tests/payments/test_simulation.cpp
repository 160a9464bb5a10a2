// Randomised stories: a user charging, refunding, creating and cancelling plans, backing up,
// restoring any backup, reconciling under any policy (answering decisions or leaving them open),
// letting days pass beyond the key window, with provider faults and crashes in between. Seeded, so
// every failure replays. After every step: no invoice is charged twice, no plan identity has two
// active plans of ours; the only refusals are the documented ones. At the end a trust_local
// reconcile leaves no orphan and nothing more to do.

#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace payments_test;
namespace pay = concord::payments;

namespace {

struct crash : std::runtime_error {
    crash() : std::runtime_error("simulated crash") {}
};

void check_invariants(world<memory_db>& w, std::uint32_t seed, int step) {
    INFO("seed " << seed << " step " << step);
    std::map<std::pair<std::string, std::string>, int> charged;
    for (const auto& l : w.bank.ledger())
        if (l.plan_id.empty() && !l.refunded) ++charged[{l.customer, l.reference}];
    for (const auto& [k, n] : charged) {
        INFO(k.first << " " << k.second);
        REQUIRE(n == 1);  // never charged twice
    }
    std::map<std::string, int> active;
    for (const auto& r : w.bank.all<pay::payment_plan>())
        if (r.state == concord::remote_state::active) ++active[r.value.customer + "/" + r.value.reference];
    for (const auto& [k, n] : active) {
        INFO(k);
        REQUIRE(n == 1);  // never two active plans for one conceptual plan
    }
}

} // namespace

TEST_CASE("random stories never charge twice and always end without orphans", "[payments][simulation]") {
    const int seeds = 150, steps = 50;
    std::size_t refused = 0, adopted = 0, restores = 0, actions = 0, stories_with_faults_left = 0;
    for (std::uint32_t seed = 1; seed <= static_cast<std::uint32_t>(seeds); ++seed) {
        std::mt19937 rng(seed);
        auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
        world<memory_db> w;
        w.template reconcile<trust_local>();
        std::vector<memory_db::backup_type> backups{w.db.backup()};
        auto inv = [](int i) { return world<memory_db>::invoice("cus-" + std::to_string(i % 3), "INV-" + std::to_string(i), 100 * (i + 1)); };
        auto pln = [](int k) { return world<memory_db>::monthly("cus-" + std::to_string(k), "plan-" + std::to_string(k), 1000 + k); };
        for (int step = 0; step < steps; ++step) {
            const int what = pick(12);
            if (pick(6) == 0) w.bank.inject(std::vector<concord::fault>{concord::fault::timeout_after, concord::fault::rate_limit,
                                                                          concord::fault::transient, concord::fault::timeout_before}[pick(4)]);
            if (pick(10) == 0) {
                const char* where = pick(2) ? "after provider call" : "before local commit";
                w.gw.set_step_hook([where](std::string_view s) {
                    if (s == where) throw crash();
                });
            } else {
                w.gw.set_step_hook({});
            }
            try {
                ++actions;
                switch (what) {
                case 0: case 1: case 2: {
                    auto r = w.gw.charge_invoice(inv(pick(6)));
                    adopted += r.what == pay::how::adopted;
                    break;
                }
                case 3: case 4: {
                    auto r = w.gw.create_plan(pln(pick(3)));
                    adopted += r.what == pay::how::adopted;
                    break;
                }
                case 5: {
                    const auto i = pick(6);
                    w.gw.refund(inv(i).customer, inv(i).reference);
                    break;
                }
                case 6: {
                    const auto k = pick(3);
                    w.gw.cancel_plan(pln(k).customer, pln(k).reference);
                    break;
                }
                case 7: backups.push_back(w.db.backup()); break;
                case 8:
                    w.db.restore(backups[static_cast<std::size_t>(pick(static_cast<int>(backups.size())))]);
                    ++restores;
                    break;
                case 9: {
                    const int pol = pick(3);
                    w.gw.set_step_hook({});
                    if (pol == 0) w.template reconcile<trust_local>();
                    else if (pol == 1) w.template reconcile<trust_remote>();
                    else {
                        const int answer = pick(3);
                        w.template reconcile<ask_orphans>([answer](const auto&) {
                            return answer == 0 ? concord::resolution::ask
                                               : answer == 1 ? concord::resolution::cancel_remote : concord::resolution::import_local;
                        });
                    }
                    break;
                }
                default: w.clock.advance(std::chrono::hours(pick(40))); break;
                }
            } catch (const crash&) {
            } catch (const concord::error& e) {
                INFO("seed " << seed << " step " << step << ": " << e.what());
                // The documented refusals: restored / quarantined (blocked), not ours to refund or
                // cancel, or the same identity with other content (invalid_argument), and giving up
                // when queued faults outlast the bounded retries (retries_exhausted).
                REQUIRE((e.code() == concord::errc::blocked || e.code() == concord::errc::invalid_argument ||
                         e.code() == concord::errc::retries_exhausted));
                ++refused;
            }
            check_invariants(w, seed, step);
        }
        // The end of every story: the provider is healthy, trust the local database, nothing is left over.
        INFO("seed " << seed << ": faults still queued " << w.bank.pending_faults());
        w.gw.set_step_hook({});
        const bool faults_left = w.bank.pending_faults() > 0;
        w.bank.clear_faults();
        stories_with_faults_left += faults_left;
        w.template reconcile<trust_local>();
        auto last = w.template reconcile<trust_local>();
        INFO("seed " << seed);
        for (const auto& c : last.cases) {
            std::string rs;
            for (const auto& r : c.remote) rs += r.remote_id + " " + concord::to_string(r.value) + " gen " + r.meta.at("concord_gen") + "; ";
            INFO(concord::to_string(c.kind) << " " << c.identity_text << " " << c.note << " remote: " << rs);
            CHECK(c.kind != concord::case_kind::orphan);
        }
        CHECK(w.gw.current_quarantine().empty());
        CHECK(last.count(concord::case_kind::orphan) == 0);
        CHECK(last.actions.empty());
        check_invariants(w, seed, steps);
    }
    // The stories did exercise what they claim to.
    CHECK(restores > 250);
    CHECK(adopted > 50);
    CHECK(refused > 125);
    CHECK(actions == static_cast<std::size_t>(seeds * steps));
    CHECK(stories_with_faults_left > 0);
}
