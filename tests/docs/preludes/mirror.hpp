// Prelude: docs/shapes/mirror.md, "Setting it up": the `product` entity, the host's database `file`
// and the replica's `replica_file`, with the headers the page's table names.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/mirror/bisect.hpp>
#include <concord/mirror/checksum.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

struct product {
    BOOST_HANA_DEFINE_STRUCT(product, (std::int64_t, id), (std::string, sku), (std::string, name),
                             (std::int64_t, cents));
};

extern const std::filesystem::path file;
extern const std::filesystem::path replica_file;
