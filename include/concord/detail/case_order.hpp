#pragma once
// The order of a plan's cases (reconciler::decide_all): foreign ones first, by remote id; then the
// others by identity; ties keep their order. Sorted through keys that do not depend on the entity
// type, so the sort is compiled once per translation unit rather than once per reconciler type.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <concord/hash.hpp>

namespace concord::detail {

/// What the order of case `index` depends on.
struct case_order_key {
    bool foreign = false;
    const std::string* remote_id = nullptr;  ///< foreign cases: the remote id of their record
    key128 identity;                         ///< the others: their identity
    std::size_t index = 0;                   ///< position in the plan's cases
};

/// Whether case a goes before case b (ties: neither).
inline bool case_before(const case_order_key& a, const case_order_key& b) noexcept {
    if (a.foreign != b.foreign) return a.foreign;
    if (a.foreign) return *a.remote_id < *b.remote_id;
    return a.identity < b.identity;
}

/// Sorts `keys` into case order, ties by index: given in index order, that is a stable sort of the cases.
inline void sort_case_order(std::vector<case_order_key>& keys) {
    std::sort(keys.begin(), keys.end(), [](const case_order_key& a, const case_order_key& b) {
        if (case_before(a, b)) return true;
        if (case_before(b, a)) return false;
        return a.index < b.index;
    });
}

} // namespace concord::detail
