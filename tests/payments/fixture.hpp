#pragma once
// A payments world that reads as a story: a host database (plans + charges), the simulated provider
// on a manual clock, a witness and a decision book outside the restore scope, the gateway, and
// reconcile helpers. Templated on the database (memory stores or a real SQLite file) so the key
// scenarios run on both.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <concord/decisions.hpp>
#include <concord/memory/store.hpp>
#include <concord/payments/gateway.hpp>
#include <concord/payments/provider.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

namespace payments_test {

namespace pay = concord::payments;

/// Host database of memory stores; a backup is a snapshot of both.
struct memory_db {
    concord::memory_store<pay::payment_plan> plans;
    concord::memory_store<pay::charge> charges;
    struct backup_type {
        concord::memory_store<pay::payment_plan>::snapshot_type plans;
        concord::memory_store<pay::charge>::snapshot_type charges;
    };
    backup_type backup() const { return {plans.snapshot(), charges.snapshot()}; }
    using witness_type = concord::memory_witness;
    using book_type = concord::memory_decision_book;
    witness_type make_witness() const { return {}; }
    book_type make_book() const { return {}; }
    void restore(const backup_type& b) {
        plans.restore(b.plans);
        charges.restore(b.charges);
    }
};

inline constexpr std::int64_t day = 24 * 3600;
inline constexpr std::int64_t month = 30 * day;

template <class Db>
struct world {
    using plans_store = std::remove_reference_t<decltype(std::declval<Db&>().plans)>;
    using charges_store = std::remove_reference_t<decltype(std::declval<Db&>().charges)>;
    using gateway_type = pay::gateway<typename Db::witness_type, plans_store, charges_store>;

    concord::manual_clock clock;
    pay::provider bank{[this] { return clock.now(); }};
    Db db;
    typename Db::witness_type witness{db.make_witness()};
    typename Db::book_type book{db.make_book()};
    concord::owner_tag owner{"shop-1", "payments"};
    gateway_type gw{bank, witness, db.plans, db.charges, {.owner = owner}};

    world() { gw.use_clock(clock); }

    static pay::payment_plan monthly(std::string customer, std::string ref, std::int64_t cents) {
        return {0, std::move(customer), std::move(ref), cents, month};
    }
    static pay::charge invoice(std::string customer, std::string number, std::int64_t cents) {
        return {0, std::move(customer), std::move(number), cents};
    }

    /// One reconcile session over plans (PlanPolicy) and charges (ChargePolicy); `answer` settles
    /// decisions before applying (return resolution::ask to leave one open). Returns the plans plan.
    template <class PlanPolicy, class ChargePolicy = concord::policy::ask_user>
    concord::plan<pay::payment_plan> reconcile(
        std::function<concord::resolution(const concord::decision<pay::payment_plan>&)> answer = {}) {
        auto src = bank.plans();
        auto csrc = bank.charges();
        auto plans_r = concord::make_reconciler<PlanPolicy>(
            db.plans, src, {.owner = owner, .entity_name = "payment_plan"}, pay::plan_identity{});
        auto charges_r = concord::make_reconciler<ChargePolicy>(
            db.charges, csrc, {.owner = owner, .entity_name = "charge"}, pay::charge_identity{});
        plans_r.use_decision_book(book);
        charges_r.use_decision_book(book);
        plans_r.use_clock(clock);
        charges_r.use_clock(clock);
        auto s = gw.begin();
        // As a host should: the quarantine refuses the reconcilers' creates for a quarantined customer
        // too, the charges' as the plans' apply left it.
        gw.guard_creates(plans_r, s);
        auto p = plans_r.plan(s);
        if (answer && !p.decisions.empty()) {
            bool answered = false;
            for (const auto& d : p.decisions)
                if (auto r = answer(d); r != concord::resolution::ask) {
                    plans_r.answer(p, d.id, r);
                    answered = true;
                }
            if (answered) p = plans_r.plan(s);
        }
        plans_r.apply(p, s);
        gw.guard_creates(charges_r, s);
        auto cp = charges_r.plan(s);
        charges_r.apply(cp, s);
        gw.commit(s);
        last_charges_plan = cp;
        return p;
    }

    /// Our active plans on the provider.
    std::size_t our_active_plans() { return bank.active_count<pay::payment_plan>(concord::meta_keys::owner, owner.text()); }

    concord::plan<pay::charge> last_charges_plan;
};

/// Whether a store holds a row with this reference (an invoice, a plan).
template <class Store>
bool has_row(Store& st, std::string_view reference) {
    for (const auto& e : st.scan())
        if (e.reference == reference) return true;
    return false;
}

using trust_local = concord::policy::trust_local;
using trust_remote = concord::policy::trust_remote;
using ask_orphans = concord::policy::per_case<concord::policy::trust_local,
                                              concord::policy::case_<concord::orphan, concord::policy::ask_user>>;

} // namespace payments_test
