#pragma once
// Shared, well-formed pieces for the compile-fail snippets: each snippet breaks exactly one thing.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

namespace fx {
struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, sku), (std::int64_t, qty));
};
using good_store = concord::memory_store<item>;
using good_remote = concord::memory_remote<item>;
using good_identity = concord::identity::natural_key<&item::sku>;
using good_policy = concord::policy::trust_local;

/// Instantiates the reconciler class (its static_asserts run at class instantiation).
template <class Store = good_store, class Remote = good_remote, class Identity = good_identity,
          class Policy = good_policy>
constexpr std::size_t instantiate() {
    return sizeof(concord::reconciler<item, Store, Remote, Identity, Policy>);
}
} // namespace fx
