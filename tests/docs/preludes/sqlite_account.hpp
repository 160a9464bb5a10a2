// Prelude: docs/restore-detection.md, "The SQLite store": an `account` entity and the host's open
// SQLite database `db`.
#pragma once
#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>

struct account {
    BOOST_HANA_DEFINE_STRUCT(account, (std::int64_t, id), (std::string, email), (std::string, name));
};

extern concord::sqlite_database db;
