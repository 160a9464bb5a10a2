#pragma once
// Reference in-memory RemoteSource: a test double with the semantics of real providers, for users'
// own tests.
//  * Idempotency keys are retained for a window (default 24 h) on an injectable clock, then pruned:
//    a pruned key reused is a new request. A key reused with other parameters is refused
//    (errc::idempotency_conflict).
//  * Faults are checked *before* idempotency (as rate limiting is at some providers): transient
//    errors, rate limits, a timeout before the call was applied and a timeout after it was applied.
//  * Metadata is checked against provider limits (50 keys, 40-char names, 500-char values).
//  * Listing pages by increasing seq ("next N > X").

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <concord/clock.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/records.hpp>

namespace concord {

/// A fault the in-memory remote can inject into its next mutating call.
enum class fault {
    none,
    transient,       ///< 503-like: nothing applied
    rate_limit,      ///< 429-like: nothing applied (checked before idempotency)
    timeout_before,  ///< the call timed out before the remote applied it
    timeout_after,   ///< the remote applied the call, then the response was lost
};

template <entity E>
class memory_remote {
public:
    using entity_type = E;

    /// Counters a test or benchmark can read.
    struct counters {
        std::size_t list_calls = 0;
        std::size_t rows_listed = 0;
        std::size_t creates = 0;   ///< objects actually created
        std::size_t updates = 0;
        std::size_t cancels = 0;
        std::size_t replays = 0;   ///< calls answered from the idempotency cache
    };

    explicit memory_remote(std::function<std::int64_t()> now = [] { return std::int64_t{1'700'000'000}; },
                           std::int64_t key_retention_seconds = 24 * 3600)
        : now_(std::move(now)), retention_(key_retention_seconds) {}

    static metadata_limits limits() { return {}; }

    page<E> list(std::optional<std::uint64_t> after, std::size_t limit) {
        ++counters_.list_calls;
        page<E> p;
        auto it = after ? records_.upper_bound(*after) : records_.begin();
        for (; it != records_.end() && p.items.size() < limit; ++it) p.items.push_back(it->second);
        p.has_more = it != records_.end();
        counters_.rows_listed += p.items.size();
        return p;
    }

    page<E> list_created_since(std::int64_t since, std::optional<std::uint64_t> after, std::size_t limit) {
        ++counters_.list_calls;
        page<E> p;
        auto it = after ? records_.upper_bound(*after) : records_.begin();
        for (; it != records_.end() && p.items.size() < limit; ++it)
            if (it->second.created_at >= since) p.items.push_back(it->second);
        p.has_more = it != records_.end();
        counters_.rows_listed += p.items.size();
        return p;
    }

    remote_record<E> create(const E& e, const metadata& m, const std::string& key) {
        return mutate(key, "create:" + wire_text(e) + meta_text(m), [&] {
            check_metadata(m, limits());
            remote_record<E> r;
            r.seq = ++last_seq_;
            r.remote_id = "r" + std::to_string(r.seq);
            r.value = e;
            set_local_id(r.value, 0);
            r.meta = m;
            r.created_at = now_();
            r.takes_money = takes_money_;
            records_[r.seq] = r;
            ++counters_.creates;
            return r;
        });
    }

    remote_record<E> update(std::string_view remote_id, const E& e, const std::string& key) {
        return mutate(key, "update:" + std::to_string(remote_id.size()) + ":" + std::string(remote_id) + wire_text(e), [&] {
            auto& r = find(remote_id);
            if (r.state != remote_state::active)
                throw remote_error(errc::remote_permanent, "object " + std::string(remote_id) + " is cancelled");
            r.value = e;
            set_local_id(r.value, 0);
            ++counters_.updates;
            return r;
        });
    }

    remote_record<E> cancel(std::string_view remote_id, const std::string& key) {
        return mutate(key, "cancel:" + std::string(remote_id), [&] {
            auto& r = find(remote_id);
            r.state = remote_state::cancelled;
            ++counters_.cancels;
            return r;
        });
    }

    std::optional<remote_record<E>> find_by_key(const std::string& key) {
        prune();
        auto it = keys_.find(key);
        if (it == keys_.end()) return std::nullopt;
        return current(it->second.remote_id);
    }

    // --- test controls -------------------------------------------------------------------------

    /// Queue faults for the next mutating calls, in order.
    void inject(fault f, int times = 1) {
        for (int i = 0; i < times; ++i) faults_.push_back(f);
    }
    /// Choose a fault per call (simulation); consulted when the queue is empty.
    void set_fault_chooser(std::function<fault(std::string_view op)> f) { chooser_ = std::move(f); }
    /// Whether newly created objects can take money.
    void set_takes_money(bool b) { takes_money_ = b; }

    /// An object created by someone else (another integrator, or the provider's dashboard).
    remote_record<E> put_external(const E& e, metadata m = {}, bool takes_money = false) {
        remote_record<E> r;
        r.seq = ++last_seq_;
        r.remote_id = "r" + std::to_string(r.seq);
        r.value = e;
        r.meta = std::move(m);
        r.created_at = now_();
        r.takes_money = takes_money;
        records_[r.seq] = r;
        return r;
    }
    /// Edits an object behind concord's back.
    void edit_external(std::string_view remote_id, const E& e) { find(remote_id).value = e; }
    void cancel_external(std::string_view remote_id) { find(remote_id).state = remote_state::cancelled; }
    /// Rewrites an object's metadata behind concord's back (a dashboard edit, another installation
    /// taking it over). Like the edits above, it keeps the object's place in the listing.
    void set_metadata_external(std::string_view remote_id, metadata m) { find(remote_id).meta = std::move(m); }

    std::optional<remote_record<E>> current(std::string_view remote_id) const {
        if (const auto* r = lookup(remote_id)) return *r;
        return std::nullopt;
    }
    std::vector<remote_record<E>> all() const {
        std::vector<remote_record<E>> out;
        for (const auto& [s, r] : records_) out.push_back(r);
        return out;
    }
    std::size_t active_count() const {
        std::size_t n = 0;
        for (const auto& [s, r] : records_) n += r.state == remote_state::active;
        return n;
    }
    const counters& stats() const noexcept { return counters_; }
    std::size_t retained_keys() {
        prune();
        return keys_.size();
    }

private:
    struct key_entry {
        std::string params;
        std::string remote_id;
        std::int64_t at;
    };

    /// The entity as the request carries it: the local id is never sent (a re-created entity with a
    /// new database id is the same request). The canonical encoding of the content, not the printed
    /// form, which writes every ill-formed UTF-8 sequence as the same \ufffd (other content, one text).
    static std::string wire_text(const E& e) {
        std::string out;
        encode_content(out, e);
        return out;
    }

    /// Length-prefixed, so that no two metadata maps give the same text ("a" = "x|b=y" is not
    /// "a" = "x", "b" = "y").
    static std::string meta_text(const metadata& m) {
        std::string s;
        for (const auto& [k, v] : m)
            s += "|" + std::to_string(k.size()) + ":" + k + std::to_string(v.size()) + ":" + v;
        return s;
    }

    void prune() {
        const auto now = now_();
        if (keys_.empty() || now - oldest_key_at_ < retention_) return;  // nothing can have expired
        oldest_key_at_ = now;
        for (auto it = keys_.begin(); it != keys_.end();) {
            if (now - it->second.at >= retention_) it = keys_.erase(it);
            else {
                if (it->second.at < oldest_key_at_) oldest_key_at_ = it->second.at;
                ++it;
            }
        }
    }

    /// Remote ids are "r<seq>": the record is found by its sequence number, not by a scan.
    const remote_record<E>* lookup(std::string_view remote_id) const {
        std::uint64_t seq = 0;
        if (remote_id.size() < 2 || remote_id[0] != 'r' || !detail::parse_u64(remote_id.substr(1), seq)) return nullptr;
        auto it = records_.find(seq);
        return it != records_.end() && it->second.remote_id == remote_id ? &it->second : nullptr;
    }
    remote_record<E>& find(std::string_view remote_id) {
        if (const auto* r = lookup(remote_id)) return const_cast<remote_record<E>&>(*r);
        throw remote_error(errc::remote_not_found, "no remote object " + std::string(remote_id));
    }

    /// The part of a mutating call before it takes effect: the fault, then a replay from the
    /// idempotency cache (into `replay`). Outside mutate<F> so create, update and cancel share one
    /// copy of it instead of compiling one each.
    fault begin_mutation(const std::string& key, const std::string& params, std::optional<remote_record<E>>& replay) {
        if (key.empty()) throw remote_error(errc::remote_permanent, "an idempotency key is required");
        fault f = fault::none;
        if (!faults_.empty()) {
            f = faults_.front();
            faults_.pop_front();
        } else if (chooser_) {
            f = chooser_(params.substr(0, params.find(':')));
        }
        // Rate limits and transient errors come before the idempotency check.
        if (f == fault::rate_limit) throw remote_error(errc::remote_rate_limited, "rate limited (429)");
        if (f == fault::transient) throw remote_error(errc::remote_transient, "service unavailable (503)");
        if (f == fault::timeout_before) throw remote_error(errc::remote_timeout, "timed out before the request arrived");
        prune();
        if (auto it = keys_.find(key); it != keys_.end()) {
            if (it->second.params != params)
                throw remote_error(errc::idempotency_conflict,
                                   "idempotency key " + key + " was used with other parameters");
            ++counters_.replays;
            replay = *current(it->second.remote_id);
            if (f == fault::timeout_after) throw remote_error(errc::remote_timeout, "timed out after the request was applied");
        }
        return f;
    }

    /// The part after it took effect: remember the key, then the injected late timeout.
    void end_mutation(const std::string& key, const std::string& params, const std::string& remote_id, fault f) {
        const auto& entry = keys_[key] = key_entry{params, remote_id, now_()};
        if (keys_.size() == 1 || entry.at < oldest_key_at_) oldest_key_at_ = entry.at;
        if (f == fault::timeout_after) throw remote_error(errc::remote_timeout, "timed out after the request was applied");
    }

    template <class F>
    remote_record<E> mutate(const std::string& key, const std::string& params, F&& apply) {
        std::optional<remote_record<E>> replay;
        const fault f = begin_mutation(key, params, replay);
        if (replay) return std::move(*replay);
        auto r = apply();
        end_mutation(key, params, r.remote_id, f);
        return r;
    }

    std::map<std::uint64_t, remote_record<E>> records_;
    std::map<std::string, key_entry> keys_;
    std::deque<fault> faults_;
    std::function<fault(std::string_view)> chooser_;
    std::function<std::int64_t()> now_;
    std::int64_t retention_;
    std::int64_t oldest_key_at_ = 0;  ///< lower bound of keys_[*].at (valid while keys_ is not empty)
    std::uint64_t last_seq_ = 0;
    bool takes_money_ = false;
    counters counters_;
};

} // namespace concord
