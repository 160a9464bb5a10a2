#pragma once
// The host database of the payments tests on a real SQLite file in a temporary folder: both tables in
// one file (one shared checkpoint), backups and restores through SQLite's online backup API, the
// witness and the decisions in files beside the database.
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>

#include "fixture.hpp"

namespace payments_test {

/// A temporary folder, removed with everything in it.
struct temp_folder {
    std::filesystem::path path;
    temp_folder() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "concord-payments-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~temp_folder() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;
};

/// The host database: one SQLite file holding both tables (one shared checkpoint).
struct sqlite_db {
    temp_folder dir;
    concord::sqlite_database conn{dir.path / "host.db"};
    concord::sqlite_store<pay::payment_plan> plans{conn, "payment_plans"};
    concord::sqlite_store<pay::charge> charges{conn, "charges"};
    int backups = 0;

    using backup_type = std::filesystem::path;
    backup_type backup() {
        auto p = dir.path / ("backup-" + std::to_string(++backups) + ".db");
        concord::sqlite_backup(conn, p);
        return p;
    }
    void restore(const backup_type& p) { concord::sqlite_restore(conn, p); }

    using witness_type = concord::file_witness;
    using book_type = concord::file_decision_book;
    witness_type make_witness() const { return witness_type(witness_type::beside(conn.path())); }
    book_type make_book() const { return book_type(book_type::beside(conn.path())); }
};

} // namespace payments_test
