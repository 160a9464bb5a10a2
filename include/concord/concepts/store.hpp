#pragma once
// Concept: a Store is the local, restorable side. It scans entities, keeps links and the sync
// checkpoint *inside* the database (so a restore rewinds them too) and applies a change batch in
// one transaction.

#include <concepts>
#include <optional>
#include <type_traits>
#include <vector>

#include <concord/entity.hpp>
#include <concord/records.hpp>

namespace concord {

/// S is a store of entities of type S::entity_type:
///  * `using entity_type = E;` (a Hana-described struct),
///  * `std::vector<E> scan()` every local entity,
///  * `std::vector<link> links()` every link (identity -> remote id),
///  * `std::optional<checkpoint> load_checkpoint()` (nullopt before the first commit),
///  * `void commit(const change_batch<E>&)` applies the batch atomically (all or nothing).
template <class S>
concept store = requires { typename S::entity_type; } && entity<typename S::entity_type> &&
                requires(S& s, const change_batch<typename S::entity_type>& b) {
                    { s.scan() } -> std::same_as<std::vector<typename S::entity_type>>;
                    { s.links() } -> std::same_as<std::vector<link>>;
                    { s.load_checkpoint() } -> std::same_as<std::optional<checkpoint>>;
                    s.commit(b);
                };

namespace detail {
/// Named checks so a type that falls short gets a message saying what to add.
template <class S>
constexpr bool check_store() {
    static_assert(requires { typename S::entity_type; },
                  "concord store: add `using entity_type = <your entity>;` to your Store type");
    if constexpr (requires { typename S::entity_type; }) {
        using E = typename S::entity_type;
        static_assert(entity<E>, "concord store: entity_type must be described with BOOST_HANA_DEFINE_STRUCT or "
                                 "BOOST_HANA_ADAPT_STRUCT and be default-constructible");
        static_assert(requires(S& s) { { s.scan() } -> std::same_as<std::vector<E>>; },
                      "concord store: add `std::vector<entity_type> scan()` returning every local entity");
        static_assert(requires(S& s) { { s.links() } -> std::same_as<std::vector<link>>; },
                      "concord store: add `std::vector<concord::link> links()` returning every stored link");
        static_assert(requires(S& s) { { s.load_checkpoint() } -> std::same_as<std::optional<checkpoint>>; },
                      "concord store: add `std::optional<concord::checkpoint> load_checkpoint()`");
        static_assert(requires(S& s, const change_batch<E>& b) { s.commit(b); },
                      "concord store: add `void commit(const concord::change_batch<entity_type>&)` applying the batch "
                      "in one transaction");
    }
    return true;
}
} // namespace detail

} // namespace concord
