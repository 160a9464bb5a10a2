#pragma once
// Concept: a Store is the local, restorable side. It scans entities, keeps links and the sync
// checkpoint *inside* the database (so a restore rewinds them too) and applies a change batch in
// one transaction.

#include <concepts>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
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

/// Optional: S can lock out a second reconcile of the same database, `lock_reconcile(std::string_view
/// scope)` returning a guard that holds the lock until destroyed and throwing errc::concurrent_reconcile
/// when another session holds it (sqlite_store, postgres_store).
template <class S>
concept store_can_lock = requires(S& s, std::string_view scope) { s.lock_reconcile(scope); };

/// Calls f() under `s.lock_reconcile(scope)` when the store offers it (store_can_lock), else just
/// calls it. Every whole-session entry point (reconciler::reconcile, inbound::puller::pull and
/// full_rescan, mirror::mirror::sync(witness)) runs its session through this.
template <class S, class F>
decltype(auto) with_reconcile_lock(S& s, std::string_view scope, F&& f) {
    if constexpr (store_can_lock<S>) {
        auto lock = s.lock_reconcile(scope);
        return std::forward<F>(f)();
    } else {
        return std::forward<F>(f)();
    }
}

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
