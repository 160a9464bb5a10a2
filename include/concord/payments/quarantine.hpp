#pragma once
// Quarantine: while a payment plan of ours is active on the provider but has no local owner (a
// money-taking orphan, typically left behind by a restore), nothing new may take money from that
// customer: the host would be charging someone whose billing it no longer knows about. Quarantine is
// computed from a plan's classification, never stored, so it lifts exactly when the orphan is
// resolved (cancelled or imported), whatever restores happen in between.

#include <algorithm>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <concord/error.hpp>
#include <concord/payments/provider.hpp>
#include <concord/plan.hpp>

namespace concord::payments {

/// One customer blocked by money-taking orphans.
struct quarantined_customer {
    std::string customer;                 ///< the customer reference
    std::vector<std::string> plan_ids;    ///< provider ids of the orphaned, still active plans
    std::vector<std::string> references;  ///< their plan references
    std::vector<key128> identities;       ///< their stable identities
};

/// The customers blocked right now, and why.
class quarantine {
public:
    /// Every active plan of ours without a local owner in `p`: an orphan, every member of a duplicate
    /// group without a local row, and the members of a duplicate group with a local row other than
    /// the one its link names (a local row owns one plan; the others bill beside it).
    static quarantine from_plan(const concord::plan<payment_plan>& p) {
        quarantine q;
        for (const auto& c : p.cases) {
            if (c.kind != case_kind::orphan && c.kind != case_kind::duplicate) continue;
            if (!c.takes_money()) continue;
            const std::string* owned =
                c.kind == case_kind::duplicate && c.local && c.linked_remote ? &*c.linked_remote : nullptr;
            for (const auto& r : c.remote) {
                if (r.state != remote_state::active || !r.takes_money) continue;
                if (owned && r.remote_id == *owned) continue;
                auto& e = q.entry(r.value.customer);
                e.plan_ids.push_back(r.remote_id);
                e.references.push_back(r.value.reference);
                e.identities.push_back(c.identity);
            }
        }
        return q;
    }

    bool empty() const noexcept { return entries_.empty(); }
    const std::vector<quarantined_customer>& entries() const noexcept { return entries_; }

    /// True while `customer` has a money-taking orphan.
    bool blocks(std::string_view customer) const { return find(customer) != nullptr; }

    /// Throws errc::blocked, naming the orphans and the way out, if `customer` is quarantined.
    /// `adopting`: the provider id of the plan the action is about to adopt (empty: none); that orphan
    /// does not block (redoing the undone "create plan" claims it instead of adding a second plan).
    /// Only that one: another active plan with the same identity (a duplicate) keeps taking money
    /// without an owner after the adoption, so it still blocks.
    void require_clear(std::string_view customer, std::string_view action, std::string_view adopting = {}) const {
        const auto* e = find(customer);
        if (!e) return;
        std::string plans;
        for (std::size_t i = 0; i < e->plan_ids.size(); ++i) {
            if (!adopting.empty() && e->plan_ids[i] == adopting) continue;
            plans += (plans.empty() ? "" : ", ") + e->plan_ids[i] + " (" + e->references[i] + ")";
        }
        if (plans.empty()) return;
        throw error(errc::blocked, std::string(action) + " for customer " + std::string(customer) +
                                       " refused: quarantined while the orphaned payment plan(s) " + plans +
                                       " can still take money without a local owner; resolve them first by reconciling "
                                       "(cancel or import an orphan; keep one plan of a duplicate)");
    }

    /// One line per quarantined customer.
    std::string text() const {
        std::ostringstream os;
        for (const auto& e : entries_) {
            os << "quarantined customer " << e.customer << ":";
            for (std::size_t i = 0; i < e.plan_ids.size(); ++i) os << ' ' << e.plan_ids[i] << " (" << e.references[i] << ')';
            os << '\n';
        }
        return os.str();
    }

private:
    quarantined_customer& entry(const std::string& customer) {
        for (auto& e : entries_)
            if (e.customer == customer) return e;
        entries_.push_back({customer, {}, {}, {}});
        return entries_.back();
    }
    const quarantined_customer* find(std::string_view customer) const {
        auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const quarantined_customer& e) { return e.customer == customer; });
        return it == entries_.end() ? nullptr : &*it;
    }

    std::vector<quarantined_customer> entries_;
};

} // namespace concord::payments
