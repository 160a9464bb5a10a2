#pragma once
// Test helpers for the SQLite adapter: a temporary folder removed at the end of the test, and the
// store conformance fixture (tests/support/store_conformance.hpp) on real database files.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>

namespace concord::test {

/// A fresh folder under the system temp directory, removed with everything in it at scope exit.
class temp_dir {
public:
    temp_dir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("concord-sqlite-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

} // namespace concord::test

namespace concord::test {

/// The conformance fixture on a real database file; backups are files taken with sqlite_backup.
/// InPlace: restore into the open connection (sqlite_restore); otherwise close, replace, reopen.
template <class E, bool InPlace>
struct sqlite_fixture {
    using store_type = sqlite_store<E>;
    using backup_type = std::filesystem::path;

    temp_dir dir;
    sqlite_database db{dir / "app.db"};
    store_type main{db, "items"};
    int backups = 0;

    store_type& store() { return main; }
    std::unique_ptr<store_type> open_store(std::string table) { return std::make_unique<store_type>(db, std::move(table)); }
    backup_type backup() {
        auto p = dir / ("backup-" + std::to_string(++backups) + ".db");
        sqlite_backup(db, p);
        return p;
    }
    void restore(const backup_type& p) {
        if constexpr (InPlace) sqlite_restore(db, p);
        else sqlite_restore_file(db, p);
    }
};

} // namespace concord::test
