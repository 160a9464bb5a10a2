#pragma once
// The simulation's entity: one struct for both kinds of the payments shape (a customer-like record
// that cannot take money, and charges / plans that can, optionally referring to another entity).
// It plugs into concord::testing::simulation through the Model below, as a user's own entity would.

#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/testing/simulator.hpp>

namespace sim {

struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, key), (std::string, parent), (std::int64_t, cents),
                             (std::string, note), (bool, money));
};

/// How the simulated host creates, edits and relates items.
struct item_model {
    using entity_type = item;
    using identity_type = concord::identity::natural_key<&item::key>;

    static item make(concord::testing::sim_rng& r, std::uint64_t serial, bool money, const std::string& parent) {
        return item{0, (money ? "charge-" : "cust-") + std::to_string(serial), parent,
                    money ? static_cast<std::int64_t>(100 + r.below(10'000)) : 0, "n" + std::to_string(r.below(5)), money};
    }
    static item edit(const item& e, concord::testing::sim_rng& r) {
        item x = e;
        if (x.money) x.cents = static_cast<std::int64_t>(100 + r.below(10'000));
        x.note = "n" + std::to_string(r.below(5));
        return x;
    }
    static std::string key(const item& e) { return e.key; }
    static std::string parent(const item& e) { return e.parent; }
    static bool takes_money(const item& e) { return e.money; }
    static item foreign(std::uint64_t serial) { return item{0, "foreign-" + std::to_string(serial), "", 500, "theirs", true}; }
};

} // namespace sim
