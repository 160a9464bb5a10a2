#pragma once
// Concept: a RemoteSource is the remote side. Listing in pages ("next N with seq > X") is required;
// everything else is an optional capability detected at compile time, so a read-only remote simply
// cannot be told to cancel: the reconciler reports what it cannot do instead.

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <concord/entity.hpp>
#include <concord/records.hpp>

namespace concord {

/// R lists remote entities: `using entity_type = E;` and
/// `page<E> list(std::optional<std::uint64_t> after, std::size_t limit)` returning records with
/// seq > after (all when nullopt) in increasing seq order, at most `limit` of them.
template <class R>
concept remote_source = requires { typename R::entity_type; } && entity<typename R::entity_type> &&
                        requires(R& r, std::optional<std::uint64_t> after, std::size_t limit) {
                            { r.list(after, limit) } -> std::same_as<page<typename R::entity_type>>;
                        };

/// Capability: `remote_record<E> create(const E&, const metadata&, const std::string& idempotency_key)`.
template <class R>
concept remote_can_create = remote_source<R> && requires(R& r, const typename R::entity_type& e, const metadata& m,
                                                         const std::string& key) {
    { r.create(e, m, key) } -> std::same_as<remote_record<typename R::entity_type>>;
};

/// Capability: `remote_record<E> update(std::string_view remote_id, const E&, const std::string& key)`.
template <class R>
concept remote_can_update = remote_source<R> && requires(R& r, std::string_view id, const typename R::entity_type& e,
                                                         const std::string& key) {
    { r.update(id, e, key) } -> std::same_as<remote_record<typename R::entity_type>>;
};

/// Capability: `remote_record<E> cancel(std::string_view remote_id, const std::string& key)` (cancel or remove).
template <class R>
concept remote_can_cancel = remote_source<R> && requires(R& r, std::string_view id, const std::string& key) {
    { r.cancel(id, key) } -> std::same_as<remote_record<typename R::entity_type>>;
};

/// Capability: `std::optional<remote_record<E>> find_by_key(const std::string& key)`: settles an
/// outcome-unknown timeout by asking whether the key was applied.
template <class R>
concept remote_can_lookup_key = remote_source<R> && requires(R& r, const std::string& key) {
    { r.find_by_key(key) } -> std::same_as<std::optional<remote_record<typename R::entity_type>>>;
};

/// Capability: the remote stores metadata; `static metadata_limits limits()` says how much.
template <class R>
concept remote_has_metadata = remote_source<R> && requires {
    { R::limits() } -> std::same_as<metadata_limits>;
};

/// Capability: listing bounded by creation time (payment providers' `created >= t` filter):
/// `page<E> list_created_since(std::int64_t since, std::optional<std::uint64_t> after, std::size_t limit)`.
template <class R>
concept remote_can_list_since = remote_source<R> && requires(R& r, std::int64_t t, std::optional<std::uint64_t> after,
                                                             std::size_t limit) {
    { r.list_created_since(t, after, limit) } -> std::same_as<page<typename R::entity_type>>;
};

namespace detail {
template <class R>
constexpr bool check_remote_source() {
    static_assert(requires { typename R::entity_type; },
                  "concord remote_source: add `using entity_type = <your entity>;` to your RemoteSource type");
    if constexpr (requires { typename R::entity_type; }) {
        using E = typename R::entity_type;
        static_assert(requires(R& r, std::optional<std::uint64_t> a, std::size_t n) {
            { r.list(a, n) } -> std::same_as<page<E>>;
        }, "concord remote_source: add `concord::page<entity_type> list(std::optional<std::uint64_t> after, "
           "std::size_t limit)` listing records with seq > after in increasing order");
    }
    return true;
}
} // namespace detail

} // namespace concord
