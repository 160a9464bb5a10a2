// Prelude: docs/shapes/inbound.md, "Setting it up": the `label` entity, the host's `labels` store, the
// shipping `service` (a RemoteSource), the `witness`, the host's `order_exists` check, and the headers
// the page's table names.
#pragma once
#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/cursor.hpp>
#include <concord/identity.hpp>
#include <concord/inbound/puller.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>

struct label {
    BOOST_HANA_DEFINE_STRUCT(label, (std::int64_t, id), (std::string, tracking), (std::string, order_number));
};

extern concord::memory_store<label> labels;
extern concord::memory_remote<label> service;
extern concord::memory_witness witness;
bool order_exists(const std::string& order_number);
