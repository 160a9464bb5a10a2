#pragma once
// The eight cases every entity is classified into, and the resolutions a conflict policy may pick.
// Cases exist both as a runtime enum (case_kind) and as tag types (concord::orphan, ...) so that a
// per-case policy is checked at compile time: a misspelt case is a compile error.

#include <array>
#include <cstdint>
#include <string_view>

namespace concord {

/// Where an entity stands after comparing both sides (brief section 4).
enum class case_kind : std::uint8_t {
    in_sync,        ///< both sides, same fingerprint
    diverged,       ///< both sides, different content
    local_only,     ///< local entity without remote counterpart
    orphan,         ///< remote entity we own without local counterpart
    relinkable,     ///< local entity re-created after a restore matching an existing remote entity
    duplicate,      ///< two or more remote entities of ours with one identity
    stale_inbound,  ///< remote-created entity whose local references no longer exist
    foreign,        ///< remote entity owned by someone else: reported, never touched
};

inline constexpr std::size_t case_count = 8;

inline constexpr std::array<case_kind, case_count> all_cases = {
    case_kind::in_sync,    case_kind::diverged,  case_kind::local_only,    case_kind::orphan,
    case_kind::relinkable, case_kind::duplicate, case_kind::stale_inbound, case_kind::foreign};

constexpr std::string_view to_string(case_kind c) noexcept {
    switch (c) {
    case case_kind::in_sync: return "in_sync";
    case case_kind::diverged: return "diverged";
    case case_kind::local_only: return "local_only";
    case case_kind::orphan: return "orphan";
    case case_kind::relinkable: return "relinkable";
    case case_kind::duplicate: return "duplicate";
    case case_kind::stale_inbound: return "stale_inbound";
    case case_kind::foreign: return "foreign";
    }
    return "unknown";
}

/// What a policy decides to do about one case (brief section 5).
enum class resolution : std::uint8_t {
    nothing,        ///< in sync: nothing to do
    push,           ///< diverged: write the local content to the remote
    pull,           ///< diverged: write the remote content into the local store
    create_remote,  ///< local_only: create on the remote with an idempotency key
    remove_local,   ///< local_only: delete the local entity
    cancel_remote,  ///< orphan: cancel / remove the remote entity
    import_local,   ///< orphan: insert it into the local store and link it
    adopt,          ///< relinkable: link the local entity to the existing remote one
    keep_oldest,    ///< duplicate: keep the oldest remote entity, cancel the others
    keep_all,       ///< duplicate: keep every remote entity, report
    discard,        ///< stale_inbound: drop it (remote cancelled where possible, local copy removed)
    keep,           ///< stale_inbound: keep it
    ask,            ///< put the case to the user as a decision
    report,         ///< report only (foreign, or a choice that changes nothing)
};

constexpr std::string_view to_string(resolution r) noexcept {
    switch (r) {
    case resolution::nothing: return "nothing";
    case resolution::push: return "push";
    case resolution::pull: return "pull";
    case resolution::create_remote: return "create_remote";
    case resolution::remove_local: return "remove_local";
    case resolution::cancel_remote: return "cancel_remote";
    case resolution::import_local: return "import_local";
    case resolution::adopt: return "adopt";
    case resolution::keep_oldest: return "keep_oldest";
    case resolution::keep_all: return "keep_all";
    case resolution::discard: return "discard";
    case resolution::keep: return "keep";
    case resolution::ask: return "ask";
    case resolution::report: return "report";
    }
    return "unknown";
}

/// True for resolutions that delete or cancel something.
constexpr bool destructive(resolution r) noexcept {
    return r == resolution::remove_local || r == resolution::cancel_remote || r == resolution::keep_oldest ||
           r == resolution::discard;
}

/// True for the destructive resolutions that cancel something on the remote (all but remove_local).
constexpr bool remote_destructive(resolution r) noexcept { return destructive(r) && r != resolution::remove_local; }

/// The resolutions that make sense for a case (the options offered in a decision).
constexpr std::array<resolution, 2> options_for(case_kind c) noexcept {
    switch (c) {
    case case_kind::diverged: return {resolution::push, resolution::pull};
    case case_kind::local_only: return {resolution::create_remote, resolution::remove_local};
    case case_kind::orphan: return {resolution::cancel_remote, resolution::import_local};
    case case_kind::duplicate: return {resolution::keep_oldest, resolution::keep_all};
    case case_kind::stale_inbound: return {resolution::discard, resolution::keep};
    case case_kind::relinkable: return {resolution::adopt, resolution::adopt};
    case case_kind::in_sync: return {resolution::nothing, resolution::nothing};
    case case_kind::foreign: return {resolution::report, resolution::report};
    }
    return {resolution::report, resolution::report};
}

/// Case tag types, for compile-time per-case policies.
template <case_kind K>
struct case_tag {
    static constexpr case_kind value = K;
};
using in_sync = case_tag<case_kind::in_sync>;
using diverged = case_tag<case_kind::diverged>;
using local_only = case_tag<case_kind::local_only>;
using orphan = case_tag<case_kind::orphan>;
using relinkable = case_tag<case_kind::relinkable>;
using duplicate = case_tag<case_kind::duplicate>;
using stale_inbound = case_tag<case_kind::stale_inbound>;
using foreign = case_tag<case_kind::foreign>;

} // namespace concord
