#pragma once
// A witness kept in a remote's metadata, for remotes that allow it: the remote is never restored
// with the host's database, so it can testify after a restore even when the witness file beside
// the database was lost with it (a restored home folder, a new machine).
//
// How: save() creates a small *marker* object on the remote whose metadata holds the witness record
// (the same checksummed "concord-witness v1"/"v2" text as file_witness, split into chunks that respect
// the remote's metadata limits), then cancels it so it can never act (take money, sync) and
// reconcilers skip it. load() returns the record of the newest marker (highest listing seq) carrying
// this installation's owner tag. One create is the atomic step: after a crash the remote holds the
// old newest marker or the new one, never half of one.
//
// Requirements on the remote: listing, create with metadata (remote_has_metadata), and cancel that
// keeps cancelled objects listable (memory_remote and payment providers' cancelled objects do).
// Cost: save() is one create and one cancel; load() lists from just before the newest marker this
// object has seen (a cold start lists everything once).
// Failures: both calls are retried with the same key on what a retry may cure (timeouts, rate limits,
// transient errors: retry_policy, like the reconciler's), so one 429 does not stop a reconcile. A
// marker whose cancel still fails is remembered and cancelled first by the next save(); so is a create
// whose outcome stayed unknown (a timeout or a transient failure, then no retry got an answer): the
// next save() replays it under the same key and metadata (idempotent: at most the one marker) and
// cancels what it returns, and any active marker with that metadata listed since (the provider may
// have forgotten the key meanwhile: the replay then makes a marker of its own). A process that ends before that leaves it active, and plans report it as
// a look-alike (never touched).
//
// The owner tag and the checksum make a marker evidence, not proof: anyone holding the account's
// secret could write one. A marker that claims to be ours but does not parse is errc::witness_corrupt.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <concord/clock.hpp>
#include <concord/concepts/remote_source.hpp>
#include <concord/concepts/witness.hpp>
#include <concord/detail/retry.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/paging.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>
#include <concord/witness.hpp>

namespace concord {

/// Metadata keys of a witness marker (besides meta_keys::owner).
namespace witness_keys {
inline constexpr std::string_view format = "concord_witness";  ///< "v1"
inline constexpr std::string_view chunk_prefix = "concord_w";   ///< concord_w00, concord_w01, ...: the record text
} // namespace witness_keys

/// A witness in the metadata of marker objects on remote R (see the file comment).
template <class R>
    requires remote_can_create<R> && remote_has_metadata<R> && remote_can_cancel<R>
class remote_witness {
public:
    using entity_type = typename R::entity_type;

    /// `marker` is the entity value marker objects carry (default-constructed unless the remote
    /// needs something valid, e.g. a zero-amount object).
    remote_witness(R& remote, owner_tag owner, entity_type marker = {}, std::size_t page_size = 100)
        : remote_(&remote), owner_(std::move(owner)), marker_(std::move(marker)), page_size_(page_size) {
        owner_.validate();
        if (page_size_ == 0) throw error(errc::invalid_argument, "remote_witness page size must be at least 1");
        check_limits();
    }

    std::optional<witness_record> load() {
        auto found = newest(hint_ && *hint_ > 0 ? std::optional<std::uint64_t>(*hint_ - 1) : std::nullopt);
        if (!found && hint_) found = newest(std::nullopt);  // the remembered marker is gone: look everywhere
        if (!found) return std::nullopt;
        hint_ = found->seq;
        std::string text;
        for (std::size_t i = 0;; ++i) {
            auto it = found->meta.find(chunk_key(i));
            if (it == found->meta.end()) break;
            text += it->second;
        }
        try {
            return parse_witness(text);
        } catch (const error& e) {
            throw error(errc::witness_corrupt, "witness marker " + found->remote_id + " on the remote: " + e.what());
        }
    }

    void save(const witness_record& r) {
        const auto m = encode(r);
        // Markers an earlier save() made but could not cancel: while one is active it can act (a
        // marker value that can take money would), so nothing new is written before they are gone.
        cancel_uncancelled();
        // A create of an earlier save() whose outcome is unknown may have left an active marker: the
        // same call again under the same key returns it (or makes the one marker it would have made),
        // and it is cancelled before anything new is written.
        if (unsettled_) {
            bool unknown = false;
            std::optional<remote_record<entity_type>> replayed;
            try {
                replayed = create_marker(unsettled_->meta, unsettled_->key, unknown);
            } catch (const remote_error& e) {
                // Refused for good (not a failure a retry may cure, nor retries running out): a create
                // this key had made would have been replayed, so there is no marker to cancel. Anything
                // else leaves the outcome unknown: kept for the next save().
                if (!unknown && !e.retryable() && e.code() != errc::retries_exhausted) unsettled_.reset();
                throw;
            }
            if (replayed->state == remote_state::active) remember_uncancelled(replayed->remote_id);
            // Providers forget keys after about 24 hours: a replay after that made a marker of its own,
            // and the one the unknown create made is still active. It carries the same metadata and
            // was listed after the newest marker known before that create.
            each_listed(unsettled_->after, [&](remote_record<entity_type>& rec) {
                if (rec.state == remote_state::active && is_marker(rec) && rec.meta == unsettled_->meta)
                    remember_uncancelled(rec.remote_id);
            });
            unsettled_.reset();
            cancel_uncancelled();
        }
        // A fresh key per save: saving a record equal to an older one must create a new newest marker,
        // not replay the old one. Retries reuse it, so a timeout's unknown outcome makes one marker.
        const std::string key = "concord-witness:" + xxh3_128(owner_.text()).hex() + ":" + new_lineage_id();
        bool unknown = false;
        std::optional<remote_record<entity_type>> made;
        try {
            made = create_marker(m, key, unknown);
        } catch (const remote_error&) {
            if (unknown) unsettled_ = unsettled_create{key, m, hint_};  // it may have been applied: replayed by the next save()
            throw;
        }
        auto& created = *made;
        hint_ = created.seq;
        if (created.state == remote_state::active) {
            try {
                cancel_marker(created.remote_id);
            } catch (...) {
                uncancelled_.push_back(created.remote_id);
                throw;
            }
        }
        ++saves_;
    }

    /// Back off on `c` between retries (tests: concord::manual_clock); the default sleeps for real.
    template <clock_source C>
    void use_clock(C& c) {
        sleep_ = [&c](std::chrono::milliseconds d) { c.sleep_for(d); };
    }

    /// How many attempts a create or cancel gets, and the waits between them.
    void set_retry(retry_policy p) { retry_ = p; }

    /// Markers this object created but could not cancel yet (the next save() cancels them first).
    const std::vector<std::string>& uncancelled() const noexcept { return uncancelled_; }

    /// True while a marker create of an earlier save() has an unknown outcome (a timeout or a transient
    /// failure no retry settled): the next save() replays it under its key and cancels the result.
    bool create_unsettled() const noexcept { return unsettled_.has_value(); }

    /// Markers written by this object (tests, reports).
    std::size_t saves() const noexcept { return saves_; }

    /// True when `rec` is a marker of this installation's witness (our owner tag and the marker
    /// format), so code that counts or lists the remote's objects can leave markers out: they share
    /// the remote's ids, seqs and counters with the real objects.
    bool is_marker(const remote_record<entity_type>& rec) const {
        auto o = rec.meta.find(std::string(meta_keys::owner));
        auto f = rec.meta.find(std::string(witness_keys::format));
        return o != rec.meta.end() && o->second == owner_.text() && f != rec.meta.end() && f->second == "v1";
    }

private:
    /// A marker create whose outcome is unknown: replayed with the same key and metadata.
    struct unsettled_create {
        std::string key;
        metadata meta;
        std::optional<std::uint64_t> after;  ///< the newest marker known before it: the listing where it may be
    };

    /// Cancels the markers in uncancelled_, newest first; one already gone is dropped too.
    void cancel_uncancelled() {
        while (!uncancelled_.empty()) {
            try {
                cancel_marker(uncancelled_.back());
            } catch (const remote_error& e) {
                if (e.code() != errc::remote_not_found) throw;  // gone: nothing left that could act
            }
            uncancelled_.pop_back();
        }
    }

    void remember_uncancelled(const std::string& id) {
        if (std::find(uncancelled_.begin(), uncancelled_.end(), id) == uncancelled_.end()) uncancelled_.push_back(id);
    }

    /// Creates a marker with retries. `unknown` is set when an attempt failed in a way that may have
    /// applied it (a timeout, a transient failure), so a throw then leaves the outcome unknown.
    remote_record<entity_type> create_marker(const metadata& m, const std::string& key, bool& unknown) {
        return with_retries([&] {
            try {
                return remote_->create(marker_, m, key);
            } catch (const remote_error& e) {
                if (e.code() == errc::remote_timeout || e.code() == errc::remote_transient) unknown = true;
                throw;
            }
        });
    }

    void cancel_marker(const std::string& id) {
        with_retries([&] { return remote_->cancel(id, "concord-witness-cancel:" + id); });
    }

    /// f() with bounded retries under the same key, for failures a retry may cure.
    template <class F>
    auto with_retries(F&& f) {
        int attempts = 0;
        return detail::call_with_retries(retry_, sleep_, f, detail::no_settle{}, attempts, "witness marker: ");
    }

    static std::string chunk_key(std::size_t i) {
        std::string n = std::to_string(i);
        if (n.size() < 2) n = "0" + n;
        return std::string(witness_keys::chunk_prefix) + n;
    }

    /// Refuses limits no marker fits, here rather than at the first save(): the owner tag and the
    /// format's "v1" each take a value, and the longest record (every counter at its limit, no free
    /// text, which fit() may drop) takes chunk keys of the remote's value length.
    void check_limits() const {
        const auto l = R::limits();
        witness_record longest;
        longest.lineage = std::string(32, 'f');
        longest.generation = witness_generation_limit - 1;
        longest.attempts = witness_attempts_limit - 1;
        const std::size_t text = format_witness(longest).size();
        const std::size_t value = std::max<std::size_t>(owner_.text().size(), 2);
        const std::size_t per = std::max<std::size_t>(l.max_value_length, 1);
        const std::size_t chunks = (text + per - 1) / per;
        const std::size_t name =
            std::max({meta_keys::owner.size(), witness_keys::format.size(), chunk_key(chunks - 1).size()});
        if (l.max_value_length < value || l.max_key_length < name || l.max_keys < 2 + chunks)
            throw error(errc::invalid_argument,
                        "the remote's metadata limits (" + std::to_string(l.max_keys) + " keys, names of " +
                            std::to_string(l.max_key_length) + " characters, values of " +
                            std::to_string(l.max_value_length) + ") cannot hold a witness marker: it needs values of at least " +
                            std::to_string(value) + " characters (the owner tag '" + owner_.text() +
                            "'), names of at least " + std::to_string(name) + " characters, and 2 keys plus one per value of the " +
                            std::to_string(text) + "-character record (" + std::to_string(2 + chunks) + " keys at values of " +
                            std::to_string(l.max_value_length) + ")");
    }

    std::size_t capacity() const {
        const auto l = R::limits();
        return (l.max_keys - 2) * l.max_value_length;
    }

    /// Shortens the free-text fields until the record fits the remote's metadata (a very long
    /// failure message keeps its beginning).
    witness_record fit(witness_record r) const {
        while (format_witness(r).size() > capacity()) {
            if (!r.failure.empty()) r.failure.resize(r.failure.size() / 2);
            else if (!r.in_progress.empty()) r.in_progress.resize(r.in_progress.size() / 2);
            else throw error(errc::metadata_limit, "the witness record does not fit the remote's metadata");
        }
        return r;
    }

    metadata encode(const witness_record& r) const {
        const auto text = format_witness(fit(r));
        const auto chunk = R::limits().max_value_length;
        metadata m;
        m[std::string(meta_keys::owner)] = owner_.text();
        m[std::string(witness_keys::format)] = "v1";
        for (std::size_t i = 0, off = 0; off < text.size(); ++i, off += chunk) m[chunk_key(i)] = text.substr(off, chunk);
        check_metadata(m, R::limits());
        return m;
    }

    /// f(record) for every record the remote lists after `after`, page by page (each page validated).
    template <class F>
    void each_listed(std::optional<std::uint64_t> after, F&& f) {
        for (;;) {
            auto p = remote_->list(after, page_size_);
            validate_page(p, after, page_size_);
            for (auto& rec : p.items) {
                after = rec.seq;
                f(rec);
            }
            if (!p.has_more || p.items.empty()) break;
        }
    }

    std::optional<remote_record<entity_type>> newest(std::optional<std::uint64_t> after) {
        std::optional<remote_record<entity_type>> best;
        each_listed(after, [&](remote_record<entity_type>& rec) {
            if (is_marker(rec) && (!best || rec.seq > best->seq)) best = std::move(rec);
        });
        return best;
    }

    R* remote_;
    owner_tag owner_;
    entity_type marker_;
    std::size_t page_size_;
    std::optional<std::uint64_t> hint_;
    std::size_t saves_ = 0;
    retry_policy retry_{};
    std::function<void(std::chrono::milliseconds)> sleep_ = [](std::chrono::milliseconds d) { system_clock{}.sleep_for(d); };
    std::vector<std::string> uncancelled_;  ///< markers created and not yet cancelled (oldest first)
    std::optional<unsettled_create> unsettled_;  ///< a create whose outcome is unknown, replayed by the next save()
};

} // namespace concord
