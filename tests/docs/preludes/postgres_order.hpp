// Prelude: docs/store-adapters.md, "Existing tables" (PostgreSQL): an `order` entity with the members
// the mapping names, and the open database `db`.
#pragma once
#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::int64_t, id), (std::string, customer), (std::int64_t, cents));
};

extern concord::postgres_database db;
