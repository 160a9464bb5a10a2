#pragma once
// Plain data that flows between stores, remotes and the reconciler: remote records and pages,
// metadata with provider limits and the owner tag, links, the sync checkpoint and change batches.

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <concord/error.hpp>
#include <concord/hash.hpp>

namespace concord {

/// Remote metadata: string keys to string values (what payment providers offer).
using metadata = std::map<std::string, std::string>;

/// A remote's metadata limits. Defaults are a well-known payment provider's: 50 keys, 40-character
/// names, 500-character values.
struct metadata_limits {
    std::size_t max_keys = 50;
    std::size_t max_key_length = 40;
    std::size_t max_value_length = 500;
};

/// Throws errc::metadata_limit naming the offending key when `m` exceeds `limits`.
inline void check_metadata(const metadata& m, const metadata_limits& limits) {
    if (m.size() > limits.max_keys)
        throw error(errc::metadata_limit, std::to_string(m.size()) + " metadata keys exceed the limit of " +
                                              std::to_string(limits.max_keys));
    for (const auto& [k, v] : m) {
        if (k.empty()) throw error(errc::metadata_limit, "metadata key must not be empty");
        if (k.size() > limits.max_key_length)
            throw error(errc::metadata_limit, "metadata key '" + k + "' is " + std::to_string(k.size()) +
                                                  " characters, limit " + std::to_string(limits.max_key_length));
        if (v.size() > limits.max_value_length)
            throw error(errc::metadata_limit, "metadata value of '" + k + "' is " + std::to_string(v.size()) +
                                                  " characters, limit " + std::to_string(limits.max_value_length));
    }
}

/// Metadata keys concord writes on remote objects it creates.
namespace meta_keys {
inline constexpr std::string_view owner = "concord_owner";       ///< owner tag, see owner_tag
inline constexpr std::string_view identity = "concord_id";       ///< identity key, 32 hex digits
inline constexpr std::string_view generation = "concord_gen";    ///< generation that created it
} // namespace meta_keys

/// Who owns a remote object: this installation's integration. Text form
/// "concord/v1:<installation>:<integration>"; the parts are non-empty and contain no ':'.
/// A tag is evidence, not proof: anyone holding the account's secret can write metadata, so concord
/// also requires an identity it can account for before it touches an object.
struct owner_tag {
    std::string installation;
    std::string integration;

    std::string text() const { return "concord/v1:" + installation + ":" + integration; }
    friend bool operator==(const owner_tag&, const owner_tag&) = default;

    /// Result of reading a tag from metadata.
    enum class parse_result { absent, not_concord, malformed, ok };

    /// Parses `text`. Tags that do not start with "concord/" are someone else's (not_concord); tags that
    /// do but do not parse are malformed (reported, never trusted).
    static parse_result parse(std::string_view text, owner_tag& out) {
        if (text.substr(0, 8) != "concord/") return parse_result::not_concord;
        if (text.substr(0, 11) != "concord/v1:") return parse_result::malformed;
        auto rest = text.substr(11);
        const auto colon = rest.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 >= rest.size()) return parse_result::malformed;
        auto inst = rest.substr(0, colon);
        auto integ = rest.substr(colon + 1);
        if (integ.find(':') != std::string_view::npos) return parse_result::malformed;
        for (char c : text)
            if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return parse_result::malformed;
        out.installation = std::string(inst);
        out.integration = std::string(integ);
        return parse_result::ok;
    }

    /// Throws errc::invalid_argument if the parts cannot form a tag.
    void validate() const {
        auto bad = [](const std::string& s) {
            if (s.empty()) return true;
            for (char c : s)
                if (c == ':' || static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return true;
            return false;
        };
        if (bad(installation) || bad(integration))
            throw error(errc::invalid_argument,
                        "owner tag parts must be non-empty printable ASCII without ':' (installation='" + installation +
                            "', integration='" + integration + "')");
    }
};

/// The metadata concord writes on every remote object it creates: owner tag, identity key and the
/// generation that created it, so the remote itself can testify after a restore.
inline metadata stamp_metadata(const owner_tag& owner, const key128& identity, std::uint64_t generation) {
    metadata m;
    m[std::string(meta_keys::owner)] = owner.text();
    m[std::string(meta_keys::identity)] = identity.hex();
    m[std::string(meta_keys::generation)] = std::to_string(generation);
    return m;
}

/// Lifecycle of a remote object. Cancelled objects can no longer act (charge, sync) and are not
/// classified again; they are kept for look-ups (an idempotency key may still point at one).
enum class remote_state { active, cancelled };

/// One remote entity with the remote's envelope.
template <class E>
struct remote_record {
    std::string remote_id;          ///< the remote's id (opaque string)
    std::uint64_t seq = 0;          ///< monotonically increasing listing id ("next N > X")
    E value{};                      ///< the entity as the remote holds it
    metadata meta;                  ///< remote metadata (owner tag, identity key, generation)
    remote_state state = remote_state::active;
    std::int64_t created_at = 0;    ///< remote creation time (seconds), for time-bounded scans
    bool takes_money = false;       ///< can still move money (an active payment plan): orphans of this kind block
};

/// One page of a remote listing: records with seq > after, in increasing seq order, at most `limit`.
template <class E>
struct page {
    std::vector<remote_record<E>> items;
    bool has_more = false;          ///< the remote says more records follow
};

/// A link between a stable identity and the remote object that represents it. Stored in the store,
/// so a restore rewinds links with the data.
struct link {
    key128 identity;
    std::string remote_id;
    std::uint64_t generation = 0;   ///< generation that committed the link
    friend bool operator==(const link&, const link&) = default;
};

/// The sync checkpoint kept inside the store (restored with it).
struct checkpoint {
    std::string lineage;                          ///< random id of this database's timeline
    std::uint64_t generation = 0;                 ///< bumped by every committing reconcile
    std::map<std::string, std::uint64_t> cursors; ///< high-water marks over remote seq, by name
    friend bool operator==(const checkpoint&, const checkpoint&) = default;
};

/// Local changes applied in one store transaction, together with link and checkpoint changes.
template <class E>
struct change_batch {
    std::vector<E> upserts;                   ///< local id 0 inserts (the store assigns the id)
    std::vector<std::int64_t> removals;       ///< local ids to delete
    std::vector<link> link_upserts;
    std::vector<key128> link_removals;
    std::optional<checkpoint> new_checkpoint; ///< written in the same transaction
    bool empty() const {
        return upserts.empty() && removals.empty() && link_upserts.empty() && link_removals.empty() && !new_checkpoint;
    }
};

namespace detail {
inline bool parse_u64(std::string_view s, std::uint64_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}
} // namespace detail

/// concord's stamp as read from a remote object's metadata: pointers to the three values (null when
/// absent), found in one walk over the map. Valid while the metadata is.
struct stamp_view {
    const std::string* owner = nullptr;
    const std::string* identity = nullptr;
    const std::string* generation = nullptr;
};

inline stamp_view read_stamp(const metadata& m) noexcept {
    stamp_view v;
    for (const auto& [k, val] : m) {
        if (k == meta_keys::owner) v.owner = &val;
        else if (k == meta_keys::identity) v.identity = &val;
        else if (k == meta_keys::generation) v.generation = &val;
    }
    return v;
}

/// The identity key the stamp carries when its owner tag is exactly `owner_text` (ours) and the key
/// parses; none otherwise. Only what the tag claims: whether the object is provably ours is check_stamp's
/// and the content's to say.
inline std::optional<key128> stamped_identity(const stamp_view& s, std::string_view owner_text) noexcept {
    key128 id;
    if (!s.owner || *s.owner != owner_text || !s.identity || !id.parse_hex(*s.identity)) return std::nullopt;
    return id;
}

/// What the stamp alone says about an object whose owner tag is ours (brief section 8: a tag is
/// evidence, not proof). `accounted` needs an identity key that parses (into `id`) and a generation
/// concord committed (1..max_generation); the caller then recomputes the identity from the content.
enum class stamp_check { accounted, no_identity, unknown_generation };

inline stamp_check check_stamp(const stamp_view& s, std::uint64_t max_generation, key128& id) noexcept {
    if (!s.identity || !id.parse_hex(*s.identity)) return stamp_check::no_identity;
    std::uint64_t g = 0;
    if (!s.generation || !detail::parse_u64(*s.generation, g) || g == 0 || g > max_generation)
        return stamp_check::unknown_generation;
    return stamp_check::accounted;
}

} // namespace concord
