#pragma once
// Backups and restores of a PostgreSQL database, the ways hosts really do them:
//  * pg_dump / pg_restore (custom format): postgres_dump() writes a file, postgres_restore() restores
//    it into a new database and swaps that in under the original name;
//  * a template copy (CREATE DATABASE ... TEMPLATE): postgres_snapshot() copies the database under a
//    new name, postgres_restore_snapshot() swaps a fresh copy of the snapshot in the same way.
// A swap is: build the incoming database completely, rename the original away, rename the incoming
// one to the original name, drop the original. The original survives any failure before that, and
// the restored database holds exactly what the backup held: tables created after the backup are
// gone too (pg_restore --clean into the live database would leave them, and with them a checkpoint
// newer than the backup when the backup predates concord's tables).
// Because concord's links and checkpoint live in the same database, each of these rewinds them with
// the data, which is what makes the restore visible to the timeline check.
// The command-line tools run without a shell (posix_spawnp), the conninfo passed as --dbname.

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concord/error.hpp>
#include <concord/postgres/database.hpp>

extern char** environ;

namespace concord {

/// Where pg_dump and pg_restore live. Empty: found on PATH (Debian's wrappers pick the newest
/// installed version, which must not be older than the server).
struct postgres_tools {
    std::filesystem::path bindir;
};

namespace detail {
/// Runs a program with arguments, no shell; throws store_failure with its stderr when it fails.
inline void pg_run(const std::vector<std::string>& args) {
    auto err_path = std::filesystem::temp_directory_path() /
                    ("concord-pg-tool-" + std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<std::uintptr_t>(&args)) + ".err");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        std::filesystem::remove(err_path);
        throw store_error(errc::store_failure, "cannot run " + args[0] + ": " + std::strerror(rc));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::ostringstream err;
    {
        std::ifstream in(err_path);
        err << in.rdbuf();
    }
    std::filesystem::remove(err_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        auto text = err.str();
        while (!text.empty() && text.back() == '\n') text.pop_back();
        throw store_error(errc::store_failure, args[0] + " failed (" +
                                                   (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                                      : std::string("killed")) +
                                                   "): " + text);
    }
}

inline std::string pg_tool(const postgres_tools& t, std::string_view name) {
    return t.bindir.empty() ? std::string(name) : (t.bindir / std::string(name)).string();
}

/// db's conninfo with another database name, as a keyword=value string for the command-line tools.
inline std::string pg_conninfo_for(const postgres_database& db, const std::string& dbname) {
    char* err = nullptr;
    std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> opts(PQconninfoParse(db.conninfo().c_str(), &err),
                                                                       PQconninfoFree);
    if (!opts) {
        std::string m = pg_trim(err);
        if (err) PQfreemem(err);
        throw store_error(errc::invalid_argument, "bad PostgreSQL conninfo: " + m);
    }
    auto quote = [](std::string_view v) {
        std::string out = "'";
        for (char c : v) {
            if (c == '\'' || c == '\\') out += '\\';
            out += c;
        }
        return out + "'";
    };
    std::string out = "dbname=" + quote(dbname);
    for (auto* o = opts.get(); o->keyword; ++o)
        if (o->val && std::string_view(o->keyword) != "dbname") out += std::string(" ") + o->keyword + "=" + quote(o->val);
    return out;
}

/// Runs one statement on the maintenance database of db's server.
inline void pg_maintenance(postgres_database& db, const std::string& sql, const std::string& maintenance_db) {
    auto c = db.connect_to(maintenance_db);
    std::unique_ptr<PGresult, pg_result_free> r(PQexec(c.get(), sql.c_str()));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        throw store_error(errc::store_failure, "PostgreSQL refused '" + sql + "': " + pg_trim(PQerrorMessage(c.get())));
}
/// Puts the complete database `incoming` in place of `name` (see the file comment). Nobody may be
/// connected to `name`; on failure `name` is as it was and `incoming` is dropped.
inline void pg_swap_in(postgres_database& db, const std::string& name, const std::string& incoming, const std::string& maintenance_db) {
    const auto outgoing = pg_quote_name(name + "__concord_outgoing");
    try {
        pg_maintenance(db, "ALTER DATABASE " + pg_quote_name(name) + " RENAME TO " + outgoing, maintenance_db);
    } catch (...) {
        try {
            pg_maintenance(db, "DROP DATABASE IF EXISTS " + pg_quote_name(incoming), maintenance_db);
        } catch (...) {
        }
        throw;
    }
    try {
        pg_maintenance(db, "ALTER DATABASE " + pg_quote_name(incoming) + " RENAME TO " + pg_quote_name(name), maintenance_db);
    } catch (...) {
        pg_maintenance(db, "ALTER DATABASE " + outgoing + " RENAME TO " + pg_quote_name(name), maintenance_db);
        throw;
    }
    pg_maintenance(db, "DROP DATABASE " + outgoing, maintenance_db);
}
} // namespace detail

/// Writes a pg_dump backup (custom format) of db's database to `file`. The connection stays open.
inline void postgres_dump(postgres_database& db, const std::filesystem::path& file, const postgres_tools& tools = {}) {
    detail::pg_run({detail::pg_tool(tools, "pg_dump"), "--format=custom", "--no-owner", "--file=" + file.string(),
                    "--dbname=" + db.conninfo()});
}

/// Restores a pg_dump backup: it is restored into a new database (pg_restore --single-transaction
/// --exit-on-error), which then replaces db's database under its name; db's connection is closed
/// for the swap and reopened on the restored database. Nobody else may be connected to the database
/// (store_failure otherwise). A missing or broken backup, or any failure, leaves the database as it
/// was.
inline void postgres_restore(postgres_database& db, const std::filesystem::path& file, const postgres_tools& tools = {},
                             const std::string& maintenance_db = "postgres") {
    if (!std::filesystem::exists(file))
        throw store_error(errc::invalid_argument, "no PostgreSQL backup at " + file.string());
    const auto name = db.name();
    const auto incoming = name + "__concord_incoming";
    db.close();
    try {
        detail::pg_maintenance(db, "DROP DATABASE IF EXISTS " + pg_quote_name(incoming), maintenance_db);
        detail::pg_maintenance(db, "CREATE DATABASE " + pg_quote_name(incoming) + " TEMPLATE template0", maintenance_db);
        try {
            detail::pg_run({detail::pg_tool(tools, "pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner",
                            "--dbname=" + detail::pg_conninfo_for(db, incoming), file.string()});
        } catch (...) {
            detail::pg_maintenance(db, "DROP DATABASE IF EXISTS " + pg_quote_name(incoming), maintenance_db);
            throw;
        }
        detail::pg_swap_in(db, name, incoming, maintenance_db);
    } catch (...) {
        db.reopen();
        throw;
    }
    db.reopen();
}

/// Fast snapshot: copies db's database to a new database `snapshot` with CREATE DATABASE ... TEMPLATE.
/// PostgreSQL requires that nobody is connected to the source while it is copied: db's own connection
/// is closed for the copy and reopened after it; other connections make it fail (store_failure).
inline void postgres_snapshot(postgres_database& db, const std::string& snapshot, const std::string& maintenance_db = "postgres") {
    const auto name = db.name();
    db.close();
    try {
        detail::pg_maintenance(db, "CREATE DATABASE " + pg_quote_name(snapshot) + " TEMPLATE " + pg_quote_name(name),
                               maintenance_db);
    } catch (...) {
        db.reopen();
        throw;
    }
    db.reopen();
}

/// Restores a snapshot made by postgres_snapshot: a fresh copy of it replaces db's database (the
/// snapshot itself is kept, so it can be restored again). The copy is made first and the original
/// is dropped only once the copy is in place under its name.
inline void postgres_restore_snapshot(postgres_database& db, const std::string& snapshot,
                                      const std::string& maintenance_db = "postgres") {
    const auto name = db.name();
    const auto incoming = name + "__concord_incoming";
    db.close();
    try {
        detail::pg_maintenance(db, "DROP DATABASE IF EXISTS " + pg_quote_name(incoming), maintenance_db);
        detail::pg_maintenance(db, "CREATE DATABASE " + pg_quote_name(incoming) + " TEMPLATE " + pg_quote_name(snapshot),
                               maintenance_db);
        detail::pg_swap_in(db, name, incoming, maintenance_db);
    } catch (...) {
        db.reopen();
        throw;
    }
    db.reopen();
}

/// Drops a snapshot database made by postgres_snapshot.
inline void postgres_drop_snapshot(postgres_database& db, const std::string& snapshot,
                                   const std::string& maintenance_db = "postgres") {
    detail::pg_maintenance(db, "DROP DATABASE IF EXISTS " + pg_quote_name(snapshot), maintenance_db);
}

} // namespace concord
