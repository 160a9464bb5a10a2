#pragma once
// Identity policies derive the *stable identity* of an entity: the key that survives a restore and a
// re-creation by the user. An identity key is XXH3-128 over
//     "concord-id/v1" | scope | policy name | canonical encoding of the identity members
// (each part length-prefixed, see docs/reference.md). Its text form is 32 hex digits.
//
// Provided policies:
//  * surrogate_id<>         the database id. UNSAFE across restores: after a restore the database
//                           hands out ids again, so a new entity can take an old entity's id and a
//                           re-created entity gets a new one. Kept to show why (and for tests).
//  * natural_key<&E::a,...> chosen members that mean the same thing in the user's world.
//  * content<> / content<&E::a,...>  all (or chosen) content members.
//  * client_token<&E::t>    a generated token stored on both sides (see new_client_token()).
//  * scoped<P>              P, prefixed by a runtime scope (tenant / integration).

#include <concepts>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>
#include <concord/concepts/identity_policy.hpp>

namespace concord {

namespace identity {
template <class Inner>
struct scoped;
} // namespace identity

namespace detail {

template <class P> struct is_scoped : std::false_type {};
template <class P> struct is_scoped<identity::scoped<P>> : std::true_type {};

inline void put_bytes(std::string& out, std::string_view s) {
    put_u64(out, s.size());
    out.append(s);
}

template <class T>
bool empty_value(const T& v) {
    if constexpr (is_optional<T>::value) return !v.has_value() || empty_value(*v);  // "" is no identity either
    else if constexpr (std::is_same_v<T, std::string>) return v.empty();
    else return false;
}

template <class E, class T>
std::string_view name_of_member(T E::*m) {
    static const E sample{};
    std::string_view found = "?";
    entity_info<E>::for_each_member(sample, [&](std::string_view name, const auto& ref) {
        if (static_cast<const void*>(&ref) == static_cast<const void*>(&(sample.*m))) found = name;
    });
    return found;
}

/// `a="x", b=2`: the members' names and values as reports print them (strings quoted and escaped).
template <class E, auto... Members>
std::string describe_members(const E& e) {
    std::string out;
    bool first = true;
    ((out += first ? "" : ", ", out += name_of_member<E>(Members), out += '=', append_value(out, e.*Members),
      first = false),
     ...);
    return out;
}

template <auto M> struct member_ptr_traits;
template <class E, class T, T E::*M>
struct member_ptr_traits<M> {
    using entity_type = E;
    using value_type = T;
};

/// XXH3-128 of "concord-id/v1" | scope | policy | body, where body(char*) writes body_size bytes.
/// Built in one sized buffer (on the stack for usual keys): identity keys are computed per entity
/// on the streaming and planning hot paths.
template <class Body>
identity_key identity_hash(std::string_view scope, std::string_view policy, std::size_t body_size, Body&& body) {
    static constexpr std::string_view tag = "concord-id/v1";
    const std::size_t size = tag.size() + 8 + scope.size() + 8 + policy.size() + body_size;
    return hash_encoding(size, [&](char* p) {
        std::memcpy(p, tag.data(), tag.size());
        p = put_bytes(p + tag.size(), scope);
        body(put_bytes(p, policy));
    });
}

/// identity_hash() of the canonical encodings of the values, in order.
template <class... T>
identity_key identity_of_values(std::string_view scope, std::string_view policy, const T&... v) {
    return identity_hash(scope, policy, (std::size_t{0} + ... + encoded_size(v)),
                         [&](char* p) { ((p = encode_to(p, v)), ...); });
}

} // namespace detail

namespace identity {

/// The database id. Not stable across restores: see the header comment.
struct surrogate_id {
    static constexpr bool stable_across_restores = false;
    std::string scope;

    template <entity E>
    identity_key key(const E& e) const {
        static_assert(entity_info<E>::has_local_id,
                      "concord::identity::surrogate_id needs a local id member (named `id`, or specialise "
                      "concord::entity_traits<E>::local_id)");
        const auto id = local_id_of(e);
        if (id == 0) throw error(errc::empty_identity, "surrogate_id: the entity's local id is not assigned yet");
        return detail::identity_of_values(scope, "surrogate_id", id);
    }
    template <entity E>
    std::string describe(const E& e) const {
        return "id=" + std::to_string(local_id_of(e));
    }
};

/// Chosen members that identify the entity in the user's world (customer + invoice number).
template <auto... Members>
struct natural_key {
    static_assert(sizeof...(Members) > 0, "concord::identity::natural_key needs at least one member pointer");
    static constexpr bool stable_across_restores = true;
    std::string scope;

    /// True when key() succeeds: no identity member is empty. stream_merge() asks this instead of
    /// hashing when its order is by_members of the same members.
    template <entity E>
    bool identifiable(const E& e) const {
        return !(detail::empty_value(e.*Members) || ...);
    }
    template <entity E>
    identity_key key(const E& e) const {
        if (!identifiable(e)) {
            std::string names;
            ((detail::empty_value(e.*Members) ? (names += (names.empty() ? "" : ", "),
                                                 names += detail::name_of_member<E>(Members), 0)
                                              : 0),
             ...);
            throw error(errc::empty_identity, "natural_key: identity member(s) empty: " + names);
        }
        return detail::identity_of_values(scope, "natural_key", e.*Members...);
    }
    template <entity E>
    std::string describe(const E& e) const {
        return detail::describe_members<E, Members...>(e);
    }
};

/// Fingerprint of all content members (no arguments) or of the chosen ones. Two entities with the
/// same content are one entity; an edit makes a new identity (fits immutable remote entities).
template <auto... Members>
struct content {
    static constexpr bool stable_across_restores = true;
    std::string scope;

    template <entity E>
    identity_key key(const E& e) const {
        if constexpr (sizeof...(Members) == 0)
            return detail::identity_hash(scope, "content", detail::content_size(e),
                                         [&](char* p) { detail::encode_content_to(p, e); });
        else
            return detail::identity_of_values(scope, "content", e.*Members...);
    }
    /// content<&E::a, ...>: the chosen members, as natural_key writes them (`code="L-1"`).
    /// content<>: `content=` and the entity's fingerprint (32 hex digits): the identity is made of
    /// every content member, too many to print on a report line, and the fingerprint is exactly
    /// those members' hash: stable, independent of the scope (scoped<> prefixes that), and the value
    /// concord::fingerprint(e) and the stores show for the same entity.
    template <entity E>
    std::string describe(const E& e) const {
        if constexpr (sizeof...(Members) == 0) return "content=" + fingerprint(e).hex();
        else return detail::describe_members<E, Members...>(e);
    }
};

/// A generated token stored in the entity itself and on the remote: survives restores as long as
/// the token is generated once per conceptual entity (see new_client_token()).
template <auto Member>
struct client_token {
    static constexpr bool stable_across_restores = true;
    std::string scope;

    template <entity E>
    identity_key key(const E& e) const {
        static_assert(std::is_same_v<typename detail::member_ptr_traits<Member>::value_type, std::string>,
                      "concord::identity::client_token needs a std::string member");
        if ((e.*Member).empty())
            throw error(errc::empty_identity,
                        "client_token: member '" + std::string(detail::name_of_member<E>(Member)) + "' is empty");
        return detail::identity_of_values(scope, "client_token", e.*Member);
    }
    /// `token="..."`: quoted and escaped like natural_key's members (the token comes from the
    /// remote as often as from us, so its text must not be able to forge report lines).
    template <entity E>
    std::string describe(const E& e) const {
        return detail::describe_members<E, Member>(e);
    }
};

} // namespace identity

namespace detail {

// Which policies hash their own `scope` member: concord's (and policies derived from them, such as
// payments' plan_identity). Declarations only, for decltype. scoped<P> is not among them: its
// `inner.scope` holds the join its constructor made.
std::true_type hashes_own_scope(const identity::surrogate_id*);
template <auto... M> std::true_type hashes_own_scope(const identity::natural_key<M...>*);
template <auto... M> std::true_type hashes_own_scope(const identity::content<M...>*);
template <auto M> std::true_type hashes_own_scope(const identity::client_token<M>*);
std::false_type hashes_own_scope(const void*);

/// Refuses (errc::invalid_argument) a '/' in the own `scope` of one of concord's identity policies:
/// '/' is what joins scoped<P>'s scope to P's, so natural_key{.scope = "a/b"} would make the keys
/// of scoped("a", natural_key{.scope = "b"}), two configurations with one set of identities.
/// Called once where a policy is taken (the reconciler's and scoped's constructors), never per key:
/// key() is on the planning hot path. Other policies are left alone (their scope is their own).
template <class P>
void check_own_scope(const P& p, std::string_view who) {
    if constexpr (decltype(hashes_own_scope(static_cast<const P*>(nullptr)))::value) {
        if (p.scope.find('/') != std::string::npos)
            throw error(errc::invalid_argument,
                        std::string(who) + ": the identity policy's scope '" + p.scope +
                            "' contains '/', which joins a scoped<P>'s scope to P's: its keys would be those of "
                            "another configuration. For a nested scope use scoped<P>(\"outer\", P{.scope = "
                            "\"inner\"}) (the keys of \"outer/inner\")");
    }
}

} // namespace detail

namespace identity {

/// Wraps another policy and prefixes a scope (tenant / integration) that is part of every key, so two
/// tenants' "invoice 42" never share an identity.
template <class Inner>
struct scoped {
    static_assert(!detail::is_scoped<Inner>::value,
                  "concord::identity::scoped<scoped<P>> is not supported: give the inner policy the inner "
                  "scope instead, scoped<P>(\"tenant\", P{.scope = \"integration\"}): its keys are those of "
                  "the scope \"tenant/integration\".");
    static constexpr bool stable_across_restores = Inner::stable_across_restores;
    Inner inner;

    explicit scoped(std::string scope_name, Inner p = {}) : inner(std::move(p)) {
        if (scope_name.empty()) throw error(errc::invalid_argument, "scoped identity: the scope must not be empty");
        detail::check_own_scope(inner, "scoped identity");  // P{.scope = "b/c"} joined to "a" would pass for "a/b"
        // '/' joins this scope to the inner policy's own: scoped("a/b") would make the keys of
        // scoped("a", p) for a policy p whose scope is "b".
        if (scope_name.find('/') != std::string::npos)
            throw error(errc::invalid_argument, "scoped identity: the scope '" + scope_name +
                                                    "' contains '/', which joins it to the inner policy's own scope: "
                                                    "give the inner policy the rest (its `scope` member)");
        inner.scope = std::move(scope_name) + (inner.scope.empty() ? "" : "/" + inner.scope);
    }
    template <entity E>
    identity_key key(const E& e) const {
        return inner.key(e);
    }
    template <entity E>
    std::string describe(const E& e) const {
        return inner.scope + ":" + inner.describe(e);
    }
};

} // namespace identity

/// A fresh client token: 128 random bits from the kernel (getrandom) as 32 hex digits. Generate it once
/// when the user creates the conceptual entity, store it, and never derive it from a database id.
inline std::string new_client_token() { return random_key128().hex(); }

/// The operation an idempotency key stands for.
struct operation {
    std::string_view kind;           ///< "create", "update", "cancel", "charge", ...
    std::uint64_t instance = 0;      ///< distinguishes repeated but distinct operations (cancel, resume, cancel)
    std::string_view parameters;     ///< canonical encoding of the parameters (same key + other params = error)
};

/// Maximum idempotency key length accepted by common providers.
inline constexpr std::size_t default_key_limit = 255;

/// Idempotency key: "cc1-" followed by the 64 hex digits of
///   SHA-256("concord-idem/v1" | scope | identity (16 bytes, hi then lo, big-endian) | kind |
///           instance (8 bytes LE) | parameters)
/// with every variable-length part length-prefixed (8-byte LE). 68 printable ASCII characters.
inline std::string idempotency_key(std::string_view scope, const identity_key& id, const operation& op,
                                   std::size_t limit = default_key_limit) {
    static constexpr std::string_view tag = "concord-idem/v1", prefix = "cc1-";
    constexpr std::size_t key_size = prefix.size() + 64;
    if (key_size > limit)
        throw error(errc::key_too_long, "idempotency key of " + std::to_string(key_size) +
                                            " characters exceeds the remote's limit of " + std::to_string(limit));
    // The encoding goes into one buffer, on the stack when it fits: a key is derived per remote
    // action, and the allocations of a string grown part by part cost more than the hash.
    const std::size_t size = tag.size() + 8 + scope.size() + 16 + 8 + op.kind.size() + 8 + 8 + op.parameters.size();
    char small[512];
    std::string large;
    char* const buf = size <= sizeof small ? small : (large.resize(size), large.data());
    char* p = buf;
    std::memcpy(p, tag.data(), tag.size());
    p = detail::put_bytes(p + tag.size(), scope);
    for (const std::uint64_t half : {id.hi, id.lo})
        for (int i = 7; i >= 0; --i) *p++ = static_cast<char>((half >> (8 * i)) & 0xFF);
    p = detail::put_bytes(p, op.kind);
    p = detail::put_u64(p, op.instance);
    p = detail::put_bytes(p, op.parameters);
    std::string key(key_size, '0');
    std::memcpy(key.data(), prefix.data(), prefix.size());
    write_hex(key.data() + prefix.size(), sha256(std::string_view(buf, static_cast<std::size_t>(p - buf))));
    return key;
}

/// Canonical parameter encoding of any encodable values, for operation::parameters.
template <class... T>
std::string encode_parameters(const T&... v) {
    std::string out;
    (encode_value(out, v), ...);
    return out;
}

} // namespace concord
