// The simulation on the real SQLite store: 300 seeds x 200 steps over database files, with backups
// taken by SQLite's online backup API (sqlite_backup) and restored into the open connection
// (sqlite_restore), several database files (opening another one), a crash modelled as closing and
// reopening the connection, and commit failures injected inside the store's transaction.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>

#include "sim_item.hpp"

namespace {

namespace fs = std::filesystem;

/// The simulation's Backend over SQLite files in one directory.
class sqlite_backend {
public:
    using store_type = concord::sqlite_store<sim::item>;

    explicit sqlite_backend(fs::path dir) : dir_(std::move(dir)) {
        fs::create_directories(dir_);
        open(0);
    }
    store_type& store() { return *dbs_[current_].store; }
    std::size_t backup() {
        concord::sqlite_backup(*dbs_[current_].db, path_of(backups_));
        return backups_++;
    }
    void restore(std::size_t i) {
        concord::sqlite_restore(*dbs_[current_].db, path_of(i));
    }
    void open(std::size_t i) {
        while (dbs_.size() <= i) {
            slot s;
            s.db = std::make_unique<concord::sqlite_database>(dir_ / ("db-" + std::to_string(dbs_.size()) + ".sqlite"));
            s.store = std::make_unique<store_type>(*s.db, "items");
            dbs_.push_back(std::move(s));
        }
        current_ = i;
    }
    std::size_t current() const noexcept { return current_; }
    std::size_t databases() const noexcept { return dbs_.size(); }
    /// A new process: the connection is closed and opened again; committed rows must be there.
    void restart() {
        *fail_ = false;
        dbs_[current_].db->reopen();
    }
    /// The next commit fails inside its transaction (after the entities were written): rolled back.
    bool fail_next_commit() {
        *fail_ = true;
        store().set_commit_hook([f = fail_](std::string_view what) {
            if (*f && what == "links written") {
                *f = false;
                throw concord::store_error(concord::errc::store_failure, "injected commit failure");
            }
        });
        return true;
    }

private:
    struct slot {
        std::unique_ptr<concord::sqlite_database> db;
        std::unique_ptr<store_type> store;
    };
    fs::path path_of(std::size_t i) const { return dir_ / ("backup-" + std::to_string(i) + ".sqlite"); }

    fs::path dir_;
    std::vector<slot> dbs_;
    std::size_t current_ = 0;
    std::size_t backups_ = 0;
    std::shared_ptr<bool> fail_ = std::make_shared<bool>(false);
};

fs::path scratch_root() {
    std::error_code ec;
    fs::path base = fs::exists("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    auto root = base / ("concord-sim-sqlite-" + std::to_string(::getpid()));
    fs::remove_all(root, ec);
    fs::create_directories(root);
    return root;
}

} // namespace

TEST_CASE("simulation on the real SQLite store: seeds x 200 steps, backups and restores through SQLite's backup API",
          "[simulation][sqlite]") {
#if defined(CONCORD_SIM_REDUCED)
    const std::uint64_t seeds = 30;
#else
    const std::uint64_t seeds = 300;
#endif
    const auto root = scratch_root();
    std::size_t run = 0;
    concord::testing::simulation<sim::item_model, sqlite_backend> sim(
        {.steps = 200}, [&] { return sqlite_backend(root / ("run-" + std::to_string(run++))); });
    std::size_t failures = 0;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
        auto r = sim.run(seed);
        if (!r.ok) {
            ++failures;
            FAIL_CHECK("seed " << seed << " step " << r.failed_step << ": " << r.failure);
            if (failures >= 3) break;
        }
        std::error_code ec;
        fs::remove_all(root / ("run-" + std::to_string(run - 1)), ec);
    }
    std::error_code ec;
    fs::remove_all(root, ec);
    CHECK(failures == 0);
    const auto& p = sim.probes();
    CHECK(p.verdicts[static_cast<std::size_t>(concord::verdict::restored)] > 0);
    CHECK(p.verdicts[static_cast<std::size_t>(concord::verdict::different_database)] > 0);
    CHECK(p.faults[static_cast<std::size_t>(concord::testing::fault_class::crash)] > 0);
    CHECK(p.faults[static_cast<std::size_t>(concord::testing::fault_class::store_failure)] > 0);
}
