#pragma once
// The products a replica and a host store hold, as sku -> price, for comparing the two in mirror tests.

#include <cstdint>
#include <map>
#include <string>

#include <concord/mirror/replica.hpp>

#include "fixture.hpp"

namespace shapes_test {

inline std::map<std::string, std::int64_t> sku_prices(concord::mirror::sqlite_replica<product>& r) {
    std::map<std::string, std::int64_t> out;
    for (const auto& rec : r.active()) out[rec.value.sku] = rec.value.price_cents;
    return out;
}
inline std::map<std::string, std::int64_t> sku_prices(host_db::product_store& s) {
    std::map<std::string, std::int64_t> out;
    for (const auto& e : s.scan()) out[e.sku] = e.price_cents;
    return out;
}

} // namespace shapes_test
