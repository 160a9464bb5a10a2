#pragma once
// One libpq connection to one PostgreSQL database, the way concord's PostgreSQL store adapter uses it:
// parameterised statements in text format (no SQL built from values), RAII transactions, a reconcile
// lock (a session-level advisory lock, released by PostgreSQL itself when the connection dies) and
// errors that keep libpq's own message. The host's connection model is explicit: when the
// connection is lost every call throws errc::store_failure saying so, and the host calls reopen().

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/hash.hpp>

namespace concord {

namespace detail {
struct pg_result_free {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
struct pg_conn_free {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
inline void pg_ignore_notice(void*, const char*) {}

/// libpq's messages end with a newline; reports read better without it.
inline std::string pg_trim(const char* m) {
    std::string s = m ? m : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

/// A keyword whose value is a secret (libpq marks its password fields with '*'): it never goes on a
/// command line.
inline bool pg_secret_keyword(const PQconninfoOption& o) {
    const std::string_view k(o.keyword);
    return (o.dispchar && std::string_view(o.dispchar).find('*') != std::string_view::npos) || k == "password" ||
           k == "sslpassword" || k == "scram_client_key" || k == "scram_server_key";
}

using pg_conninfo_options = std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)>;

/// `conninfo` parsed by libpq. One it cannot parse is refused (invalid_argument) without repeating it
/// or libpq's message, which may quote a piece of it, password included.
inline pg_conninfo_options pg_parse_conninfo(const std::string& conninfo) {
    char* err = nullptr;
    pg_conninfo_options opts(PQconninfoParse(conninfo.c_str(), &err), PQconninfoFree);
    if (!opts) {
        if (err) PQfreemem(err);
        throw store_error(errc::invalid_argument, "bad PostgreSQL conninfo (libpq cannot parse it; it is not "
                                                  "repeated here because it may hold a password)");
    }
    return opts;
}

/// The connection described for a message: every keyword that has a value, secrets as "****", so an
/// error text never carries a password.
inline std::string pg_redacted(const PQconninfoOption* opts, const std::string* dbname) {
    std::string out;
    bool has_db = false;
    for (auto* o = opts; o->keyword; ++o) {
        const std::string_view k(o->keyword);
        const char* v = o->val;
        if (k == "dbname" && dbname) {
            v = dbname->c_str();
            has_db = true;
        }
        if (!v) continue;
        out += (out.empty() ? "" : " ") + std::string(k) + "=" + (pg_secret_keyword(*o) ? std::string("****") : std::string(v));
    }
    if (dbname && !has_db) out += (out.empty() ? "dbname=" : " dbname=") + *dbname;
    return out;
}

/// Connects with `conninfo`, replacing its dbname by `dbname` when given. Throws store_failure with
/// libpq's message when the server cannot be reached.
inline std::unique_ptr<PGconn, pg_conn_free> pg_connect(const std::string& conninfo, const std::string* dbname) {
    auto opts = pg_parse_conninfo(conninfo);
    std::vector<const char*> keys, values;
    bool has_db = false;
    for (auto* o = opts.get(); o->keyword; ++o) {
        if (std::string_view(o->keyword) == "dbname" && dbname) {
            keys.push_back("dbname");
            values.push_back(dbname->c_str());
            has_db = true;
        } else if (o->val) {
            keys.push_back(o->keyword);
            values.push_back(o->val);
        }
    }
    if (dbname && !has_db) {
        keys.push_back("dbname");
        values.push_back(dbname->c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    std::unique_ptr<PGconn, pg_conn_free> c(PQconnectdbParams(keys.data(), values.data(), 0));
    if (!c) throw store_error(errc::store_failure, "libpq could not allocate a connection");
    if (PQstatus(c.get()) != CONNECTION_OK)
        throw store_error(errc::store_failure, "cannot connect to PostgreSQL (" + pg_redacted(opts.get(), dbname) +
                                                   "): " + pg_trim(PQerrorMessage(c.get())));
    PQsetNoticeProcessor(c.get(), &pg_ignore_notice, nullptr);
    return c;
}

/// The key of a transaction-level advisory lock concord's stores take for themselves (creating
/// tables, max + 1 ids): hashed apart from every reconcile lock key, so that no reconcile scope,
/// "schema" included, waits for them or makes them wait.
inline std::int64_t pg_internal_lock_key(std::string_view what) {
    return static_cast<std::int64_t>(xxh3_128("concord/internal-lock/v1/" + std::string(what)).hi);
}
} // namespace detail

/// One PostgreSQL name (a database, a column) in double quotes, embedded quotes doubled.
inline std::string pg_quote_name(std::string_view name) {
    if (name.empty()) throw error(errc::invalid_argument, "empty PostgreSQL name");
    std::string out = "\"";
    for (char c : name) {
        if (c == '\0') throw error(errc::invalid_argument, "NUL byte in PostgreSQL name");
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

/// A PostgreSQL identifier in double quotes (embedded quotes doubled); "schema.table" is quoted part
/// by part, so table names given to concord may be schema-qualified.
inline std::string pg_quote_identifier(std::string_view name) {
    std::string out;
    std::size_t start = 0;
    while (true) {
        const auto dot = name.find('.', start);
        const auto part = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (part.empty()) throw error(errc::invalid_argument, "empty part in PostgreSQL name '" + std::string(name) + "'");
        if (!out.empty()) out += '.';
        out += pg_quote_name(part);
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return out;
}

/// The rows of one statement. Values are text (libpq's text format); NULL is nullopt.
class pg_rows {
public:
    explicit pg_rows(PGresult* r) : r_(r) {}
    int size() const noexcept { return PQntuples(r_.get()); }
    int columns() const noexcept { return PQnfields(r_.get()); }
    std::optional<std::string_view> get(int row, int col) const {
        if (PQgetisnull(r_.get(), row, col)) return std::nullopt;
        return std::string_view(PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
    }
    /// Rows a command changed (UPDATE, DELETE, INSERT).
    std::int64_t affected() const {
        const char* t = PQcmdTuples(r_.get());
        return (t && *t) ? std::stoll(t) : 0;
    }

private:
    std::unique_ptr<PGresult, detail::pg_result_free> r_;
};

/// Parameters of one statement, in text format; nullopt is SQL NULL.
using pg_params = std::vector<std::optional<std::string>>;

/// One connection to one PostgreSQL database (libpq). Stores keep a reference to it, so it is neither
/// copied nor moved. Not thread-safe: one connection per thread, as with libpq itself.
class postgres_database {
public:
    /// Connects with a libpq conninfo ("host=127.0.0.1 port=5432 dbname=app" or a postgresql:// URI).
    /// Throws store_error (errc::store_failure) with libpq's message when the server cannot be reached.
    explicit postgres_database(std::string conninfo) : conninfo_(std::move(conninfo)) { reopen(); }

    postgres_database(const postgres_database&) = delete;
    postgres_database& operator=(const postgres_database&) = delete;

    /// The raw connection, for the host's own SQL. Runs a pending unlock first (see
    /// reconcile_lock::release) when the connection is idle again: a host that ended its aborted
    /// transaction through the raw connection releases the lock at its next handle().
    PGconn* handle() noexcept {
        if (!unlocks_pending_.empty()) flush_unlocks();
        return conn_.get();
    }
    const std::string& conninfo() const noexcept { return conninfo_; }
    /// Name of the connected database (restore and snapshot helpers need it).
    const std::string& name() const noexcept { return name_; }
    /// Server process id of this connection (pg_stat_activity.pid), for diagnostics and tests.
    int backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_.get()) : 0; }
    /// False after close() or once libpq noticed the connection is gone.
    bool connected() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
    /// Bumped by every reopen(): a lock taken on an earlier connection is gone with it.
    std::uint64_t epoch() const noexcept { return epoch_; }
    /// True while a reconcile_lock taken on this object is alive (reopen() and the restores refuse).
    bool holds_reconcile_lock() const noexcept { return !locks_held_.empty(); }

    /// Host connection model: close before a restore that replaces the database, reopen after it.
    /// A reconcile lock still alive is gone with the connection: reopen() waits for it to be released.
    void close() noexcept {
        conn_.reset();
        in_tx_ = false;
        unlocks_pending_.clear();
    }
    /// (Re)connects with the same conninfo; after a lost connection this is how the host resumes.
    /// Refused (errc::invalid_argument, nothing done) while a reconcile_lock taken on this object is
    /// alive: its advisory lock dies with the old connection (or died with a lost one), so another
    /// process may be reconciling already, and the reconcile that took it must end, not go on.
    void reopen() {
        if (!locks_held_.empty())
            throw store_error(errc::invalid_argument,
                              "reopen() of PostgreSQL database '" + name_ + "' while a reconcile lock of this connection "
                              "is held: the lock does not survive its connection, so the reconcile holding it would go on "
                              "unlocked; end that reconcile (release or destroy its reconcile_lock), then reopen and "
                              "reconcile again");
        close();
        auto c = detail::pg_connect(conninfo_, nullptr);
        // Doubles travel as text: with a lower setting (a server, role or database default of 0)
        // PostgreSQL prints 15 digits and values come back changed. 3 is its shortest exact form.
        std::unique_ptr<PGresult, detail::pg_result_free> r(PQexec(c.get(), "SET extra_float_digits = 3"));
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
            throw store_error(errc::store_failure, "PostgreSQL refused 'SET extra_float_digits = 3' on connecting: " +
                                                       detail::pg_trim(PQerrorMessage(c.get())));
        conn_ = std::move(c);
        name_ = PQdb(conn_.get());
        ++epoch_;
    }

    /// Runs one statement with text parameters ($1, $2, ...). Throws store_error with libpq's message
    /// and the statement's start; a lost connection says so.
    pg_rows exec(std::string_view sql, const pg_params& params = {}) {
        if (!conn_) throw store_error(errc::store_failure, "PostgreSQL connection is closed (call reopen())");
        if (PQstatus(conn_.get()) != CONNECTION_OK) throw lost("before running " + head(sql));
        std::vector<const char*> values;
        values.reserve(params.size());
        for (const auto& p : params) {
            // libpq takes each value as a C string: one with a NUL byte would arrive cut short.
            if (p && p->find('\0') != std::string::npos)
                throw store_error(errc::invalid_argument,
                                  "parameter $" + std::to_string(values.size() + 1) + " of " + head(sql) +
                                      " holds a NUL byte, which PostgreSQL text cannot hold: nothing was sent");
            if (p) check_encoding(*p, values.size() + 1, sql);
            values.push_back(p ? p->c_str() : nullptr);
        }
        const std::string text(sql);
        PGresult* r = PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                   nullptr, nullptr, 0);
        pg_rows rows(r);
        const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (!unlocks_pending_.empty()) flush_unlocks();
            return rows;
        }
        if (PQstatus(conn_.get()) != CONNECTION_OK) throw lost("during " + head(sql), sql == "COMMIT");
        const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
        // 22021 (invalid byte sequence), 22P05 (untranslatable character): the value is bad, not the
        // store (a client_encoding other than UTF8, which check_encoding() does not know).
        const bool bad_text = state && (std::string_view(state) == "22021" || std::string_view(state) == "22P05");
        throw store_error(bad_text ? errc::invalid_argument : errc::store_failure,
                          "PostgreSQL error" + (state ? " " + std::string(state) : std::string()) + " in " + head(sql) +
                              ": " + detail::pg_trim(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get())));
    }

    /// True while a transaction is open on the connection, concord's or the host's own (BEGIN run
    /// through exec() or handle()), including one a failed statement aborted.
    bool in_transaction() const noexcept {
        if (!conn_) return false;
        const auto st = PQtransactionStatus(conn_.get());
        return st == PQTRANS_INTRANS || st == PQTRANS_INERROR;
    }

    /// A transaction: BEGIN now, COMMIT by commit(), ROLLBACK when destroyed uncommitted (a failed
    /// statement, an exception). Not nestable: a second one on the same connection is refused, and
    /// so is one inside the host's own transaction (errc::invalid_argument, the host's transaction
    /// left as it was): PostgreSQL would only warn about the BEGIN, then concord's COMMIT would commit
    /// the host's half-done work and its ROLLBACK discard it.
    class transaction {
    public:
        explicit transaction(postgres_database& db) : db_(&db) {
            if (db.in_tx_) throw store_error(errc::store_failure, "a concord transaction is already open on this connection");
            if (db.in_transaction())
                throw store_error(errc::invalid_argument,
                                  "a transaction is already open on PostgreSQL database '" + db.name_ +
                                      "': postgres_database::transaction does not nest (commit or roll back the open "
                                      "one first; concord's store commits must be durable before its witness moves on)");
            db.exec("BEGIN");
            db.in_tx_ = true;
        }
        transaction(const transaction&) = delete;
        transaction& operator=(const transaction&) = delete;
        void commit() {
            db_->in_tx_ = false;
            done_ = true;
            db_->exec("COMMIT");
        }
        ~transaction() {
            if (done_) return;
            db_->in_tx_ = false;
            if (db_->connected()) {
                try {
                    db_->exec("ROLLBACK");
                } catch (...) {  // the connection died meanwhile: the server rolled back already
                }
            }
        }

    private:
        postgres_database* db_;
        bool done_ = false;
    };

    /// Holds the reconcile lock of one scope on this connection until destroyed. PostgreSQL releases
    /// it by itself when the connection ends, so a crashed host never leaves it behind.
    class reconcile_lock {
    public:
        reconcile_lock(reconcile_lock&& o) noexcept : db_(std::exchange(o.db_, nullptr)), key_(o.key_), epoch_(o.epoch_) {}
        reconcile_lock& operator=(reconcile_lock&&) = delete;
        ~reconcile_lock() { release(); }
        /// Releases early (idempotent).
        void release() noexcept {
            if (!db_) return;
            auto* db = std::exchange(db_, nullptr);
            std::erase(db->locks_held_, key_);  // also when gone with its connection: reopen() waits for this
            if (db->epoch_ != epoch_ || !db->connected()) return;  // gone with its connection
            try {
                db->exec("SELECT pg_advisory_unlock($1::bigint)", {std::to_string(key_)});
            } catch (...) {
                // A dead connection released it. A live one refused the statement (the host's
                // transaction is aborted) and still holds it: unlocked once that transaction ends.
                if (db->connected()) db->unlocks_pending_.push_back(key_);
            }
        }
        /// The 64-bit advisory lock key (XXH3-128 of "concord/reconcile/v1/<scope>", high half).
        std::int64_t key() const noexcept { return key_; }

    private:
        friend class postgres_database;
        reconcile_lock(postgres_database& db, std::int64_t key) : db_(&db), key_(key), epoch_(db.epoch_) {}
        postgres_database* db_;
        std::int64_t key_;
        std::uint64_t epoch_;
    };

    /// The advisory lock key of a reconcile scope: stable across platforms and runs (XXH3-128).
    static std::int64_t reconcile_lock_key(std::string_view scope) {
        const auto k = xxh3_128("concord/reconcile/v1/" + std::string(scope));
        return static_cast<std::int64_t>(k.hi);
    }

    /// Takes the reconcile lock of `scope` without waiting: two reconcilers on one database (in any
    /// process) must not both act. Throws errc::concurrent_reconcile naming the holder when another
    /// connection, or this one, already holds it.
    reconcile_lock lock_reconcile(std::string_view scope = "concord") {
        const auto key = reconcile_lock_key(scope);
        flush_unlocks();
        if (std::find(locks_held_.begin(), locks_held_.end(), key) != locks_held_.end())
            throw error(errc::concurrent_reconcile, "another reconcile is running on this connection (database '" + name_ +
                                                        "', scope '" + std::string(scope) + "')");
        auto r = exec("SELECT pg_try_advisory_lock($1::bigint)", {std::to_string(key)});
        if (r.get(0, 0) != std::optional<std::string_view>("t")) {
            const auto u = static_cast<std::uint64_t>(key);
            std::string who;
            try {
                auto h = exec("SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local') "
                              "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                              "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                              "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                              "AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1",
                              {std::to_string(u >> 32), std::to_string(u & 0xffffffffULL)});
                if (h.size() > 0)
                    who = " (held by server process " + std::string(*h.get(0, 0)) +
                          (h.get(0, 1)->empty() ? "" : ", application '" + std::string(*h.get(0, 1)) + "'") + ", client " +
                          std::string(*h.get(0, 2)) + ")";
            } catch (const store_error&) {
            }
            throw error(errc::concurrent_reconcile, "another reconcile is running on database '" + name_ + "', scope '" +
                                                        std::string(scope) + "'" + who +
                                                        ": this one did nothing; try again when it has finished");
        }
        locks_held_.push_back(key);
        return reconcile_lock(*this, key);
    }

    /// A new connection to another database of the same server (same host, port, user): restore and
    /// snapshot helpers run CREATE/DROP DATABASE from the maintenance database ("postgres").
    std::unique_ptr<PGconn, detail::pg_conn_free> connect_to(const std::string& dbname) const {
        return detail::pg_connect(conninfo_, &dbname);
    }

private:
    /// With client_encoding UTF8 (libpq's default for a UTF8 database) the server refuses ill-formed
    /// UTF-8 with an untyped error, and inside a transaction aborts it: refuse it before sending, so
    /// that nothing is half-written and the host's own transaction stays usable.
    void check_encoding(const std::string& v, std::size_t n, std::string_view sql) const {
        auto i = std::find_if(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
        if (i == v.end()) return;  // ASCII: valid in every client encoding PostgreSQL has
        const char* enc = PQparameterStatus(conn_.get(), "client_encoding");
        if (!enc || std::string_view(enc) != "UTF8") return;
        for (auto k = static_cast<std::size_t>(i - v.begin()); k < v.size();) {
            if (static_cast<unsigned char>(v[k]) < 0x80) {
                ++k;
                continue;
            }
            std::size_t bad = 0;
            const auto len = detail::utf8_sequence(v, k, bad);
            if (len == 0)
                throw store_error(errc::invalid_argument,
                                  "parameter $" + std::to_string(n) + " of " + head(sql) +
                                      " is not valid UTF-8 (ill-formed at byte " + std::to_string(k) +
                                      "), which PostgreSQL refuses on this UTF8 connection: nothing was sent");
            k += len;
        }
    }
    /// Runs the unlocks a release could not (see reconcile_lock::release) once the connection accepts
    /// statements again; an unlock that fails stays pending. Never while a query of the host's is in
    /// progress (PQTRANS_ACTIVE: PQexecParams would discard the results it has not read yet).
    void flush_unlocks() noexcept {
        if (!connected()) return;
        const auto st = PQtransactionStatus(conn_.get());
        if (st != PQTRANS_IDLE && st != PQTRANS_INTRANS) return;
        std::erase_if(unlocks_pending_, [&](std::int64_t key) {
            const auto text = std::to_string(key);
            const char* values[] = {text.c_str()};
            std::unique_ptr<PGresult, detail::pg_result_free> r(PQexecParams(
                conn_.get(), "SELECT pg_advisory_unlock($1::bigint)", 1, nullptr, values, nullptr, nullptr, 0));
            return r && PQresultStatus(r.get()) == PGRES_TUPLES_OK;
        });
    }
    static std::string head(std::string_view sql) {
        std::string s(sql.substr(0, 60));
        for (auto& c : s)
            if (c == '\n') c = ' ';
        return "'" + s + (sql.size() > 60 ? "...'" : "'");
    }
    store_error lost(const std::string& when, bool committing = false) {
        const auto m = detail::pg_trim(PQerrorMessage(conn_.get()));
        in_tx_ = false;
        return store_error(errc::store_failure,
                           "PostgreSQL connection to database '" + name_ + "' lost " + when +
                               (committing ? " (the commit may or may not have happened" : " (an open transaction was rolled back by the server") +
                               "; call reopen() and reconcile again): " + m);
    }

    std::string conninfo_;
    std::string name_;
    std::unique_ptr<PGconn, detail::pg_conn_free> conn_;
    bool in_tx_ = false;
    std::vector<std::int64_t> locks_held_;  ///< keys of the live reconcile_locks taken on this object
    std::vector<std::int64_t> unlocks_pending_;  ///< released, still held by the server (flush_unlocks)
    std::uint64_t epoch_ = 0;
};

} // namespace concord
