#pragma once
// Shared by the shapes tests: the entities and a host database holding orders, labels and products
// with backup and restore.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>

namespace shapes_test {

/// Host data the label service reads.
struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::int64_t, id), (std::string, number));
};

/// What the label service creates from an order and the host pulls back (inbound).
struct label {
    BOOST_HANA_DEFINE_STRUCT(label, (std::int64_t, id), (std::string, order_number), (std::string, carrier),
                             (std::string, tracking));
};

/// What the host mirrors to the replica.
struct product {
    BOOST_HANA_DEFINE_STRUCT(product, (std::int64_t, id), (std::string, sku), (std::string, name),
                             (std::int64_t, price_cents));
};

/// A fresh directory under the system temp directory, removed when the object goes.
class temp_dir {
public:
    temp_dir() {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() / ("concord-shapes-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

/// The host's database: orders, labels and products in one real SQLite file, backed up and
/// restored with SQLite's backup API (the checkpoint is one per database, restored with it).
class host_db {
public:
    using label_store = concord::sqlite_store<label>;
    using product_store = concord::sqlite_store<product>;
    using backup_type = std::filesystem::path;

    host_db() : db_(dir_ / "host.db"), orders_(db_, "orders"), labels_(db_, "labels"), products_(db_, "products") {}

    label_store& labels() { return labels_; }
    product_store& products() { return products_; }
    concord::sqlite_database& database() { return db_; }

    void add_order(const std::string& number) { orders_.put({0, number}); }
    bool has_order(const std::string& number) {
        for (const auto& o : orders_.scan())
            if (o.number == number) return true;
        return false;
    }
    void remove_order(const std::string& number) {
        for (const auto& o : orders_.scan())
            if (o.number == number) orders_.erase(o.id);
    }

    /// An online backup to a new file; returns its path.
    backup_type backup() {
        auto p = dir_ / ("backup-" + std::to_string(++backups_) + ".db");
        concord::sqlite_backup(db_, p);
        return p;
    }
    /// Restores a backup into the open connection.
    void restore(const backup_type& p) { concord::sqlite_restore(db_, p); }

private:
    temp_dir dir_;
    concord::sqlite_database db_;
    concord::sqlite_store<order> orders_;
    label_store labels_;
    product_store products_;
    int backups_ = 0;
};

} // namespace shapes_test
