#pragma once
// Typed errors. Every failure concord reports carries an errc (what went wrong, for code) and a
// message (what went wrong, for people); errors that wrap another keep it as std::nested_exception
// so the underlying cause reaches the user instead of a bare "failed".

#include <stdexcept>
#include <string>
#include <string_view>

namespace concord {

/// What went wrong, as a value a caller can switch on.
enum class errc {
    empty_identity,          ///< an identity field is empty, so the entity cannot be identified
    key_too_long,            ///< an idempotency key exceeds the remote's limit
    metadata_limit,          ///< metadata exceeds the remote's limits (keys, name or value length)
    bad_page,                ///< a remote page went backwards, repeated an id or was too large
    duplicate_local,         ///< two local entities share one stable identity
    malformed_owner_tag,     ///< a remote owner tag that claims to be concord's but does not parse
    idempotency_conflict,    ///< the same idempotency key was reused with other parameters
    remote_transient,        ///< a remote failure worth retrying with the same key
    remote_rate_limited,     ///< the remote refused for rate reasons; retry later with the same key
    remote_timeout,          ///< the outcome of a remote call is unknown
    remote_not_found,        ///< the remote object does not exist
    remote_permanent,        ///< the remote refused for good
    retries_exhausted,       ///< a remote call failed every bounded retry
    witness_corrupt,         ///< the witness record cannot be parsed or fails its checksum
    checkpoint_corrupt,      ///< the store's checkpoint is not what concord wrote
    not_a_database,          ///< the store file is not a database of the expected kind
    store_failure,           ///< the local store failed (I/O, constraint, SQL)
    decision_unknown,        ///< an answer names a decision or option that does not exist
    blocked,                 ///< an action was refused because an open decision or quarantine blocks it
    concurrent_reconcile,    ///< another reconcile holds the lock
    repeated_failure,        ///< a reconcile failed the same way as the interrupted one before it
    unsupported,             ///< the remote lacks a capability the chosen action needs
    invalid_argument,        ///< a caller passed a value concord cannot use
    cursor_rejected,         ///< the remote no longer accepts a listing cursor (expired, pruned); recover by a full re-scan
    identity_collision,      ///< two identity keys agree in the 96 bits plan() joins on: both are left alone
    system_failure,          ///< a system facility failed (the kernel's random source, libcrypto)
    unstable_identity,       ///< the identity policy is not stable across restores: its matches are put to the user
    partial_listing,         ///< a partial listing cannot settle an identity (its link names an object it does not show): left for a full scan
};

/// Short stable name of an error code, used in reports and JSON.
constexpr std::string_view to_string(errc e) noexcept {
    switch (e) {
    case errc::empty_identity: return "empty_identity";
    case errc::key_too_long: return "key_too_long";
    case errc::metadata_limit: return "metadata_limit";
    case errc::bad_page: return "bad_page";
    case errc::duplicate_local: return "duplicate_local";
    case errc::malformed_owner_tag: return "malformed_owner_tag";
    case errc::idempotency_conflict: return "idempotency_conflict";
    case errc::remote_transient: return "remote_transient";
    case errc::remote_rate_limited: return "remote_rate_limited";
    case errc::remote_timeout: return "remote_timeout";
    case errc::remote_not_found: return "remote_not_found";
    case errc::remote_permanent: return "remote_permanent";
    case errc::retries_exhausted: return "retries_exhausted";
    case errc::witness_corrupt: return "witness_corrupt";
    case errc::checkpoint_corrupt: return "checkpoint_corrupt";
    case errc::not_a_database: return "not_a_database";
    case errc::store_failure: return "store_failure";
    case errc::decision_unknown: return "decision_unknown";
    case errc::blocked: return "blocked";
    case errc::concurrent_reconcile: return "concurrent_reconcile";
    case errc::repeated_failure: return "repeated_failure";
    case errc::unsupported: return "unsupported";
    case errc::invalid_argument: return "invalid_argument";
    case errc::cursor_rejected: return "cursor_rejected";
    case errc::identity_collision: return "identity_collision";
    case errc::system_failure: return "system_failure";
    case errc::unstable_identity: return "unstable_identity";
    case errc::partial_listing: return "partial_listing";
    }
    return "unknown";
}

/// Base of every exception concord throws.
class error : public std::runtime_error {
public:
    error(errc code, const std::string& what)
        : std::runtime_error(std::string(to_string(code)) + ": " + what), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

/// A remote call failed. `code()` tells whether a retry with the same key may help.
class remote_error : public error {
public:
    using error::error;
    /// True for failures a bounded retry with the same idempotency key may cure.
    bool retryable() const noexcept {
        return code() == errc::remote_transient || code() == errc::remote_rate_limited ||
               code() == errc::remote_timeout;
    }
};

/// The local store failed; the cause (SQLite/libpq message) is part of the text.
class store_error : public error {
public:
    using error::error;
};

} // namespace concord
