#pragma once
// Backups and restores of a PostgreSQL database, the ways hosts really do them:
//  * pg_dump / pg_restore (custom format): postgres_dump() writes a file, postgres_restore() restores
//    it into a new database and swaps that in under the original name;
//  * a template copy (CREATE DATABASE ... TEMPLATE): postgres_snapshot() copies the database under a
//    new name, postgres_restore_snapshot() swaps a fresh copy of the snapshot in the same way.
// A swap is: build the incoming database completely, give it the original's settings (ALTER DATABASE
// ... SET, which no dump or template copy holds; see pg_copy_settings), rename the original away, rename the incoming
// one to the original name, drop the original. The original survives any failure before that, and
// the restored database holds exactly what the backup held: tables created after the backup are
// gone too (pg_restore --clean into the live database would leave them, and with them a checkpoint
// newer than the backup when the backup predates concord's tables).
// Because concord's links and checkpoint live in the same database, each of these rewinds them with
// the data, which is what makes the restore visible to the timeline check.
// The two helper databases of a swap have fixed-length names derived from the live name (see
// pg_swap_names): PostgreSQL truncates names to 63 bytes, so "<name>_suffix" could equal the live
// name or each other. A restore drops only databases it made, recognised by their comment.
// The command-line tools run without a shell (posix_spawnp), and their command line, which every local
// user can read (ps, /proc/<pid>/cmdline), holds no connection keyword: the password reaches the child
// alone through PGPASSWORD, every other keyword (sslpassword, the client key's passphrase, among them)
// through a connection service file of its own, mode 0600, named by PGSERVICEFILE in the child's
// environment and removed when the tool has exited (see pg_tool_login).

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concord/error.hpp>
#include <concord/hash.hpp>
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
/// `env` ("NAME=value" entries) is set in the child's environment alone, replacing the host's
/// variables of the same names; the host process's own environment is never changed. Secrets go
/// there: an argument would be readable by every local user (ps, /proc/<pid>/cmdline), the
/// environment only by the same user.
inline void pg_run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    // stderr goes to an unnamed temporary file: mkostemp creates it exclusively (no predictable name
    // another user could plant a link at), and it is unlinked before the child even starts.
    auto tmpl = (std::filesystem::temp_directory_path() / "concord-pg-tool-XXXXXX").string();
    const int err_fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (err_fd < 0)
        throw store_error(errc::system_failure, "cannot create a temporary file for " + args[0] + "'s errors in " +
                                                    std::filesystem::temp_directory_path().string() + ": " +
                                                    std::strerror(errno));
    ::unlink(tmpl.c_str());
    struct fd_closer {
        int fd;
        ~fd_closer() { ::close(fd); }
    } closer{err_fd};

    std::vector<char*> child_env;
    char** envp = environ;
    if (!env.empty()) {
        auto overridden = [&](std::string_view e) {
            for (const std::string_view o : env)
                if (e.rfind(o.substr(0, o.find('=') + 1), 0) == 0) return true;  // same "NAME="
            return false;
        };
        for (char** e = environ; *e; ++e)
            if (!overridden(*e)) child_env.push_back(*e);
        for (const auto& o : env) child_env.push_back(const_cast<char*>(o.c_str()));
        child_env.push_back(nullptr);
        envp = child_env.data();
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw store_error(errc::store_failure, "cannot run " + args[0] + ": " + std::strerror(rc));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string text;
        char buf[4096];
        ::lseek(err_fd, 0, SEEK_SET);
        for (ssize_t n; (n = ::read(err_fd, buf, sizeof buf)) != 0;) {
            if (n < 0) {
                if (errno == EINTR) continue;
                break;
            }
            text.append(buf, static_cast<std::size_t>(n));
        }
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

/// How pg_dump or pg_restore reaches database `dbname` of the server `conninfo` names, with nothing
/// secret on its command line:
///  * the password goes to the child's environment alone, as PGPASSWORD;
///  * every other keyword, and dbname, go to a libpq connection service file of this object's own
///    (group [concord], one key=value a line), created exclusively under an unpredictable name in the
///    temp directory with mode 0600 and removed by the destructor, so also when the tool failed; the
///    child finds it through PGSERVICEFILE in its environment, and its command line says only
///    --dbname=service=concord.
/// A service file has no quoting: a value holding a newline, ending in white space, or making a line
/// longer than libpq reads (1021 bytes) cannot be written, and is refused (invalid_argument naming the
/// keyword, never the value).
/// A conninfo naming a service itself (service=..., or PGSERVICE in the environment) cannot be given a
/// service of ours (libpq does not nest them): its keywords other than the password then go on the
/// command line as before, and a secret among them other than the password is refused.
class pg_tool_login {
public:
    static constexpr std::string_view service_name = "concord";
    static constexpr std::size_t max_line = 1021;  // libpq 15 reads service file lines into 1024 bytes

    pg_tool_login(const std::string& conninfo, const std::string& dbname) {
        const auto opts = pg_parse_conninfo(conninfo);
        bool named_service = false;
        if (const char* s = std::getenv("PGSERVICE"); s && *s) named_service = true;
        for (auto* o = opts.get(); o->keyword; ++o)
            if (o->val && std::string_view(o->keyword) == "service") named_service = true;

        std::vector<std::pair<std::string, std::string>> keys{{"dbname", dbname}};
        for (auto* o = opts.get(); o->keyword; ++o) {
            if (!o->val) continue;
            const std::string_view k(o->keyword);
            if (k == "password") password_ = o->val;
            else if (k == "dbname") continue;
            else if (named_service && pg_secret_keyword(*o))
                throw store_error(errc::invalid_argument,
                                  "the PostgreSQL conninfo names a connection service and gives " + std::string(k) +
                                      ": pg_dump and pg_restore could only get it on their command line, which every "
                                      "local user can read; put " + std::string(k) + " in the service's definition");
            else keys.emplace_back(k, o->val);
        }
        if (password_) env_.push_back("PGPASSWORD=" + *password_);
        if (named_service) {
            dbname_arg_ = "--dbname=";
            for (std::size_t i = 0; i < keys.size(); ++i)
                dbname_arg_ += (i ? " " : "") + keys[i].first + "=" + quote(keys[i].second);
            return;
        }
        std::string text = "[" + std::string(service_name) + "]\n";
        for (const auto& [k, v] : keys) {
            check_writable(k, v);
            text += k + "=" + v + "\n";
        }
        write_service_file(text);
        env_.push_back("PGSERVICEFILE=" + file_.path.string());
        dbname_arg_ = "--dbname=service=" + std::string(service_name);
    }
    pg_tool_login(const pg_tool_login&) = delete;
    pg_tool_login& operator=(const pg_tool_login&) = delete;

    /// The tool's --dbname argument: no secret.
    const std::string& dbname_arg() const noexcept { return dbname_arg_; }
    /// What pg_run sets in the child's environment: PGPASSWORD, PGSERVICEFILE.
    const std::vector<std::string>& env() const noexcept { return env_; }
    /// The service file (empty when the conninfo names a service of its own).
    const std::filesystem::path& service_file() const noexcept { return file_.path; }

private:
    static std::string quote(std::string_view v) {
        std::string out = "'";
        for (char c : v) {
            if (c == '\'' || c == '\\') out += '\\';
            out += c;
        }
        return out + "'";
    }

    // libpq reads a service file line by line, strips white space from both ends of the line, and
    // takes all after the first '=' as the value: no quoting, no escapes.
    static void check_writable(const std::string& key, const std::string& value) {
        auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
        const char* why = nullptr;
        if (value.find('\n') != std::string::npos) why = "holds a newline";
        else if (!value.empty() && space(value.back())) why = "ends in white space";
        else if (key.size() + 1 + value.size() > max_line) why = "is too long";
        if (why)
            throw store_error(errc::invalid_argument, "the PostgreSQL conninfo's " + key + " value " + why +
                                                          ": pg_dump and pg_restore get the connection through a libpq "
                                                          "service file, which cannot hold it (the value is not shown)");
    }

    void write_service_file(const std::string& text) {
        const auto dir = std::filesystem::temp_directory_path();
        auto tmpl = (dir / "concord-pg-service-XXXXXX").string();
        const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);  // exclusive, unpredictable name, mode 0600
        if (fd < 0)
            throw store_error(errc::system_failure, "cannot create a temporary connection service file in " +
                                                        dir.string() + ": " + std::strerror(errno));
        file_.path = tmpl;  // removed by file_'s destructor from now on, also if the constructor throws
        int failure = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0 ? 0 : errno;
        for (std::size_t done = 0; failure == 0 && done < text.size();) {
            const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) failure = n < 0 ? errno : EIO;
            else done += static_cast<std::size_t>(n);
        }
        if (::close(fd) != 0 && failure == 0) failure = errno;
        if (failure != 0)
            throw store_error(errc::system_failure, "cannot write the temporary connection service file " + tmpl +
                                                        ": " + std::strerror(failure));
    }

    struct removed_at_end {
        std::filesystem::path path;
        removed_at_end() = default;
        removed_at_end(const removed_at_end&) = delete;
        removed_at_end& operator=(const removed_at_end&) = delete;
        ~removed_at_end() {
            if (!path.empty()) ::unlink(path.c_str());
        }
    };

    removed_at_end file_;
    std::string dbname_arg_;
    std::vector<std::string> env_;
    std::optional<std::string> password_;
};

/// The command lines of the tools (what every local user can read).
inline std::vector<std::string> pg_dump_args(const postgres_tools& tools, const std::filesystem::path& file,
                                             const pg_tool_login& login) {
    return {pg_tool(tools, "pg_dump"), "--format=custom", "--no-owner", "--file=" + file.string(), login.dbname_arg()};
}
inline std::vector<std::string> pg_restore_args(const postgres_tools& tools, const std::filesystem::path& file,
                                                const pg_tool_login& login) {
    // "--": a relative file name starting with '-' is a file, not an option.
    return {pg_tool(tools, "pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner", login.dbname_arg(),
            "--", file.string()};
}

/// Runs one statement on the maintenance database of db's server.
inline void pg_maintenance(postgres_database& db, const std::string& sql, const std::string& maintenance_db) {
    auto c = db.connect_to(maintenance_db);
    std::unique_ptr<PGresult, pg_result_free> r(PQexec(c.get(), sql.c_str()));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        throw store_error(errc::store_failure, "PostgreSQL refused '" + sql + "': " + pg_trim(PQerrorMessage(c.get())));
}

/// pg_maintenance for cleanup on a path that already failed or already succeeded: its own failure
/// must not replace that outcome (what it leaves behind is marked and dropped by the next restore).
inline void pg_maintenance_quietly(postgres_database& db, const std::string& sql, const std::string& maintenance_db) noexcept {
    try {
        pg_maintenance(db, sql, maintenance_db);
    } catch (...) {
    }
}

/// The helper databases of a swap: "concord_restore_<h>_in" (the copy being built) and
/// "concord_restore_<h>_out" (the original, renamed away), <h> the 32 hex digits of XXH3-128 of
/// "concord/restore/v1/<live name>". Fixed length (51 and 52 bytes, under PostgreSQL's 63), so
/// PostgreSQL never truncates them, whatever the live name's length; they differ from each other
/// by their suffix and are checked to differ from the live name.
struct pg_swap_names {
    std::string incoming;
    std::string outgoing;
};
/// The comments that mark a helper database as concord's own: only a database carrying its mark is
/// ever dropped by a later restore (the leftover of one interrupted or whose final drop failed).
inline constexpr std::string_view pg_incoming_mark = "concord: incoming copy of a restore; safe to drop when no restore is running";
inline constexpr std::string_view pg_outgoing_mark = "concord: replaced by a restore; safe to drop when no restore is running";

inline pg_swap_names pg_swap_names_for(const std::string& name) {
    const auto h = xxh3_128("concord/restore/v1/" + name).hex();
    pg_swap_names n{"concord_restore_" + h + "_in", "concord_restore_" + h + "_out"};
    static_assert(sizeof("concord_restore_") - 1 + 32 + sizeof("_out") - 1 <= 63, "helper names must not be truncated");
    if (n.incoming == name || n.outgoing == name)
        throw store_error(errc::invalid_argument, "database '" + name + "' has the name concord gives the helper databases "
                                                  "of its own restores: rename it to restore it with concord");
    return n;
}

/// Makes room for the helper databases before a swap: a leftover carrying concord's mark is dropped;
/// any other database under a helper name is refused (store_failure naming it), never dropped.
inline void pg_clear_leftovers(postgres_database& db, const std::string& name, const pg_swap_names& n,
                               const std::string& maintenance_db) {
    auto c = db.connect_to(maintenance_db);
    const char* values[] = {n.incoming.c_str(), n.outgoing.c_str()};
    std::unique_ptr<PGresult, pg_result_free> r(PQexecParams(
        c.get(), "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname IN ($1, $2)",
        2, nullptr, values, nullptr, nullptr, 0));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
        throw store_error(errc::store_failure, "cannot list the databases of the server: " + pg_trim(PQerrorMessage(c.get())));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        const std::string found = PQgetvalue(r.get(), i, 0);
        const std::string_view mark = found == n.incoming ? pg_incoming_mark : pg_outgoing_mark;
        if (PQgetvalue(r.get(), i, 1) != mark)
            throw store_error(errc::store_failure,
                              "database '" + found + "' exists, under the name concord's restores of '" + name +
                                  "' use for a helper database, and concord did not mark it as its own, so it is not "
                                  "dropped (a restore interrupted at the wrong moment leaves one like it): check what "
                                  "it holds, drop or rename it, then restore again");
        pg_maintenance(db, "DROP DATABASE " + pg_quote_name(found), maintenance_db);
    }
}

/// Creates the incoming database (CREATE DATABASE ... <from>) and marks it as concord's.
inline void pg_create_incoming(postgres_database& db, const pg_swap_names& n, const std::string& from,
                               const std::string& maintenance_db) {
    pg_maintenance(db, "CREATE DATABASE " + pg_quote_name(n.incoming) + " " + from, maintenance_db);
    try {
        pg_maintenance(db, "COMMENT ON DATABASE " + pg_quote_name(n.incoming) + " IS '" + std::string(pg_incoming_mark) + "'",
                       maintenance_db);
    } catch (...) {
        pg_maintenance_quietly(db, "DROP DATABASE " + pg_quote_name(n.incoming), maintenance_db);
        throw;
    }
}

/// The elements of a list setting as PostgreSQL stores it (its SplitGUCList): comma-separated,
/// an element in double quotes keeps commas and spaces, "" inside them is one quote.
inline std::vector<std::string> pg_split_setting_list(std::string_view v) {
    std::vector<std::string> out;
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    std::size_t i = 0;
    while (i < v.size() && space(v[i])) ++i;
    if (i == v.size()) return out;
    while (true) {
        std::string item;
        if (v[i] == '"') {
            for (++i; i < v.size(); ++i) {
                if (v[i] == '"') {
                    if (i + 1 < v.size() && v[i + 1] == '"') ++i;
                    else break;
                }
                item += v[i];
            }
            ++i;
        } else {
            while (i < v.size() && v[i] != ',' && !space(v[i])) item += v[i++];
        }
        out.push_back(std::move(item));
        while (i < v.size() && space(v[i])) ++i;
        if (i >= v.size() || v[i] != ',') return out;
        ++i;
        while (i < v.size() && space(v[i])) ++i;
        if (i == v.size()) return out;
    }
}

/// Gives `n.incoming` the settings `name` has (ALTER DATABASE ... SET and ALTER ROLE ... IN DATABASE
/// ... SET): they belong to the database object, so neither a pg_dump archive nor a template copy
/// carries them, and a swap without them would lose, say, the search_path that finds the host's
/// tables and concord's own (the restored database would then seem to have no checkpoint). Written
/// as pg_dump writes them: a list setting that PostgreSQL quotes (search_path, ...) element by element.
inline void pg_copy_settings(postgres_database& db, const std::string& name, const pg_swap_names& n,
                             const std::string& maintenance_db) {
    auto c = db.connect_to(maintenance_db);
    auto run = [&](const char* sql, int count, const char* const* values) {
        std::unique_ptr<PGresult, pg_result_free> r(PQexecParams(c.get(), sql, count, nullptr, values, nullptr, nullptr, 0));
        const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            throw store_error(errc::store_failure, "cannot give the restored copy of '" + name + "' its settings (" +
                                                       std::string(sql).substr(0, 60) + "): " + pg_trim(PQerrorMessage(c.get())));
        return r;
    };
    auto literal = [&](std::string_view v) {
        std::unique_ptr<char, void (*)(void*)> l(PQescapeLiteral(c.get(), v.data(), v.size()), PQfreemem);
        if (!l) throw store_error(errc::store_failure, "cannot quote a setting of '" + name + "': " + pg_trim(PQerrorMessage(c.get())));
        return std::string(l.get());
    };
    const char* values[] = {name.c_str()};
    auto r = run("SELECT s.setrole = 0, coalesce(r.rolname, ''), unnest(s.setconfig) FROM pg_db_role_setting s "
                 "JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = $1",
                 1, values);
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        const std::string_view item = PQgetvalue(r.get(), i, 2);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string key(item.substr(0, eq));
        const auto value = item.substr(eq + 1);
        std::string sql = std::string_view(PQgetvalue(r.get(), i, 0)) == "t"
                              ? "ALTER DATABASE " + pg_quote_name(n.incoming)
                              : "ALTER ROLE " + pg_quote_name(PQgetvalue(r.get(), i, 1)) + " IN DATABASE " +
                                    pg_quote_name(n.incoming);
        sql += " SET " + pg_quote_name(key) + " TO ";
        if (key == "search_path" || key == "temp_tablespaces" || key == "local_preload_libraries" ||
            key == "session_preload_libraries" || key == "shared_preload_libraries" || key == "unix_socket_directories") {
            const auto items = pg_split_setting_list(value);
            if (items.empty()) sql += "''";
            for (std::size_t k = 0; k < items.size(); ++k) sql += (k ? ", " : "") + literal(items[k]);
        } else {
            sql += literal(value);
        }
        run(sql.c_str(), 0, nullptr);
    }
}

/// What the database `name` is besides its contents and settings (pg_database's row): owner,
/// encoding and locale, comment, connection limit and GRANTs. Neither a pg_dump archive (made
/// without --create) nor CREATE DATABASE ... TEMPLATE carries them, and a swapped-in database made
/// by the restoring role with the server's defaults would lose them: another owner, another encoding
/// (which converts or refuses the text it holds), every role let in where CONNECT was revoked from
/// PUBLIC. Read before the swap, given to the incoming database by pg_swap_in.
struct pg_database_attributes {
    std::string owner;
    std::string create_locale;  ///< ENCODING ... LC_COLLATE ... LC_CTYPE ... [LOCALE_PROVIDER ...], quoted
    std::optional<std::string> comment;
    std::string connlimit;
    bool default_acl = true;  ///< datacl NULL: the owner and PUBLIC have the default privileges
    struct grant {
        std::string grantee;  ///< empty: PUBLIC
        std::string privilege;
        bool grantable = false;
    };
    std::vector<grant> grants;
};

inline pg_database_attributes pg_read_attributes(postgres_database& db, const std::string& name,
                                                 const std::string& maintenance_db) {
    auto c = db.connect_to(maintenance_db);
    auto run = [&](const std::string& sql) {
        const char* values[] = {name.c_str()};
        std::unique_ptr<PGresult, pg_result_free> r(PQexecParams(c.get(), sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0));
        if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
            throw store_error(errc::store_failure, "cannot read what database '" + name + "' is (owner, encoding, grants): " +
                                                       pg_trim(PQerrorMessage(c.get())));
        return r;
    };
    auto literal = [&](const char* v) {
        std::unique_ptr<char, void (*)(void*)> l(PQescapeLiteral(c.get(), v, std::strlen(v)), PQfreemem);
        if (!l) throw store_error(errc::store_failure, "cannot quote an attribute of '" + name + "': " + pg_trim(PQerrorMessage(c.get())));
        return std::string(l.get());
    };
    // The locale provider came with PostgreSQL 15, its locale column was renamed in 17.
    const int version = PQserverVersion(c.get());
    const std::string provider = version >= 150000 ? "d.datlocprovider::text" : "''";
    const std::string locale = version >= 170000 ? "coalesce(d.datlocale, '')" : version >= 150000 ? "coalesce(d.daticulocale, '')" : "''";
    auto r = run("SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, " + provider +
                 ", " + locale + ", shobj_description(d.oid, 'pg_database'), d.datconnlimit, d.datacl IS NULL "
                 "FROM pg_database d WHERE d.datname = $1");
    if (PQntuples(r.get()) != 1)
        throw store_error(errc::store_failure, "database '" + name + "' is not on the server it is connected to");
    pg_database_attributes a;
    a.owner = PQgetvalue(r.get(), 0, 0);
    a.create_locale = "ENCODING " + literal(PQgetvalue(r.get(), 0, 1)) + " LC_COLLATE " + literal(PQgetvalue(r.get(), 0, 2)) +
                      " LC_CTYPE " + literal(PQgetvalue(r.get(), 0, 3));
    const std::string_view prov = PQgetvalue(r.get(), 0, 4);
    if (prov == "c") a.create_locale += " LOCALE_PROVIDER libc";
    else if (prov == "i") a.create_locale += " LOCALE_PROVIDER icu ICU_LOCALE " + literal(PQgetvalue(r.get(), 0, 5));
    else if (prov == "b") a.create_locale += " LOCALE_PROVIDER builtin BUILTIN_LOCALE " + literal(PQgetvalue(r.get(), 0, 5));
    if (!PQgetisnull(r.get(), 0, 6)) a.comment = PQgetvalue(r.get(), 0, 6);
    a.connlimit = PQgetvalue(r.get(), 0, 7);
    a.default_acl = std::string_view(PQgetvalue(r.get(), 0, 8)) == "t";
    if (!a.default_acl) {
        auto g = run("SELECT coalesce(r.rolname, ''), a.privilege_type, a.is_grantable FROM pg_database d "
                     "CROSS JOIN LATERAL aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
                     "WHERE d.datname = $1 ORDER BY 1, 2");
        for (int i = 0; i < PQntuples(g.get()); ++i)
            a.grants.push_back({PQgetvalue(g.get(), i, 0), PQgetvalue(g.get(), i, 1),
                                std::string_view(PQgetvalue(g.get(), i, 2)) == "t"});
    }
    return a;
}

/// Gives `n.incoming` the owner, connection limit and GRANTs of `a` (the comment follows the swap:
/// until then the incoming database carries concord's mark). A role that may not do it (not the
/// owner's member, say) fails the restore here, the original untouched.
inline void pg_copy_attributes(postgres_database& db, const pg_database_attributes& a, const pg_swap_names& n,
                               const std::string& maintenance_db) {
    const auto incoming = pg_quote_name(n.incoming);
    pg_maintenance(db, "ALTER DATABASE " + incoming + " OWNER TO " + pg_quote_name(a.owner), maintenance_db);
    if (a.connlimit != "-1")
        pg_maintenance(db, "ALTER DATABASE " + incoming + " CONNECTION LIMIT " + std::to_string(std::stoi(a.connlimit)),
                       maintenance_db);
    if (a.default_acl) return;
    // Exactly the original's list: what PUBLIC and the owner have by default goes first.
    pg_maintenance(db, "REVOKE ALL ON DATABASE " + incoming + " FROM PUBLIC", maintenance_db);
    pg_maintenance(db, "REVOKE ALL ON DATABASE " + incoming + " FROM " + pg_quote_name(a.owner), maintenance_db);
    for (const auto& g : a.grants) {
        if (g.privilege != "CREATE" && g.privilege != "CONNECT" && g.privilege != "TEMPORARY")
            throw store_error(errc::store_failure, "database privilege '" + g.privilege + "' is not one concord can copy");
        pg_maintenance(db, "GRANT " + g.privilege + " ON DATABASE " + incoming + " TO " +
                               (g.grantee.empty() ? std::string("PUBLIC") : pg_quote_name(g.grantee)) +
                               (g.grantable ? " WITH GRANT OPTION" : ""),
                       maintenance_db);
    }
}

/// The comment of `a` on database `name`, as pg_maintenance_quietly: the swap is done already.
inline void pg_restore_comment(postgres_database& db, const std::string& name, const pg_database_attributes& a,
                               const std::string& maintenance_db) noexcept {
    try {
        std::string sql = "COMMENT ON DATABASE " + pg_quote_name(name) + " IS ";
        if (!a.comment) {
            sql += "NULL";
        } else {
            sql += "E'";  // E'': backslashes escape whatever standard_conforming_strings says
            for (char ch : *a.comment) {
                if (ch == '\'' || ch == '\\') sql += ch;
                sql += ch;
            }
            sql += "'";
        }
        pg_maintenance(db, sql, maintenance_db);
    } catch (...) {
    }
}

/// Puts the complete, marked database `n.incoming` in place of `name` (see the file comment). Nobody
/// may be connected to `name`; on failure `name` is as it was and `n.incoming` is dropped. Once the
/// swap is done the restore has succeeded: failing to drop the original (marked first) is not an
/// error, the next restore drops it.
inline void pg_swap_in(postgres_database& db, const std::string& name, const pg_swap_names& n,
                       const pg_database_attributes& attributes, const std::string& maintenance_db) {
    const auto live = pg_quote_name(name), incoming = pg_quote_name(n.incoming), outgoing = pg_quote_name(n.outgoing);
    try {
        pg_copy_settings(db, name, n, maintenance_db);
        pg_copy_attributes(db, attributes, n, maintenance_db);
        pg_maintenance(db, "ALTER DATABASE " + live + " RENAME TO " + outgoing, maintenance_db);
    } catch (...) {
        pg_maintenance_quietly(db, "DROP DATABASE " + incoming, maintenance_db);
        throw;
    }
    try {
        pg_maintenance(db, "ALTER DATABASE " + incoming + " RENAME TO " + live, maintenance_db);
    } catch (const std::exception& e) {
        try {
            pg_maintenance(db, "ALTER DATABASE " + outgoing + " RENAME TO " + live, maintenance_db);
        } catch (const std::exception& back) {
            std::throw_with_nested(store_error(
                errc::store_failure, "restore of '" + name + "' failed after the database was renamed to '" + n.outgoing +
                                         "', and renaming it back failed too: rename it back by hand (ALTER DATABASE " +
                                         outgoing + " RENAME TO " + live + "). The restore failed with: " + e.what() +
                                         "; renaming back with: " + back.what()));
        }
        pg_maintenance_quietly(db, "DROP DATABASE " + incoming, maintenance_db);
        throw;
    }
    pg_restore_comment(db, name, attributes, maintenance_db);  // in place of the incoming mark
    pg_maintenance_quietly(db, "COMMENT ON DATABASE " + outgoing + " IS '" + std::string(pg_outgoing_mark) + "'", maintenance_db);
    pg_maintenance_quietly(db, "DROP DATABASE " + outgoing, maintenance_db);
}

/// Runs `body` with db's connection closed, then reopens it. When `body` fails and reopening fails
/// too, the error says both, the body's first: the reconnect failure alone would hide what went wrong.
/// Refused before anything while db holds a reconcile lock, which closing would silently drop (and
/// reopen() would then refuse, after the work was done).
template <class F>
void pg_offline(postgres_database& db, F&& body) {
    if (db.holds_reconcile_lock())
        throw store_error(errc::invalid_argument,
                          "PostgreSQL database '" + db.name() + "' cannot be restored or copied while this connection "
                          "holds a reconcile lock: the connection is closed for it, and the lock with it; do it outside "
                          "the reconcile (nothing was done)");
    db.close();
    try {
        body();
    } catch (...) {
        const auto original = std::current_exception();
        std::string reopen_failure;
        try {
            db.reopen();
        } catch (const std::exception& r) {
            reopen_failure = r.what();
        }
        if (reopen_failure.empty()) std::rethrow_exception(original);
        try {
            std::rethrow_exception(original);
        } catch (const error& e) {
            std::string what = e.what();
            const auto prefix = std::string(to_string(e.code())) + ": ";
            if (what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
            std::throw_with_nested(store_error(e.code(), what + " (then reconnecting failed too; call reopen() once the "
                                                                "database accepts connections: " + reopen_failure + ")"));
        }
    }
    db.reopen();
}
} // namespace detail

/// Writes a pg_dump backup (custom format) of db's database to `file`. The connection stays open.
/// pg_dump writes a temporary file beside `file` ("<file>.concord-dump-<pid>-<16 random hex
/// digits>.tmp"), renamed over `file` once it succeeded: pg_dump truncates its output file before it
/// connects, so a failed dump (server unreachable, disk full) would otherwise destroy the earlier
/// backup of that name. The temporary file is created here first, exclusively (O_EXCL, never through
/// a symbolic link, mode 0666 less the umask as pg_dump makes it) under a name nobody can predict:
/// pg_dump opens its file without O_EXCL, so a link planted at a known name in a shared directory
/// would have it overwrite the file the link points to.
inline void postgres_dump(postgres_database& db, const std::filesystem::path& file, const postgres_tools& tools = {}) {
    const detail::pg_tool_login login(db.conninfo(), db.name());
    std::filesystem::path tmp;
    std::random_device rd;
    for (int tries = 1;; ++tries) {
        const auto r = (std::uint64_t{rd()} << 32) ^ rd();
        tmp = file;
        tmp += ".concord-dump-" + std::to_string(::getpid()) + "-" + key128{r, 0}.hex().substr(0, 16) + ".tmp";
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            ::close(fd);
            break;
        }
        const int e = errno;
        if (e != EEXIST || tries >= 100)
            throw store_error(errc::store_failure, "cannot create the temporary dump file " + tmp.string() + ": " +
                                                       std::strerror(e) + "; " + file.string() + " is unchanged");
    }
    std::error_code ec;
    try {
        detail::pg_run(detail::pg_dump_args(tools, tmp, login), login.env());
        if (!std::filesystem::is_regular_file(tmp, ec))
            throw store_error(errc::store_failure, "pg_dump succeeded but wrote no file " + tmp.string() + "; " +
                                                       file.string() + " is unchanged");
        std::filesystem::rename(tmp, file, ec);
        if (ec)
            throw store_error(errc::store_failure, "cannot rename the dump " + tmp.string() + " to " + file.string() +
                                                       ": " + ec.message() + "; " + file.string() + " is unchanged");
    } catch (...) {
        std::filesystem::remove(tmp, ec);
        throw;
    }
}

/// Restores a pg_dump backup: it is restored into a new database (pg_restore --single-transaction
/// --exit-on-error), which then replaces db's database under its name; db's connection is closed
/// for the swap and reopened on the restored database. Nobody else may be connected to the database
/// (store_failure otherwise). A missing or broken backup, or any failure, leaves the database as it
/// was; a file that is not a pg_dump custom-format archive is errc::not_a_database before anything
/// is done on the server.
inline void postgres_restore(postgres_database& db, const std::filesystem::path& file, const postgres_tools& tools = {},
                             const std::string& maintenance_db = "postgres") {
    if (!std::filesystem::exists(file))
        throw store_error(errc::invalid_argument, "no PostgreSQL backup at " + file.string());
    {  // before the database goes offline: pg_restore would say so only after a new database was made
        char magic[5] = {};
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        const bool archive = fd >= 0 && ::read(fd, magic, sizeof magic) == static_cast<ssize_t>(sizeof magic) &&
                             std::string_view(magic, sizeof magic) == "PGDMP";
        if (fd >= 0) ::close(fd);
        if (!archive)
            throw store_error(errc::not_a_database, file.string() + " is not a pg_dump custom-format archive, which pg_restore "
                                                    "reads (it does not start with PGDMP): not restored, the database is untouched");
    }
    const auto name = db.name();
    const auto n = detail::pg_swap_names_for(name);
    detail::pg_offline(db, [&] {
        detail::pg_clear_leftovers(db, name, n, maintenance_db);
        const auto attributes = detail::pg_read_attributes(db, name, maintenance_db);
        // The original's encoding and locale, not the server's defaults: they decide what text it holds.
        detail::pg_create_incoming(db, n, "TEMPLATE template0 " + attributes.create_locale, maintenance_db);
        try {
            const detail::pg_tool_login login(db.conninfo(), n.incoming);
            detail::pg_run(detail::pg_restore_args(tools, file, login), login.env());
        } catch (...) {
            detail::pg_maintenance_quietly(db, "DROP DATABASE " + pg_quote_name(n.incoming), maintenance_db);
            throw;
        }
        detail::pg_swap_in(db, name, n, attributes, maintenance_db);
    });
}

/// Fast snapshot: copies db's database to a new database `snapshot` with CREATE DATABASE ... TEMPLATE.
/// PostgreSQL requires that nobody is connected to the source while it is copied: db's own connection
/// is closed for the copy and reopened after it; other connections make it fail (store_failure).
inline void postgres_snapshot(postgres_database& db, const std::string& snapshot, const std::string& maintenance_db = "postgres") {
    const auto name = db.name();
    detail::pg_offline(db, [&] {
        detail::pg_maintenance(db, "CREATE DATABASE " + pg_quote_name(snapshot) + " TEMPLATE " + pg_quote_name(name),
                               maintenance_db);
    });
}

/// Restores a snapshot made by postgres_snapshot: a fresh copy of it replaces db's database (the
/// snapshot itself is kept, so it can be restored again). The copy is made first and the original
/// is dropped only once the copy is in place under its name.
inline void postgres_restore_snapshot(postgres_database& db, const std::string& snapshot,
                                      const std::string& maintenance_db = "postgres") {
    const auto name = db.name();
    const auto n = detail::pg_swap_names_for(name);
    detail::pg_offline(db, [&] {
        detail::pg_clear_leftovers(db, name, n, maintenance_db);
        const auto attributes = detail::pg_read_attributes(db, name, maintenance_db);
        detail::pg_create_incoming(db, n, "TEMPLATE " + pg_quote_name(snapshot), maintenance_db);
        detail::pg_swap_in(db, name, n, attributes, maintenance_db);
    });
}

/// Drops a snapshot database made by postgres_snapshot.
inline void postgres_drop_snapshot(postgres_database& db, const std::string& snapshot,
                                   const std::string& maintenance_db = "postgres") {
    detail::pg_maintenance(db, "DROP DATABASE IF EXISTS " + pg_quote_name(snapshot), maintenance_db);
}

} // namespace concord
