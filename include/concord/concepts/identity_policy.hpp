#pragma once
// Concept: an identity policy derives the stable identity of an entity (see identity.hpp).

#include <concepts>
#include <string>

#include <concord/entity.hpp>
#include <concord/hash.hpp>

namespace concord {

/// A stable identity key (XXH3-128, see identity.hpp).
using identity_key = key128;

/// P derives a stable identity for entities of type E:
///  * `identity_key key(const E&) const` (throws errc::empty_identity for unidentifiable entities),
///  * `std::string describe(const E&) const` for reports,
///  * `static constexpr bool stable_across_restores`.
template <class P, class E>
concept identity_policy = entity<E> && requires(const P& p, const E& e) {
    { p.key(e) } -> std::same_as<identity_key>;
    { p.describe(e) } -> std::convertible_to<std::string>;
    { P::stable_across_restores } -> std::convertible_to<bool>;
};

} // namespace concord
