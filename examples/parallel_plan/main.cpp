// parallel_plan: one plan on several threads (reconciler_options::threads).
//
// A shop keeps a catalogue of products and pushes it to a remote. After a restore the catalogue is
// behind the remote: products created after the backup are orphans there, and some products were
// edited since. Planning reads every product on both sides; with `threads` > 1 the identity keys,
// fingerprints, ownership checks, sorting and case building are split over threads. The plan is the
// same as on one thread, case for case and action for action, which this example checks.
//
// Usage: parallel_plan [products] [threads]   (defaults: 60000 products, every core, at least 2)

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/paging.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

struct product {
    BOOST_HANA_DEFINE_STRUCT(product, (std::int64_t, id), (std::string, sku), (std::string, title),
                             (std::int64_t, price_cents));
};

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 60000;
    const unsigned threads = argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10))
                                      : std::max(2u, concord::hardware_threads());

    concord::memory_store<product> db;
    concord::memory_remote<product> shop;
    concord::memory_witness witness;
    using identity = concord::identity::natural_key<&product::sku>;
    auto make = [&](unsigned t) {
        return concord::make_reconciler<concord::policy::trust_local>(
            db, shop, {.owner = {"shop-1", "catalogue"}, .entity_name = "product", .page_size = 1000, .threads = t},
            identity{});
    };
    auto one = make(1);
    auto many = make(threads);

    for (std::size_t i = 0; i < n; ++i)
        db.put({0, "sku-" + std::to_string(i), "product " + std::to_string(i), static_cast<std::int64_t>(100 + i % 900)});
    one.reconcile(witness);
    const auto backup = db.snapshot();
    for (std::size_t i = n; i < n + n / 50; ++i) db.put({0, "sku-" + std::to_string(i), "late product", 500});
    one.reconcile(witness);  // the late products reach the remote...
    db.restore(backup);      // ...and the restore forgets them locally: orphans
    std::size_t edited = 0;
    for (auto p : db.scan())
        if (p.id % 100 == 0) {
            p.price_cents += 1;  // edited since: diverged
            db.put(p);
            ++edited;
        }

    auto session = concord::begin_session(witness, db);
    // plan(session) reads both sides and then plans; here they are read once, so the timings below
    // are of the planning alone, the part `threads` splits.
    const auto local = db.scan();
    const auto links = db.links();
    const auto remote = concord::list_all(shop, 1000);
    auto timed = [&](auto& rec) {  // the fastest of three plans
        concord::plan<product> p;
        double best = 1e300;
        for (int rep = 0; rep < 3; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            p = rec.plan_from(session.status(), session.database_adopted(), local, links, remote);
            const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - t0;
            best = std::min(best, ms.count());
        }
        return std::pair{std::move(p), best};
    };
    const auto [p1, ms1] = timed(one);
    const auto [pn, msn] = timed(many);

    using concord::case_kind;
    std::cout << "products " << n << ", threads " << threads << "\n"
              << "plan: in_sync " << p1.count(case_kind::in_sync) << ", orphan " << p1.count(case_kind::orphan)
              << ", diverged " << p1.count(case_kind::diverged) << ", actions " << p1.actions.size() << "\n"
              << "1 thread: " << ms1 << " ms, " << threads << " threads: " << msn << " ms\n";

    bool same = p1.counts == pn.counts && p1.actions.size() == pn.actions.size() && p1.cases.size() == pn.cases.size();
    for (std::size_t i = 0; same && i < p1.actions.size(); ++i)
        same = p1.actions[i].kind == pn.actions[i].kind && p1.actions[i].identity == pn.actions[i].identity &&
               p1.actions[i].idempotency_key == pn.actions[i].idempotency_key;
    std::cout << "the plans are " << (same ? "the same" : "DIFFERENT") << "\n";

    const bool ok = same && p1.count(case_kind::orphan) == n / 50 && p1.count(case_kind::diverged) == edited &&
                    many.apply(pn, session).failed() == 0;
    session.commit();
    std::cout << (ok ? "parallel_plan: OK" : "parallel_plan: FAILED") << "\n";
    return ok ? 0 : 1;
}
