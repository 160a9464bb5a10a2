// mirror: one-way replication of the host's products to a replica (a second SQLite database standing
// in for the remote copy). The user restores a backup; the replica is now ahead of the host. concord
// detects the restore, re-reads from the cursor the restore rewound (the replica's change feed) and
// rewinds the replica: rows created after the restore point removed, changed rows put back, removed
// rows re-created. It reads what changed since the restore point (the 15 rows written since, then
// every row of those 15 identities), not the whole table.

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/mirror/mirror.hpp>
#include <concord/mirror/replica.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/sqlite/backup.hpp>
#include <concord/sqlite/database.hpp>
#include <concord/sqlite/store.hpp>
#include <concord/witness.hpp>

struct product {
    BOOST_HANA_DEFINE_STRUCT(product, (std::int64_t, id), (std::string, sku), (std::string, name),
                             (std::int64_t, price_cents));
};
using by_sku = concord::identity::natural_key<&product::sku>;

/// identity -> content fingerprint of each side, to check the end state.
template <class Rows>
std::map<std::string, std::string> view(const Rows& rows) {
    std::map<std::string, std::string> out;
    for (const auto& e : rows) out[by_sku{}.key(e).hex()] = concord::fingerprint(e).hex();
    return out;
}

int main() {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "concord-example-mirror";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path file = dir / "shop.db";

    concord::sqlite_database db(file);
    concord::sqlite_store<product> products(db, "products");
    concord::file_witness witness(concord::file_witness::beside(file));
    concord::mirror::sqlite_replica<product> replica(dir / "replica.db", "products");

    // The host is the truth for a mirror: trust_local everywhere.
    auto rec = concord::make_reconciler<concord::policy::trust_local>(
        products, replica, {.owner = {"shop-1", "mirror"}, .entity_name = "product", .page_size = 100}, by_sku{});
    concord::mirror::mirror mirror(rec);

    auto replica_rows = [&] {
        std::vector<product> v;
        for (const auto& r : replica.active()) v.push_back(r.value);
        return v;
    };

    {
        concord::sqlite_transaction t(db);
        for (int i = 0; i < 2000; ++i)
            products.put({0, "SKU-" + std::to_string(i), "product " + std::to_string(i), 100 + i});
        t.commit();
    }
    auto r1 = mirror.sync(witness);
    std::cout << "1. first sync: " << replica.active_count() << " rows replicated, cursor " << *r1.cursor_after << "\n";

    const fs::path backup = dir / "shop-backup.db";
    concord::sqlite_backup(db, backup);
    std::cout << "2. backup taken\n";

    {
        concord::sqlite_transaction t(db);
        auto rows = products.scan();
        for (int i = 0; i < 5; ++i) products.put({0, "NEW-" + std::to_string(i), "new product", 999});
        for (int i = 0; i < 5; ++i) {
            auto e = rows[static_cast<std::size_t>(10 * i)];
            e.price_cents += 50;
            products.put(e);
        }
        for (int i = 0; i < 5; ++i) products.erase(rows[static_cast<std::size_t>(10 * i + 1)].id);
        t.commit();
    }
    mirror.sync(witness);
    std::cout << "3. 5 added, 5 repriced, 5 deleted and mirrored: replica holds " << replica.active_count()
              << " rows, head " << replica.head() << "\n";

    concord::sqlite_restore(db, backup);
    std::cout << "4. backup restored: host holds " << products.size() << " products, cursor " << *mirror.cursor()
              << "\n";

    replica.reset_stats();
    auto r2 = mirror.sync(witness);  // automatic: change feed from the rewound cursor, then checksums
    std::cout << "5. sync after restore: timeline " << concord::to_string(r2.timeline) << "\n";
    for (const auto& p : r2.passes)
        std::cout << "   pass " << concord::mirror::to_string(p.used) << ": " << p.identities << " identities, "
                  << p.rep.actions.size() << " actions (orphan "
                  << p.rep.counts[static_cast<std::size_t>(concord::case_kind::orphan)] << ", diverged "
                  << p.rep.counts[static_cast<std::size_t>(concord::case_kind::diverged)] << ", local_only "
                  << p.rep.counts[static_cast<std::size_t>(concord::case_kind::local_only)] << "); feed rows "
                  << p.listing.rows << ", checksum round trips " << p.bisect.round_trips << "\n";
    const auto& st = replica.stats();
    std::cout << "   replica served " << st.calls << " calls and " << st.rows_sent << " rows (a full scan reads "
              << replica.active_count() << "+)\n";
    const bool equal = view(replica_rows()) == view(products.scan());
    std::cout << "6. replica equals host: " << (equal ? "yes" : "no") << "\n";

    auto r3 = mirror.sync(witness);
    std::cout << "7. next sync: " << concord::to_string(r3.timeline) << ", " << r3.actions() << " actions\n";

    const bool ok = equal && r2.timeline == concord::verdict::restored && r2.passes.size() == 2 &&
                    r2.passes[0].listing.rows == 30 && st.rows_sent < 100 && r3.actions() == 0 &&
                    r3.timeline == concord::verdict::same_timeline;
    fs::remove_all(dir);
    std::cout << (ok ? "mirror: OK\n" : "mirror: FAILED\n");
    return ok ? 0 : 1;
}
