#pragma once
// A simulated payment provider: one account holding customers, payment plans and charges, with the
// semantics of real providers that make restores dangerous. Usable by anyone's tests.
//
//  * Idempotency keys are account-wide, retained for 24 h on an injectable clock, then pruned: a
//    pruned key reused is a new request. A retained key reused with other parameters (metadata
//    included) is refused with errc::idempotency_conflict.
//  * Rate limits and injected faults are checked *before* idempotency, so a retry can be refused for
//    a reason other than the original outcome.
//  * Metadata is checked against the provider's limits (50 keys, 40-char names, 500-char values).
//  * Listings page by cursor over a monotonically increasing seq ("next N > X"); listings are
//    consistent at once. search() is the provider's search index: it lags (default one hour), so a
//    fresh object is invisible to it. Never rely on search for "does it already exist".
//  * An active payment plan charges on its schedule: every `interval_seconds` after its creation
//    the provider takes `amount_cents`, whenever the account is touched after the billing date
//    (or run_billing() is called). Only cancelling the plan stops it.
//  * Charges cannot be changed; cancelling a charge refunds it.
//  * Other integrators share the account (integrator()): their objects carry their own metadata,
//    possibly tags that look like ours.
//
// Scheduled charges a plan takes by itself are kept in the ledger (ledger(), money_taken()), not in
// the charges() listing: like providers that keep subscription invoices apart from one-off charges.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/memory/remote.hpp>
#include <concord/records.hpp>

namespace concord::payments {

/// A paying customer, keyed in the host by `ref` (the host's customer number).
struct customer {
    BOOST_HANA_DEFINE_STRUCT(customer, (std::int64_t, id), (std::string, ref), (std::string, name));
};

/// A payment plan: takes `amount_cents` from `customer` every `interval_seconds` until cancelled.
/// `reference` names the plan in the host's world (e.g. "INV-7/monthly").
struct payment_plan {
    BOOST_HANA_DEFINE_STRUCT(payment_plan, (std::int64_t, id), (std::string, customer), (std::string, reference),
                             (std::int64_t, amount_cents), (std::int64_t, interval_seconds));
};

/// A one-off charge of an invoice: `reference` is the invoice number.
struct charge {
    BOOST_HANA_DEFINE_STRUCT(charge, (std::int64_t, id), (std::string, customer), (std::string, reference),
                             (std::int64_t, amount_cents));
};

/// One movement of money in the account (a one-off charge or a plan's scheduled charge).
struct ledger_entry {
    std::string charge_id;       ///< provider id of the charge
    std::string customer;
    std::string reference;       ///< invoice number, or "<plan reference>#<period>" for scheduled charges
    std::int64_t amount_cents = 0;
    std::string plan_id;         ///< the plan that took it; empty for one-off charges
    std::int64_t at = 0;         ///< provider time of the charge
    bool refunded = false;
};

/// Settings of a simulated provider account.
struct provider_options {
    std::int64_t key_retention_seconds = 24 * 3600;  ///< idempotency keys kept this long
    std::int64_t search_lag_seconds = 3600;          ///< search() sees objects this much older
    int requests_per_second = 0;                     ///< mutating calls per clock second; 0 = unlimited
};

/// The simulated provider account.
class provider {
public:
    /// Account settings (see provider_options).
    using options = provider_options;

    /// Counters tests assert on.
    struct counters {
        std::size_t creates = 0;        ///< objects actually created through the API
        std::size_t cancels = 0;        ///< objects actually cancelled / refunded
        std::size_t updates = 0;
        std::size_t replays = 0;        ///< calls answered from the idempotency cache
        std::size_t rate_limited = 0;   ///< calls refused with 429
        std::size_t list_calls = 0;
        std::size_t search_calls = 0;
    };

    explicit provider(std::function<std::int64_t()> now, options o = {}) : now_(std::move(now)), opts_(o) {}

    /// The provider's metadata limits (a well-known provider's).
    static metadata_limits limits() { return {}; }

    /// RemoteSource view of one object type of the account (all views share keys, faults and clock).
    template <class E>
    class source {
    public:
        using entity_type = E;
        explicit source(provider& p) : p_(&p) {}

        static metadata_limits limits() { return provider::limits(); }
        page<E> list(std::optional<std::uint64_t> after, std::size_t limit) { return p_->list<E>(after, limit, 0); }
        page<E> list_created_since(std::int64_t since, std::optional<std::uint64_t> after, std::size_t limit) {
            return p_->list<E>(after, limit, since);
        }
        remote_record<E> create(const E& e, const metadata& m, const std::string& key) { return p_->create<E>(e, m, key); }
        /// Plans and customers can be changed; charges cannot (no such capability).
        remote_record<E> update(std::string_view id, const E& e, const std::string& key)
            requires(!std::is_same_v<E, charge>)
        {
            return p_->update<E>(id, e, key);
        }
        /// Cancels a plan (it stops charging), deletes a customer, refunds a charge.
        remote_record<E> cancel(std::string_view id, const std::string& key) { return p_->cancel<E>(id, key); }
        std::optional<remote_record<E>> find_by_key(const std::string& key) { return p_->find_by_key<E>(key); }

    private:
        provider* p_;
    };

    source<customer> customers() { return source<customer>(*this); }
    source<payment_plan> plans() { return source<payment_plan>(*this); }
    source<charge> charges() { return source<charge>(*this); }

    /// Another integrator sharing the account: creates objects with whatever metadata it likes
    /// (its own tags, or tags that look like concord's) and no idempotency key of ours.
    class integrator {
    public:
        integrator(provider& p, std::string name) : p_(&p), name_(std::move(name)) {}
        const std::string& name() const noexcept { return name_; }
        template <class E>
        remote_record<E> create(const E& e, metadata m) {
            p_->bill();
            check_metadata(m, limits());
            return p_->insert<E>(e, std::move(m));
        }

    private:
        provider* p_;
        std::string name_;
    };
    integrator other_integrator(std::string name) { return integrator(*this, std::move(name)); }

    /// The provider's search index: objects whose metadata `key` equals `value`, created at least
    /// search_lag_seconds ago (fresh objects are not indexed yet).
    template <class E>
    std::vector<remote_record<E>> search(std::string_view key, std::string_view value) {
        bill();
        ++counters_.search_calls;
        std::vector<remote_record<E>> out;
        const auto horizon = now_() - opts_.search_lag_seconds;
        for (const auto& [s, r] : table<E>())
            if (r.created_at <= horizon) {
                auto it = r.meta.find(std::string(key));
                if (it != r.meta.end() && it->second == value) out.push_back(r);
            }
        return out;
    }

    // --- billing and money ---------------------------------------------------------------------

    /// Takes every scheduled charge that is due (called on every API call too).
    void run_billing() { bill(); }

    /// Every movement of money, in order (one-off and scheduled charges).
    const std::vector<ledger_entry>& ledger() {
        bill();
        return ledger_;
    }
    /// Cents taken from the customer `customer_ref` and not refunded.
    std::int64_t money_taken(std::string_view customer_ref) {
        std::int64_t sum = 0;
        for (const auto& l : ledger())
            if (l.customer == customer_ref && !l.refunded) sum += l.amount_cents;
        return sum;
    }
    /// Non-refunded one-off charges with this customer and reference.
    std::size_t charges_for(std::string_view customer_ref, std::string_view reference) {
        std::size_t n = 0;
        for (const auto& l : ledger())
            if (l.plan_id.empty() && l.customer == customer_ref && l.reference == reference && !l.refunded) ++n;
        return n;
    }

    // --- inspection and faults -----------------------------------------------------------------

    template <class E>
    std::optional<remote_record<E>> get(std::string_view id) {
        bill();
        for (const auto& [s, r] : table<E>())
            if (r.remote_id == id) return r;
        return std::nullopt;
    }
    template <class E>
    std::vector<remote_record<E>> all() {
        bill();
        std::vector<remote_record<E>> out;
        for (const auto& [s, r] : table<E>()) out.push_back(r);
        return out;
    }
    /// Active objects of type E whose metadata `key` equals `value` (all when key is empty).
    template <class E>
    std::size_t active_count(std::string_view key = {}, std::string_view value = {}) {
        std::size_t n = 0;
        for (const auto& r : all<E>()) {
            if (r.state != remote_state::active) continue;
            if (key.empty()) ++n;
            else if (auto it = r.meta.find(std::string(key)); it != r.meta.end() && it->second == value) ++n;
        }
        return n;
    }

    /// Someone edits an object by hand (the provider's dashboard, a support agent): its content and
    /// metadata are replaced, with no idempotency key and no new seq. Throws remote_error
    /// (errc::remote_not_found) for an unknown id.
    template <class E>
    remote_record<E> edit_by_hand(std::string_view id, const E& value, metadata meta) {
        bill();
        auto& r = find<E>(id);
        validate(value);
        r.value = value;
        set_local_id(r.value, 0);
        r.meta = std::move(meta);
        return r;
    }

    /// Queues faults for the next mutating calls, in order (see concord::fault).
    void inject(fault f, int times = 1) {
        for (int i = 0; i < times; ++i) faults_.push_back(f);
    }
    /// Faults queued and not yet consumed (a call refused before reaching the provider consumes none).
    std::size_t pending_faults() const noexcept { return faults_.size(); }
    /// The provider is healthy again: drops every queued fault.
    void clear_faults() noexcept { faults_.clear(); }
    const counters& stats() const noexcept { return counters_; }
    std::size_t retained_keys() {
        prune();
        return keys_.size();
    }
    std::int64_t now() const { return now_(); }

private:
    template <class E>
    using table_type = std::map<std::uint64_t, remote_record<E>>;

    template <class E>
    table_type<E>& table() {
        if constexpr (std::is_same_v<E, customer>) return customers_;
        else if constexpr (std::is_same_v<E, payment_plan>) return plans_;
        else {
            static_assert(std::is_same_v<E, charge>, "concord::payments::provider holds customers, plans and charges");
            return charges_;
        }
    }
    template <class E>
    static constexpr std::string_view prefix() {
        if constexpr (std::is_same_v<E, customer>) return "cus_";
        else if constexpr (std::is_same_v<E, payment_plan>) return "plan_";
        else return "ch_";
    }
    template <class E>
    static constexpr std::string_view type_name() {
        if constexpr (std::is_same_v<E, customer>) return "customer";
        else if constexpr (std::is_same_v<E, payment_plan>) return "payment_plan";
        else return "charge";
    }

    struct key_entry {
        std::string params;
        std::string remote_id;
        std::int64_t at;
    };
    struct schedule {
        std::uint64_t seq;
        std::int64_t next_at;
        std::int64_t period = 0;
    };

    template <class E>
    static void validate(const E& e) {
        if constexpr (std::is_same_v<E, payment_plan>) {
            if (e.amount_cents <= 0 || e.interval_seconds <= 0)
                throw remote_error(errc::remote_permanent, "a payment plan needs a positive amount and interval");
        } else if constexpr (std::is_same_v<E, charge>) {
            if (e.amount_cents <= 0) throw remote_error(errc::remote_permanent, "a charge needs a positive amount");
        }
    }

    template <class E>
    remote_record<E> insert(const E& e, metadata m) {
        validate(e);
        remote_record<E> r;
        r.seq = ++last_seq_;
        r.remote_id = std::string(prefix<E>()) + std::to_string(r.seq);
        r.value = e;
        set_local_id(r.value, 0);
        r.meta = std::move(m);
        r.created_at = now_();
        if constexpr (std::is_same_v<E, payment_plan>) {
            r.takes_money = true;
            schedules_.push_back({r.seq, r.created_at + e.interval_seconds});
        }
        if constexpr (std::is_same_v<E, charge>)
            ledger_.push_back({r.remote_id, e.customer, e.reference, e.amount_cents, {}, r.created_at, false});
        table<E>()[r.seq] = r;
        return r;
    }

    /// Takes every due scheduled charge of every active plan.
    void bill() {
        const auto now = now_();
        for (auto& s : schedules_) {
            auto& p = plans_.at(s.seq);
            while (p.state == remote_state::active && s.next_at <= now) {
                ++s.period;
                ledger_.push_back({"ch_" + std::to_string(++last_seq_), p.value.customer,
                                   p.value.reference + "#" + std::to_string(s.period), p.value.amount_cents, p.remote_id,
                                   s.next_at, false});
                s.next_at += p.value.interval_seconds;
            }
        }
    }

    void prune() {
        const auto now = now_();
        for (auto it = keys_.begin(); it != keys_.end();)
            it = now - it->second.at >= opts_.key_retention_seconds ? keys_.erase(it) : std::next(it);
    }

    template <class E>
    page<E> list(std::optional<std::uint64_t> after, std::size_t limit, std::int64_t since) {
        bill();
        ++counters_.list_calls;
        page<E> p;
        auto& t = table<E>();
        auto it = after ? t.upper_bound(*after) : t.begin();
        for (; it != t.end() && p.items.size() < limit; ++it)
            if (it->second.created_at >= since) p.items.push_back(it->second);
        p.has_more = it != t.end();
        return p;
    }

    static std::string meta_text(const metadata& m) {
        std::string s;
        for (const auto& [k, v] : m) s += "|" + k + "=" + v;
        return s;
    }

    template <class E>
    remote_record<E>& find(std::string_view id) {
        for (auto& [s, r] : table<E>())
            if (r.remote_id == id) return r;
        throw remote_error(errc::remote_not_found, "no " + std::string(type_name<E>()) + " " + std::string(id));
    }

    /// Faults and rate limits first, then the idempotency cache, then the call.
    template <class E, class F>
    remote_record<E> mutate(const std::string& key, const std::string& params, F&& apply) {
        bill();
        if (key.empty()) throw remote_error(errc::remote_permanent, "an idempotency key is required");
        fault f = fault::none;
        if (!faults_.empty()) {
            f = faults_.front();
            faults_.pop_front();
        }
        if (opts_.requests_per_second > 0) {
            const auto sec = now_();
            if (sec != rate_second_) {
                rate_second_ = sec;
                rate_used_ = 0;
            }
            if (++rate_used_ > opts_.requests_per_second) f = fault::rate_limit;
        }
        if (f == fault::rate_limit) {
            ++counters_.rate_limited;
            throw remote_error(errc::remote_rate_limited, "rate limited (429): too many requests this second");
        }
        if (f == fault::transient) throw remote_error(errc::remote_transient, "service unavailable (503)");
        if (f == fault::timeout_before) throw remote_error(errc::remote_timeout, "timed out before the request arrived");
        prune();
        if (auto it = keys_.find(key); it != keys_.end()) {
            if (it->second.params != params)
                throw remote_error(errc::idempotency_conflict,
                                   "idempotency key " + key + " was used with other parameters within the last " +
                                       std::to_string(opts_.key_retention_seconds / 3600) + " h");
            ++counters_.replays;
            auto r = find<E>(it->second.remote_id);
            if (f == fault::timeout_after) throw remote_error(errc::remote_timeout, "timed out after the request was applied");
            return r;
        }
        auto r = apply();
        keys_[key] = key_entry{params, r.remote_id, now_()};
        if (f == fault::timeout_after) throw remote_error(errc::remote_timeout, "timed out after the request was applied");
        return r;
    }

    template <class E>
    remote_record<E> create(const E& e, const metadata& m, const std::string& key) {
        return mutate<E>(key, "create:" + std::string(type_name<E>()) + ":" + to_string(e) + meta_text(m), [&] {
            check_metadata(m, limits());
            auto r = insert<E>(e, m);
            ++counters_.creates;
            return r;
        });
    }

    template <class E>
    remote_record<E> update(std::string_view id, const E& e, const std::string& key) {
        return mutate<E>(key, "update:" + std::string(id) + ":" + to_string(e), [&] {
            auto& r = find<E>(id);
            if (r.state != remote_state::active)
                throw remote_error(errc::remote_permanent, std::string(type_name<E>()) + " " + std::string(id) + " is cancelled");
            validate(e);
            r.value = e;
            set_local_id(r.value, 0);
            ++counters_.updates;
            return r;
        });
    }

    template <class E>
    remote_record<E> cancel(std::string_view id, const std::string& key) {
        return mutate<E>(key, "cancel:" + std::string(id), [&] {
            auto& r = find<E>(id);
            if (r.state == remote_state::active) {
                r.state = remote_state::cancelled;
                r.takes_money = false;
                ++counters_.cancels;
                if constexpr (std::is_same_v<E, charge>)
                    for (auto& l : ledger_)
                        if (l.charge_id == r.remote_id) l.refunded = true;
            }
            return r;
        });
    }

    template <class E>
    std::optional<remote_record<E>> find_by_key(const std::string& key) {
        bill();
        prune();
        auto it = keys_.find(key);
        if (it == keys_.end()) return std::nullopt;
        for (const auto& [s, r] : table<E>())
            if (r.remote_id == it->second.remote_id) return r;
        return std::nullopt;
    }

    std::function<std::int64_t()> now_;
    options opts_;
    table_type<customer> customers_;
    table_type<payment_plan> plans_;
    table_type<charge> charges_;
    std::vector<schedule> schedules_;
    std::vector<ledger_entry> ledger_;
    std::map<std::string, key_entry> keys_;
    std::deque<fault> faults_;
    std::uint64_t last_seq_ = 0;
    std::int64_t rate_second_ = 0;
    int rate_used_ = 0;
    counters counters_;
};

} // namespace concord::payments
