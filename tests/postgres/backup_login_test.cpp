// What pg_dump and pg_restore get from postgres_dump / postgres_restore: nothing secret on their
// command line (every local user can read it through ps or /proc/<pid>/cmdline). The password goes to
// the child's PGPASSWORD, every other keyword (sslpassword, the client key's passphrase, among them)
// to a connection service file of mode 0600 that is gone once the tool has exited.
// No server needed: the tools are stand-in scripts, and libpq reads the service file back without
// reaching a server (port 1 on loopback refuses at once), so these run everywhere (label pg_tools, not postgres).

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <concord/postgres/backup.hpp>

using namespace concord;
using concord::detail::pg_tool_login;

namespace {

const std::string password = "PW-s3cret";
const std::string passphrase = "KEY-passphrase";
const std::string conninfo = "host=db.example port=5433 user=app password=" + password +
                             " sslmode=verify-full sslkey=/k.pem sslpassword=" + passphrase + " dbname=shop";

/// A directory of its own under the temp directory, removed when the test ends.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        auto tmpl = (std::filesystem::temp_directory_path() / "concord-login-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += s + '\n';
    return out;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Environment variables the test sets for itself, put back as they were.
struct env_guard {
    std::string name;
    std::optional<std::string> old;
    explicit env_guard(std::string n) : name(std::move(n)) {
        if (const char* v = std::getenv(name.c_str())) old = v;
    }
    ~env_guard() {
        if (old) ::setenv(name.c_str(), old->c_str(), 1);
        else ::unsetenv(name.c_str());
    }
};

/// The error `f` throws as invalid_argument, its text.
template <class F>
std::string invalid_argument_text(F&& f) {
    try {
        f();
    } catch (const store_error& e) {
        CHECK(e.code() == errc::invalid_argument);
        return e.what();
    }
    FAIL("no error");
    return {};
}

} // namespace

TEST_CASE("the command lines of pg_dump and pg_restore hold neither the password nor sslpassword",
          "[pg_tools]") {
    env_guard service("PGSERVICE");
    ::unsetenv("PGSERVICE");
    const pg_tool_login login(conninfo, "shop_copy");
    for (const auto& args : {detail::pg_dump_args({}, "/tmp/x.pgdump", login), detail::pg_restore_args({}, "/tmp/x.pgdump", login)}) {
        const auto argv = joined(args);
        INFO(argv);
        CHECK_FALSE(has(argv, password));
        CHECK_FALSE(has(argv, passphrase));
        CHECK_FALSE(has(argv, "db.example"));  // no keyword at all: only the service's name
        CHECK(has(argv, "--dbname=service=concord\n"));
    }
    // The child's environment: the password, and where the rest is. Not the passphrase itself.
    const auto env = joined(login.env());
    CHECK(has(env, "PGPASSWORD=" + password + "\n"));
    CHECK(has(env, "PGSERVICEFILE=" + login.service_file().string() + "\n"));
    CHECK_FALSE(has(env, passphrase));
}

TEST_CASE("the service file holds the keywords, has mode 0600, and is gone afterwards", "[pg_tools]") {
    env_guard service("PGSERVICE");
    ::unsetenv("PGSERVICE");
    std::filesystem::path file;
    {
        const pg_tool_login login(conninfo, "shop_copy");
        file = login.service_file();
        REQUIRE_FALSE(file.empty());
        struct stat st {};
        REQUIRE(::stat(file.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        CHECK(st.st_uid == ::geteuid());
        const auto text = slurp(file);
        INFO(text);
        CHECK(text.rfind("[concord]\n", 0) == 0);
        CHECK(has(text, "\nsslpassword=" + passphrase + "\n"));
        CHECK(has(text, "\ndbname=shop_copy\n"));  // the tool's database, not the conninfo's
        CHECK_FALSE(has(text, "dbname=shop\n"));
        CHECK(has(text, "\nhost=db.example\n"));
        CHECK(has(text, "\nsslkey=/k.pem\n"));
        CHECK_FALSE(has(text, password));  // the password goes through PGPASSWORD alone
    }
    CHECK_FALSE(std::filesystem::exists(file));
}

TEST_CASE("the tool gets the service file and the password through its environment, and the host's is unchanged",
          "[pg_tools]") {
    env_guard service("PGSERVICE"), service_file("PGSERVICEFILE"), pw("PGPASSWORD");
    ::unsetenv("PGSERVICE");
    ::setenv("PGSERVICEFILE", "/host/own/pg_service.conf", 1);
    ::unsetenv("PGPASSWORD");
    temp_dir bin;
    // Stand-ins record what any local user could read (argv) and what the tool itself sees.
    for (const auto* tool : {"pg_dump", "pg_restore"}) {
        std::ofstream script(bin.path / tool);
        script << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$0.argv\"\n"
                  "tr '\\0' '\\n' < /proc/$$/cmdline > \"$0.cmdline\"\n"
                  "printf '%s' \"${PGPASSWORD-<unset>}\" > \"$0.password\"\n"
                  "printf '%s' \"$PGSERVICEFILE\" > \"$0.servicefile\"\n"
                  "cat \"$PGSERVICEFILE\" > \"$0.service\"\n"
                  "stat -c %a \"$PGSERVICEFILE\" > \"$0.mode\"\n"
               << (std::string_view(tool) == "pg_dump" ? "exit 0\n"
                                                       : "echo \"stand-in refuses $PGSERVICEFILE\" >&2; exit 3\n");
        script.close();
        std::filesystem::permissions(bin.path / tool, std::filesystem::perms::owner_all);
    }
    const postgres_tools tools{bin.path};
    std::filesystem::path file;
    {
        const pg_tool_login login(conninfo, "shop");
        file = login.service_file();
        detail::pg_run(detail::pg_dump_args(tools, bin.path / "x.pgdump", login), login.env());
    }
    CHECK_FALSE(std::filesystem::exists(file));
    for (const auto* recorded : {"pg_dump.argv", "pg_dump.cmdline"}) {
        const auto argv = slurp(bin.path / recorded);
        INFO(argv);
        CHECK(has(argv, "--dbname=service=concord"));
        CHECK_FALSE(has(argv, password));
        CHECK_FALSE(has(argv, passphrase));
    }
    CHECK(slurp(bin.path / "pg_dump.password") == password);
    CHECK(slurp(bin.path / "pg_dump.servicefile") == file.string());
    CHECK(has(slurp(bin.path / "pg_dump.service"), "sslpassword=" + passphrase + "\n"));
    CHECK(slurp(bin.path / "pg_dump.mode") == "600\n");
    // Only the child's environment changed.
    CHECK(std::string(std::getenv("PGSERVICEFILE")) == "/host/own/pg_service.conf");
    CHECK(std::getenv("PGPASSWORD") == nullptr);

    // A tool that fails: the service file is gone all the same, and the error holds no secret.
    try {
        const pg_tool_login login(conninfo, "shop");
        file = login.service_file();
        detail::pg_run(detail::pg_restore_args(tools, bin.path / "x.pgdump", login), login.env());
        FAIL("the stand-in pg_restore failed, pg_run did not say so");
    } catch (const store_error& e) {
        const std::string what = e.what();
        CHECK(has(what, "stand-in refuses " + file.string()));
        CHECK_FALSE(has(what, password));
        CHECK_FALSE(has(what, passphrase));
    }
    CHECK_FALSE(file.empty());
    CHECK_FALSE(std::filesystem::exists(file));
    CHECK(has(slurp(bin.path / "pg_restore.service"), "sslpassword=" + passphrase + "\n"));
    CHECK_FALSE(has(slurp(bin.path / "pg_restore.cmdline"), passphrase));
}

TEST_CASE("libpq reads the service file back value for value", "[pg_tools]") {
    // Values with the characters a conninfo quotes: the service file has no quoting, they stay as they are.
    env_guard service("PGSERVICE"), service_file("PGSERVICEFILE");
    ::unsetenv("PGSERVICE");
    const std::string tricky = " lead'quote\\back=slash #hash [x]";
    std::string ci = "host=127.0.0.1 port=1 user=app sslmode=disable connect_timeout=2 password=pw sslpassword='";
    for (char c : tricky) ci += (c == '\'' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    ci += "' application_name='two words'";
    const pg_tool_login login(ci, "the db");
    ::setenv("PGSERVICEFILE", login.service_file().c_str(), 1);
    PGconn* c = PQconnectStart("service=concord");  // port 1: refused, never reaches a server
    REQUIRE(c != nullptr);
    std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> opts(PQconninfo(c), PQconninfoFree);
    PQfinish(c);
    REQUIRE(opts);
    auto value = [&](std::string_view k) -> std::string {
        for (auto* o = opts.get(); o->keyword; ++o)
            if (k == o->keyword) return o->val ? o->val : "<null>";
        return "<none>";
    };
    CHECK(value("sslpassword") == tricky);
    CHECK(value("dbname") == "the db");
    CHECK(value("application_name") == "two words");
    CHECK(value("host") == "127.0.0.1");
    CHECK(value("port") == "1");
    CHECK(value("user") == "app");
}

TEST_CASE("a value the service file cannot hold is refused, naming the keyword, never the value", "[pg_tools]") {
    env_guard service("PGSERVICE");
    ::unsetenv("PGSERVICE");
    const std::string secret = "KEY-passphrase";
    SECTION("a newline") {
        const auto what = invalid_argument_text([&] { pg_tool_login("host=h sslpassword='a\n" + secret + "'", "db"); });
        CHECK(has(what, "sslpassword"));
        CHECK(has(what, "newline"));
        CHECK_FALSE(has(what, secret));
    }
    SECTION("trailing white space, which libpq would cut") {
        const auto what = invalid_argument_text([&] { pg_tool_login("host=h sslpassword='" + secret + " '", "db"); });
        CHECK(has(what, "sslpassword"));
        CHECK_FALSE(has(what, secret));
    }
    SECTION("a line longer than libpq reads") {
        const auto what = invalid_argument_text(
            [&] { pg_tool_login("host=h sslpassword='" + secret + std::string(1100, 'x') + "'", "db"); });
        CHECK(has(what, "sslpassword"));
        CHECK_FALSE(has(what, secret));
    }
    SECTION("the database name") {
        const auto what = invalid_argument_text([&] { pg_tool_login("host=h", "evil\nhost=elsewhere"); });
        CHECK(has(what, "dbname"));
    }
    SECTION("a conninfo libpq cannot parse is not echoed") {
        const auto what = invalid_argument_text([&] { pg_tool_login("host=h password=pw " + secret, "db"); });
        CHECK_FALSE(has(what, secret));
    }
    SECTION("no file is left behind") {
        // Nothing was created: each refusal comes before the file is written. Looked for in a
        // temporary directory of this test's own (TMPDIR): tests running beside it write and remove
        // service files of their own in the shared one.
        std::string tmpl = (std::filesystem::temp_directory_path() / "concord-pg-login-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        const std::filesystem::path dir = tmpl;
        {
            env_guard tmpdir("TMPDIR");
            ::setenv("TMPDIR", dir.c_str(), 1);
            REQUIRE(std::filesystem::temp_directory_path() == dir);
            CHECK_THROWS_AS(pg_tool_login("host=h sslpassword='x\ny'", "db"), store_error);
            CHECK(std::filesystem::is_empty(dir));
        }
        std::filesystem::remove_all(dir);
    }
}

TEST_CASE("a conninfo naming its own service keeps its keywords on the command line, and refuses sslpassword",
          "[pg_tools]") {
    env_guard service("PGSERVICE");
    ::unsetenv("PGSERVICE");
    {
        const pg_tool_login login("service=mine host=h password=" + password, "db");
        CHECK(login.service_file().empty());
        CHECK(login.dbname_arg() == "--dbname=dbname='db' service='mine' host='h'");
        CHECK(joined(login.env()) == "PGPASSWORD=" + password + "\n");
    }
    const auto what = invalid_argument_text([] { pg_tool_login("service=mine sslpassword=" + passphrase, "db"); });
    CHECK(has(what, "sslpassword"));
    CHECK_FALSE(has(what, passphrase));

    // PGSERVICE in the environment names a service just the same.
    ::setenv("PGSERVICE", "mine", 1);
    CHECK(pg_tool_login("host=h", "db").service_file().empty());
    const auto env_what = invalid_argument_text([] { pg_tool_login("host=h sslpassword=" + passphrase, "db"); });
    CHECK_FALSE(has(env_what, passphrase));
}

TEST_CASE("a connection that fails or a conninfo that does not parse never puts a secret in the error", "[pg_tools]") {
    // Port 1 on loopback refuses at once: the connect fails and its message describes the connection.
    std::string msg;
    try {
        postgres_database db("host=127.0.0.1 port=1 dbname=app user=alice connect_timeout=2 password=" + password +
                             " sslpassword=" + passphrase);
    } catch (const store_error& e) {
        CHECK(e.code() == errc::store_failure);
        msg = e.what();
    }
    REQUIRE_FALSE(msg.empty());
    CHECK(msg.find(password) == std::string::npos);
    CHECK(msg.find(passphrase) == std::string::npos);
    CHECK(msg.find("password=****") != std::string::npos);
    CHECK(msg.find("port=1") != std::string::npos);  // the rest still says where it tried

    // libpq's own parse error quotes the bad token: here a password pasted without its keyword.
    std::string bad;
    try {
        postgres_database db("host=127.0.0.1 " + password);
    } catch (const store_error& e) {
        CHECK(e.code() == errc::invalid_argument);
        bad = e.what();
    }
    REQUIRE_FALSE(bad.empty());
    CHECK(bad.find(password) == std::string::npos);
}
