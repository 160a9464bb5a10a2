#pragma once
// Test support for the PostgreSQL adapter: the server ctest started (tests/postgres/pg_server.sh)
// and a fresh database per test, dropped afterwards, so tests can run in parallel on one server.

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <concord/postgres/database.hpp>

namespace concord::test {

/// The server's maintenance conninfo. Throws (the test fails) when the server fixture did not run.
inline std::string pg_server_conninfo() {
    const char* state = std::getenv("CONCORD_PG_STATE");
    if (!state) throw std::runtime_error("CONCORD_PG_STATE is not set: run the PostgreSQL tests through ctest");
    std::ifstream in(std::string(state) + "/conninfo");
    std::string line;
    if (!in || !std::getline(in, line) || line.empty())
        throw std::runtime_error(std::string("no PostgreSQL server: ") + state +
                                 "/conninfo is missing (did postgres:server_start fail?)");
    return line;
}

/// The server's conninfo with another database name.
inline std::string pg_conninfo_for(const std::string& dbname) { return pg_server_conninfo() + " dbname=" + dbname; }

/// Runs one statement on the maintenance database.
inline void pg_admin(const std::string& sql) {
    postgres_database admin(pg_server_conninfo());
    admin.exec(sql);
}

/// The helper databases a restore of `name` uses, as store-adapters.md documents them:
/// concord_restore_<XXH3-128 of "concord/restore/v1/<name>" in hex>_in and _out.
inline std::vector<std::string> pg_restore_helpers(const std::string& name) {
    const auto h = xxh3_128("concord/restore/v1/" + name).hex();
    return {"concord_restore_" + h + "_in", "concord_restore_" + h + "_out"};
}

/// A unique name for a database or snapshot, padded with 'x' to `bytes` bytes when given.
inline std::string pg_unique_name(const std::string& tag, std::size_t bytes = 0) {
    static std::atomic<int> counter{0};
    auto name = "concord_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (bytes > name.size()) name.append(bytes - name.size(), 'x');
    if (bytes && name.size() != bytes) throw std::runtime_error("pg_unique_name: '" + name + "' is longer than requested");
    return name;
}

/// A database of its own for one test; dropped (with its restores' leftovers) when destroyed.
/// `name_bytes`: the exact length of its name (PostgreSQL keeps up to 63 bytes), 0 for the natural one.
class pg_fresh_database {
public:
    explicit pg_fresh_database(const std::string& tag, std::size_t name_bytes = 0) : name_(pg_unique_name(tag, name_bytes)) {
        pg_admin("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
        pg_admin("CREATE DATABASE \"" + name_ + "\"");
    }
    ~pg_fresh_database() {
        try {
            pg_admin("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
            for (const auto& h : pg_restore_helpers(name_)) pg_admin("DROP DATABASE IF EXISTS \"" + h + "\" WITH (FORCE)");
        } catch (...) {
        }
    }
    pg_fresh_database(const pg_fresh_database&) = delete;
    pg_fresh_database& operator=(const pg_fresh_database&) = delete;
    const std::string& name() const { return name_; }
    std::string conninfo() const { return pg_conninfo_for(name_); }

private:
    std::string name_;
};

} // namespace concord::test
