// The shared store conformance suite (tests/support/store_conformance.hpp, also run against
// sqlite_store) run against postgres_store on a real server, once per way hosts back up and restore
// a PostgreSQL database: pg_dump/pg_restore files, and CREATE DATABASE ... TEMPLATE snapshots.

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <concord/postgres/backup.hpp>
#include <concord/postgres/database.hpp>
#include <concord/postgres/store.hpp>

#include "../support/store_conformance.hpp"
#include "pg_support.hpp"

namespace {

/// Template: backups are template copies (fast snapshot); otherwise pg_dump files restored with
/// pg_restore into the live database.
template <bool Template>
struct pg_fixture {
    using store_type = concord::postgres_store<concord::conformance::item>;
    using backup_type = std::string;  // a snapshot database's name or a dump file's path

    concord::test::pg_fresh_database fresh{Template ? "conft" : "confd"};
    concord::postgres_database db{fresh.conninfo()};
    store_type main{db, "items"};
    std::vector<std::string> made;

    ~pg_fixture() {
        for (const auto& b : made) {
            try {
                if constexpr (Template) concord::postgres_drop_snapshot(db, b);
                else std::filesystem::remove(b);
            } catch (...) {
            }
        }
    }
    store_type& store() { return main; }
    std::unique_ptr<store_type> open_store(std::string table) { return std::make_unique<store_type>(db, std::move(table)); }
    backup_type backup() {
        const auto n = std::to_string(made.size() + 1);
        if constexpr (Template) {
            made.push_back(fresh.name() + "_s" + n);
            concord::postgres_snapshot(db, made.back());
        } else {
            made.push_back((std::filesystem::temp_directory_path() / (fresh.name() + "_" + n + ".pgdump")).string());
            concord::postgres_dump(db, made.back());
        }
        return made.back();
    }
    void restore(const backup_type& b) {
        if constexpr (Template) concord::postgres_restore_snapshot(db, b);
        else concord::postgres_restore(db, b);
    }
};

using pg_dump_fixture = pg_fixture<false>;
using pg_template_fixture = pg_fixture<true>;

} // namespace

CONCORD_STORE_CONFORMANCE_TESTS(pg_dump_fixture, "postgres pg_dump")
CONCORD_STORE_CONFORMANCE_TESTS(pg_template_fixture, "postgres template")
