#pragma once
// What plan() returns: the timeline verdict, every classified case, the actions the policy chose,
// the decisions put to the user and the problems found in the input. A plan is plain data: it can
// be printed as a dry run and applied later.

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <concord/cases.hpp>
#include <concord/hash.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>

namespace concord {

/// One entity (or group of remote entities sharing an identity) and the case it landed in.
template <class E>
struct classified {
    case_kind kind = case_kind::in_sync;
    key128 identity;                          ///< stable identity (zero for foreign records)
    std::string identity_text;                ///< the identity policy's description, for people
    std::optional<E> local;                   ///< the local entity, if any
    std::vector<remote_record<E>> remote;     ///< the remote record(s); several for duplicate
    std::optional<std::string> linked_remote; ///< the remote id the store's link names, if any
    std::vector<std::string> fields;          ///< diverged: members that differ
    std::string note;                         ///< why (foreign owner, dangling reference, ...)
    bool from_lost_generation = false;        ///< a remote effect of a generation lost by a restore
    std::uint64_t cancelled_before = 0;       ///< cancelled remote objects of ours with this identity: the
                                              ///< instance part of a re-creation's idempotency key
    std::uint64_t set_apart = 0;              ///< local_only: listed records set apart as not ours that
                                              ///< share its identity, that its link names, or that carry
                                              ///< our tag stamped with its identity, and the object its
                                              ///< link names listed as ours under another identity (see note):
                                              ///< the case is then always asked, and a create the user
                                              ///< chooses counts them into its key's instance
    bool takes_money() const {
        for (const auto& r : remote)
            if (r.takes_money && r.state == remote_state::active) return true;
        return false;
    }
};

/// A step apply() performs.
enum class action_kind : std::uint8_t {
    create_remote,  ///< remote create with an idempotency key, then link
    update_remote,  ///< remote update with an idempotency key
    cancel_remote,  ///< remote cancel with an idempotency key
    upsert_local,   ///< insert or update the local entity
    remove_local,   ///< delete the local entity
    link,           ///< record identity -> remote id
    unlink,         ///< forget the link of an identity
};

constexpr std::string_view to_string(action_kind k) noexcept {
    switch (k) {
    case action_kind::create_remote: return "create_remote";
    case action_kind::update_remote: return "update_remote";
    case action_kind::cancel_remote: return "cancel_remote";
    case action_kind::upsert_local: return "upsert_local";
    case action_kind::remove_local: return "remove_local";
    case action_kind::link: return "link";
    case action_kind::unlink: return "unlink";
    }
    return "unknown";
}

/// True for actions with a remote effect.
constexpr bool remote_effect(action_kind k) noexcept {
    return k == action_kind::create_remote || k == action_kind::update_remote || k == action_kind::cancel_remote;
}

/// One action. Actions of one case share `group` and are applied together.
template <class E>
struct action {
    action_kind kind = action_kind::link;
    std::size_t group = 0;           ///< index into plan::cases of the case it resolves
    key128 identity;
    std::string remote_id;           ///< target remote object (update, cancel, link)
    std::optional<E> value;          ///< content to write (create, update, upsert)
    std::int64_t local_id = 0;       ///< target local entity (remove, upsert of an existing one)
    std::string idempotency_key;     ///< for remote effects
    resolution why = resolution::nothing;
};

/// One option offered by a decision.
struct decision_option {
    resolution choice = resolution::report;
    std::string effect;              ///< what choosing it would do, in words
};

/// A case put to the user (ask_user). Stable id: the same situation yields the same id on every run,
/// so answers persisted outside the restore scope keep applying.
template <class E>
struct decision {
    std::string id;
    std::size_t group = 0;           ///< index into plan::cases
    case_kind kind = case_kind::orphan;
    key128 identity;
    std::string summary;             ///< the case in words, both sides' data included
    std::vector<decision_option> options;
};

/// Something wrong with the input: reported, never acted upon destructively.
struct problem {
    errc code = errc::invalid_argument;
    std::string message;
};

/// The result of plan(): pure data, printable, applicable.
template <class E>
struct plan {
    timeline_status timeline;
    std::vector<classified<E>> cases;              ///< every case except in_sync (counted below)
    std::array<std::size_t, case_count> counts{};  ///< entities per case, in_sync included
    std::vector<action<E>> actions;
    std::vector<decision<E>> decisions;            ///< open decisions (their entities are blocked)
    std::vector<problem> problems;
    std::optional<std::uint64_t> cursor;           ///< highest remote seq seen (new high-water mark)
    /// Records `cursor` was kept below (inbound::puller's plans: open decisions, identities a partial
    /// listing could not settle); puller::apply() reports this count for the plan it applies.
    std::size_t held = 0;
    /// The remote seqs `held` counts, each once: a record the plan holds whose action then fails
    /// (one joining an identity two local entities share, classified under another) counts once.
    std::vector<std::uint64_t> held_seqs;
    /// What plan_from() was told: destructive resolutions were allowed on a different database.
    /// apply() refuses such a plan in a session that has not adopted it (timeline_session::adopt_database).
    bool database_adopted = false;
    /// Local entities whose identity could not be computed (each reported in `problems`). Any of
    /// them may be the entity of a linked orphan, so such orphans are asked about, not acted on.
    std::size_t unkeyed_local = 0;

    std::size_t count(case_kind k) const { return counts[static_cast<std::size_t>(k)]; }
    bool blocked() const { return !decisions.empty(); }
    /// True when apply() would change nothing.
    bool empty() const { return actions.empty(); }
};

namespace detail {

/// The remote seqs a cursor must stay below so that a listing from it shows the cases `groups` of
/// `p` again (cases left unsettled: waiting for a decision, an action failed or skipped): their own
/// records, and the records of other cases that claim such a case's identity or are the object its
/// link names. A local_only case that asks because such a record is set apart holds none of its
/// own; past that record, no incremental listing would bring its identity back.
template <class E>
std::set<std::uint64_t> held_seqs_of(const plan<E>& p, const std::set<std::size_t>& groups) {
    std::set<std::uint64_t> out;
    std::set<key128> ids;
    std::set<std::string_view> linked;
    for (const auto g : groups) {
        if (g >= p.cases.size()) continue;
        const auto& c = p.cases[g];
        for (const auto& rec : c.remote) out.insert(rec.seq);
        if (!c.identity.empty()) ids.insert(c.identity);
        if (c.linked_remote) linked.insert(*c.linked_remote);
    }
    if (ids.empty() && linked.empty()) return out;
    for (const auto& c : p.cases)
        for (const auto& rec : c.remote) {
            key128 k;
            const auto it = rec.meta.find(std::string(meta_keys::identity));
            if (linked.count(rec.remote_id) || (it != rec.meta.end() && k.parse_hex(it->second) && ids.count(k)))
                out.insert(rec.seq);
        }
    return out;
}

} // namespace detail

} // namespace concord
