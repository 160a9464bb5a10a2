// A downstream program: uses concord's core (entity description, fingerprint, identities, the
// in-memory test doubles) and the SQLite adapter, exactly as a user would after installing concord.
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/entity.hpp>
#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/sqlite/database.hpp>

struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::int64_t, id), (std::string, number), (std::int64_t, cents));
};

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: consumer <scratch directory>\n";
        return 2;
    }
    concord::memory_store<order> store;
    const auto id = store.put(order{0, "A-1", 1250});
    concord::identity::natural_key<&order::number> natural;
    const auto key = natural.key(*store.get(id));
    const auto idem = concord::idempotency_key("consumer", key, {"create", 0, ""});
    concord::memory_remote<order> remote;
    const auto made = remote.create(*store.get(id), {}, idem);

    // The SQLite adapter links SQLite::SQLite3 through concord::sqlite.
    const auto db_path = std::filesystem::path(argv[1]) / "consumer.db";
    std::filesystem::remove(db_path);
    concord::sqlite_database db(db_path);
    char* err = nullptr;
    if (sqlite3_exec(db.handle(), "CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (42);", nullptr, nullptr, &err) !=
        SQLITE_OK) {
        std::cerr << "sqlite: " << (err ? err : "?") << "\n";
        return 1;
    }
    const bool ok = made.value.number == "A-1" && idem.size() == 68 && concord::fingerprint(*store.get(id)) ==
                                                                          concord::fingerprint(order{99, "A-1", 1250});
    std::cout << "consumer fingerprint=" << concord::fingerprint(*store.get(id)).hex() << " sqlite=" << sqlite3_libversion()
              << (ok ? " OK" : " MISMATCH") << "\n";
    return ok ? 0 : 1;
}
