// Streaming reconciliation: a local SQLite table read with ORDER BY on its natural key, against a
// remote that lists in the same order, classified by concord::stream_merge() while holding two
// entities per side. This is how a data set too large for memory is checked: only the identities
// it reports (here about 3%) need planning afterwards.
//
//   streaming [rows] [database file]     (defaults: 200000 rows, a temporary file)

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/hana/define_struct.hpp>
#include <sqlite3.h>

#include <concord/identity.hpp>
#include <concord/streaming.hpp>

struct product {
    BOOST_HANA_DEFINE_STRUCT(product, (std::int64_t, id), (std::string, sku), (std::string, title),
                             (std::int64_t, stock));
};

namespace {

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

std::string sku_of(std::int64_t i) {
    char b[32];
    std::snprintf(b, sizeof b, "SKU-%08lld", static_cast<long long>(i));
    return b;
}

/// The local side, as a cursor over the table in SKU order (the primary key's index serves it).
class local_cursor {
public:
    explicit local_cursor(sqlite3* db) : db_(db) {
        check(sqlite3_prepare_v2(db, "SELECT id, sku, title, stock FROM products ORDER BY sku", -1, &st_, nullptr), db,
              "prepare scan");
    }
    local_cursor(const local_cursor&) = delete;
    local_cursor& operator=(const local_cursor&) = delete;
    ~local_cursor() { sqlite3_finalize(st_); }

    std::optional<product> operator()() {
        const int rc = sqlite3_step(st_);
        if (rc == SQLITE_DONE) return std::nullopt;
        check(rc, db_, "step scan");
        return product{sqlite3_column_int64(st_, 0), reinterpret_cast<const char*>(sqlite3_column_text(st_, 1)),
                       reinterpret_cast<const char*>(sqlite3_column_text(st_, 2)), sqlite3_column_int64(st_, 3)};
    }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

} // namespace

int main(int argc, char** argv) {
    const std::int64_t rows = argc > 1 ? std::atoll(argv[1]) : 200000;
    const std::string path = argc > 2 ? argv[2] : "concord-streaming-example.sqlite";
    std::remove(path.c_str());
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
        std::fprintf(stderr, "cannot open %s\n", path.c_str());
        return 1;
    }
    try {
        // The local database: every product except those the remote created (i % 100 == 1).
        check(sqlite3_exec(db,
                           "CREATE TABLE products(id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT, "
                           "stock INTEGER); BEGIN",
                           nullptr, nullptr, nullptr),
              db, "create");
        sqlite3_stmt* ins = nullptr;
        check(sqlite3_prepare_v2(db, "INSERT INTO products(sku, title, stock) VALUES(?, ?, ?)", -1, &ins, nullptr), db,
              "prepare insert");
        for (std::int64_t i = 0; i < rows; ++i) {
            if (i % 100 == 1) continue;
            const auto sku = sku_of(i), title = "product " + std::to_string(i);
            sqlite3_bind_text(ins, 1, sku.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, title.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 3, i % 50);
            check(sqlite3_step(ins), db, "insert");
            sqlite3_reset(ins);
        }
        sqlite3_finalize(ins);
        check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");

        // The remote, listing in SKU order: it lacks i % 100 == 0 (local only), has i % 100 == 1 (orphans),
        // and holds a different stock for i % 100 == 2 (diverged).
        std::int64_t next = 0;
        auto remote = [&]() -> std::optional<product> {
            for (; next < rows; ++next) {
                const std::int64_t i = next;
                if (i % 100 == 0) continue;
                ++next;
                return product{0, sku_of(i), "product " + std::to_string(i), i % 50 + (i % 100 == 2 ? 1 : 0)};
            }
            return std::nullopt;
        };

        // by_members<&product::sku> is the table's ORDER BY; with natural_key on the same member, equal
        // SKUs are one identity, so identity keys are derived only for the cases reported below.
        concord::stream_counts counts;
        {
            local_cursor local(db);  // finalized before the database is closed
            std::size_t shown = 0;
            counts = concord::stream_merge<product>(
                concord::identity::natural_key<&product::sku>{}, local, remote,
                [&](const concord::stream_case<product>& c) {
                    if (shown++ < 4)
                        std::printf("  %-10s %s (identity %s)\n", std::string(to_string(c.kind)).c_str(),
                                    (c.local ? c.local : c.remote)->sku.c_str(), c.identity.hex().c_str());
                },
                concord::by_members<&product::sku>{});
        }
        std::printf("read %zu local and %zu remote rows: in_sync %zu, diverged %zu, local_only %zu, orphan %zu\n",
                    counts.local_read, counts.remote_read, counts.in_sync, counts.diverged, counts.local_only,
                    counts.orphan);
        const auto per = [&](std::int64_t c) { return static_cast<std::size_t>(rows / 100 + (rows % 100 > c ? 1 : 0)); };
        const bool ok = counts.local_only == per(0) && counts.orphan == per(1) && counts.diverged == per(2) &&
                        counts.in_sync == static_cast<std::size_t>(rows) - per(0) - per(1) - per(2) &&
                        counts.duplicate == 0 && counts.unidentified == 0;
        check(sqlite3_close(db), db, "close");
        std::remove(path.c_str());
        std::printf(ok ? "streaming: OK\n" : "streaming: counts differ from what the data was built to be\n");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "streaming: %s\n", e.what());
        sqlite3_close_v2(db);  // closes once statements left by the failure are gone
        return 1;
    }
}
