#pragma once
// A small world for engine tests: an item catalogue kept in a memory_store, pushed to a
// memory_remote, with a memory_witness outside the restore scope. Tests read as stories:
// set up, change one side, run, check.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/witness.hpp>

namespace engine_test {

struct item {
    BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, id), (std::string, sku), (std::string, name), (std::string, order),
                             (std::int64_t, cents));
};

using sku_identity = concord::identity::natural_key<&item::sku>;

inline concord::reconciler_options options() {
    concord::reconciler_options o;
    o.owner = {"inst-1", "shop"};
    o.entity_name = "item";
    return o;
}

inline item make_item(std::string sku, std::string name = "thing", std::int64_t cents = 100, std::string order = "") {
    return item{0, std::move(sku), std::move(name), std::move(order), cents};
}

/// Both sides, the witness, and the set of "orders" items may refer to (references).
struct world {
    concord::memory_store<item> db;
    concord::memory_remote<item> remote;
    concord::memory_witness witness;
    std::set<std::string> orders;

    template <class Policy>
    auto reconciler(concord::reconciler_options o = options()) {
        auto r = concord::make_reconciler<Policy>(db, remote, std::move(o), sku_identity{});
        r.set_reference_check([this](const item& i) { return i.order.empty() || orders.count(i.order) > 0; });
        return r;
    }

    /// One reconcile with `Policy`, as a host would run it.
    template <class Policy>
    concord::report sync() {
        auto r = reconciler<Policy>();
        return r.reconcile(witness);
    }

    /// The local item with this sku, if any.
    std::optional<item> local(const std::string& sku) const {
        for (const auto& i : db.scan())
            if (i.sku == sku) return i;
        return std::nullopt;
    }
    /// Active remote records with this sku.
    std::vector<concord::remote_record<item>> active(const std::string& sku) const {
        std::vector<concord::remote_record<item>> out;
        for (const auto& r : remote.all())
            if (r.value.sku == sku && r.state == concord::remote_state::active) out.push_back(r);
        return out;
    }
};

inline std::size_t count_actions(const concord::report& r, std::string_view kind) {
    std::size_t n = 0;
    for (const auto& a : r.actions) n += a.action == kind;
    return n;
}

/// memory_remote without cancel() (a remote that cannot cancel): lists, creates, updates and settles timeouts by key.
struct no_cancel_remote {
    using entity_type = item;
    concord::memory_remote<item>* inner;
    concord::page<item> list(std::optional<std::uint64_t> after, std::size_t limit) { return inner->list(after, limit); }
    concord::remote_record<item> create(const item& e, const concord::metadata& m, const std::string& key) {
        return inner->create(e, m, key);
    }
    concord::remote_record<item> update(std::string_view id, const item& e, const std::string& key) {
        return inner->update(id, e, key);
    }
    std::optional<concord::remote_record<item>> find_by_key(const std::string& key) { return inner->find_by_key(key); }
};
static_assert(!concord::remote_can_cancel<no_cancel_remote>);

} // namespace engine_test
