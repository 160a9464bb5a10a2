// Prelude: docs/tutorial/03-policies.md after "The entity and the two sides": `subscription`, `db`,
// `billing`, `witness`, `identity` and `opts`, with the headers of the chapter (policies, plan views).
#pragma once
#include "memory_headers.hpp"

#include <cassert>
#include <iostream>

#include <concord/plan_view.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/prompt.hpp>

struct subscription {
    BOOST_HANA_DEFINE_STRUCT(subscription, (std::int64_t, id), (std::string, customer),
                             (std::string, plan), (std::int64_t, cents));
};

extern concord::memory_store<subscription> db;
extern concord::memory_remote<subscription> billing;
extern concord::memory_witness witness;
using identity = concord::identity::natural_key<&subscription::customer>;
extern const concord::reconciler_options opts;
