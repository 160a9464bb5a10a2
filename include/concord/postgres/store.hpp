#pragma once
// PostgreSQL Store adapter: entities of a Hana-described type in one table, with concord's links and
// the sync checkpoint in tables of the same database, so a restore (pg_restore, a template copy)
// rewinds them together with the data and the timeline check sees it.
//
// Tables (created in the connection's current schema when missing):
//   <table>             one column per member: the local id member is `BIGINT PRIMARY KEY`
//                       (new ids are max + 1, like SQLite rowids and memory_store, so a restore
//                       makes ids reusable in both adapters alike), the others by type
//                       (bool BOOLEAN; integers and enums BIGINT, 64-bit unsigned NUMERIC(20,0);
//                       floating point DOUBLE PRECISION; std::string TEXT; std::optional nullable)
//   concord_links       (scope TEXT, identity TEXT, remote_id TEXT, generation BIGINT), one row per
//                       linked identity, keyed by (scope, identity); scope is the table name
//   concord_checkpoint  one row: lineage, generation and an XXH3-128 checksum of the checkpoint
//                       (lineage, generation, cursors; see detail::pg_checkpoint_checksum), one per
//                       database, shared by every store. A row edited by hand fails the checksum and
//                       load_checkpoint() throws errc::checkpoint_corrupt; so does a lineage that is not
//                       32 lowercase hex digits (is_lineage_id), which an older database may hold.
//   concord_cursors     (name, position): the checkpoint's cursors
// A host with existing tables maps the entity onto them instead (postgres_mapping with
// create_table = false): nothing is created for the entity, the mapped columns are checked, and new
// ids come from the id column's own sequence (serial or identity column) when it has one, else
// max + 1; a write at an explicit id into a GENERATED ALWAYS identity column says OVERRIDING SYSTEM
// VALUE. Columns the entity does not know are left alone (they need a default or must be nullable).
// Floating point travels as text: postgres_database sets extra_float_digits = 3 on every connection,
// so values read back exactly whatever the server's default.

#include <bit>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <concord/concepts/store.hpp>
#include <concord/detail/lineage.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/postgres/database.hpp>
#include <concord/records.hpp>

namespace concord {

/// Where an entity's rows live (the same shape as sqlite_mapping). With create_table = false the
/// table is the host's own: concord reads and writes the mapped columns and never creates, alters or
/// drops it. Members missing from `columns` use their own name.
struct postgres_mapping {
    std::string table{};                         ///< table name, optionally "schema.table"
    std::map<std::string, std::string> columns{}; ///< member name -> column name, where they differ
    bool create_table = true;                    ///< false: the table must already exist (host's own table)
    std::string links_scope{};                   ///< key of this store's links (default: the table name)
};

namespace detail {

template <class T>
constexpr std::string_view pg_column_type() {
    if constexpr (is_optional<T>::value) return pg_column_type<typename T::value_type>();
    else if constexpr (std::is_same_v<T, bool>) return "BOOLEAN";
    else if constexpr (std::is_enum_v<T>) return pg_column_type<std::underlying_type_t<T>>();
    else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) == 8) return "NUMERIC(20,0)";
    else if constexpr (std::is_integral_v<T>) return "BIGINT";
    else if constexpr (std::is_floating_point_v<T>) return "DOUBLE PRECISION";
    else return "TEXT";
}

template <class T>
std::optional<std::string> pg_encode(const T& v) {
    if constexpr (is_optional<T>::value) {
        if (!v) return std::nullopt;
        return pg_encode(*v);
    } else if constexpr (std::is_same_v<T, bool>) {
        return std::string(v ? "t" : "f");
    } else if constexpr (std::is_enum_v<T>) {
        return pg_encode(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_integral_v<T>) {
        return std::to_string(v);
    } else if constexpr (std::is_floating_point_v<T>) {
        const double d = static_cast<double>(v);
        // On the bits, as the canonical encoding does: a host built with -ffast-math folds isnan/isinf.
        const auto bits = std::bit_cast<std::uint64_t>(d);
        if (concord::detail::nan_bits(bits)) return std::string("NaN");
        if (concord::detail::infinity_bits(bits)) return std::string((bits >> 63) ? "-Infinity" : "Infinity");
        char buf[64];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest text that reads back exactly
        (void)ec;
        return std::string(buf, p);
    } else {
        if (v.find('\0') != std::string::npos)
            throw store_error(errc::invalid_argument, "PostgreSQL TEXT cannot hold a NUL byte");
        return v;
    }
}

/// Reads one column's text into a member; false when the text does not fit the member's type.
template <class T>
bool pg_decode(std::optional<std::string_view> text, T& out) {
    if constexpr (is_optional<T>::value) {
        if (!text) {
            out.reset();
            return true;
        }
        typename T::value_type v{};
        if (!pg_decode(text, v)) return false;
        out = std::move(v);
        return true;
    } else {
        if (!text) return false;
        const auto s = *text;
        if constexpr (std::is_same_v<T, bool>) {
            if (s == "t" || s == "true") out = true;
            else if (s == "f" || s == "false") out = false;
            else return false;
            return true;
        } else if constexpr (std::is_enum_v<T>) {
            std::underlying_type_t<T> u{};
            if (!pg_decode(text, u)) return false;
            out = static_cast<T>(u);
            return true;
        } else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, wchar_t>) {
            // Signed on some platforms, unsigned on others: -1 written on x86 and 255 written on ARM are
            // one byte, and a database outlives the machine that wrote it.
            std::int64_t w{};
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), w);
            if (ec != std::errc{} || p != s.data() + s.size()) return false;
            if (w < static_cast<std::int64_t>(std::numeric_limits<std::make_signed_t<T>>::min()) ||
                w > static_cast<std::int64_t>(std::numeric_limits<std::make_unsigned_t<T>>::max()))
                return false;
            out = static_cast<T>(static_cast<std::make_unsigned_t<T>>(w));
            return true;
        } else if constexpr (std::is_integral_v<T>) {
            using W = std::conditional_t<std::is_signed_v<T>, std::int64_t, std::uint64_t>;
            W w{};
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), w);
            if (ec != std::errc{} || p != s.data() + s.size()) return false;
            if (w < static_cast<W>(std::numeric_limits<T>::min()) || w > static_cast<W>(std::numeric_limits<T>::max()))
                return false;
            out = static_cast<T>(w);
            return true;
        } else if constexpr (std::is_floating_point_v<T>) {
            double d{};
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
            if (ec != std::errc{} || p != s.data() + s.size()) return false;
            out = static_cast<T>(d);
            return true;
        } else {
            out.assign(s.data(), s.size());
            return true;
        }
    }
}

/// Runs `f` in a transaction of its own, or in the host's when one is open on the connection (a
/// host-side call such as put() inside it, after a reopen): the host's commit or rollback decides.
template <class F>
void pg_in_transaction(postgres_database& db, F&& f) {
    if (db.in_transaction()) {
        f();
        return;
    }
    postgres_database::transaction tx(db);
    f();
    tx.commit();
}

/// Creates concord's own tables once per connection; a transaction-level advisory lock keeps two
/// connections creating them at once from colliding.
inline void pg_ensure_concord_tables(postgres_database& db) {
    pg_in_transaction(db, [&] {
        db.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(detail::pg_internal_lock_key("schema"))});
        db.exec("CREATE TABLE IF NOT EXISTS concord_links (scope TEXT NOT NULL, identity TEXT NOT NULL, "
                "remote_id TEXT NOT NULL, generation BIGINT NOT NULL CHECK (generation >= 0), PRIMARY KEY (scope, identity))");
        db.exec("CREATE TABLE IF NOT EXISTS concord_checkpoint (singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton), "
                "lineage TEXT NOT NULL, generation BIGINT NOT NULL CHECK (generation >= 0), checksum TEXT NOT NULL)");
        db.exec("CREATE TABLE IF NOT EXISTS concord_cursors (name TEXT PRIMARY KEY, position NUMERIC(20,0) NOT NULL "
                "CHECK (position >= 0))");
    });
}

/// XXH3-128 of the checkpoint in a fixed text form: "concord-pg-checkpoint v1\nlineage <lineage>\n
/// generation <decimal>\ncursors\n" then "<hex of the name> <decimal position>\n" per cursor in name
/// order (the map's order). Detects a checkpoint edited by hand or half-written by a foreign tool.
inline key128 pg_checkpoint_checksum(const checkpoint& cp) {
    static constexpr char hexd[] = "0123456789abcdef";
    std::string body = "concord-pg-checkpoint v1\nlineage " + cp.lineage + "\ngeneration " + std::to_string(cp.generation) +
                       "\ncursors\n";
    for (const auto& [name, pos] : cp.cursors) {
        for (unsigned char c : name) {
            body += hexd[c >> 4];
            body += hexd[c & 0xF];
        }
        body += ' ' + std::to_string(pos) + '\n';
    }
    return xxh3_128(body);
}

} // namespace detail

/// A concord Store over one PostgreSQL table (see the file comment for the layout). The checkpoint
/// is one per database and shared by every postgres_store on it; links are kept per (table, identity).
template <entity E>
class postgres_store {
    using info = entity_info<E>;
    static_assert(info::has_local_id,
                  "concord postgres_store: the entity needs a local id member (named `id`, or named by "
                  "concord::entity_traits<E>::local_id) to key its rows");

public:
    using entity_type = E;

    /// Stores entities in `table`, created from the entity's description when missing.
    postgres_store(postgres_database& db, std::string table)
        : postgres_store(db, postgres_mapping{std::move(table), {}, true, {}}) {}

    /// Stores entities where `m` says: a table created when missing (create_table), or the host's own
    /// table. Throws errc::invalid_argument naming a member the entity lacks or the columns the table
    /// lacks.
    postgres_store(postgres_database& db, postgres_mapping m) : db_(&db), table_(std::move(m.table)) {
        scope_ = m.links_scope.empty() ? table_ : m.links_scope;
        for (const auto& kv : m.columns) {
            const std::string& member = kv.first;  // not a structured binding: clang 14 cannot capture those
            bool known = false;
            info::for_each_member(proto_, [&](std::string_view n, const auto&) { known = known || n == member; });
            if (!known) throw error(errc::invalid_argument, "mapping names member '" + member + "', which the entity does not have");
        }
        create_table_ = m.create_table;
        init_columns(m.columns);
        setup();
    }

private:
    /// Creates what is missing and checks the columns, once per connection: after a reopen (a
    /// restore that replaced the database, a lost connection) the tables may be older than the store.
    void setup() {
        // Inside the host's own transaction the tables are made in it, and its rollback may undo
        // them: then the next call outside it sets up again.
        const bool host_transaction = db_->in_transaction();
        detail::pg_ensure_concord_tables(*db_);
        if (create_table_) create_table();
        check_columns();
        if (!host_transaction) epoch_ = db_->epoch();
    }
    void ensure() {
        if (db_->epoch() != epoch_) setup();
    }

    void create_table() {
        auto& db = *db_;
        std::string ddl = "CREATE TABLE IF NOT EXISTS " + qtable_ + " (";
        info::for_each_member(proto_, [&, i = std::size_t{0}](std::string_view, const auto& v) mutable {
            using T = std::decay_t<decltype(v)>;
            if (i) ddl += ", ";
            ddl += pg_quote_name(cols_[i]);
            if (i == info::local_id_index) ddl += " BIGINT PRIMARY KEY";
            else {
                ddl += ' ';
                ddl += detail::pg_column_type<T>();
                if constexpr (!detail::is_optional<T>::value) ddl += " NOT NULL";
            }
            ++i;
        });
        ddl += ")";
        detail::pg_in_transaction(db, [&] {
            db.exec("SELECT pg_advisory_xact_lock($1::bigint)",
                    {std::to_string(detail::pg_internal_lock_key("schema"))});
            db.exec(ddl);
        });
    }

public:
    postgres_database& database() noexcept { return *db_; }
    /// The database's reconcile lock (see postgres_database::lock_reconcile): held around a whole
    /// reconcile so that a second reconciler on the same database reports errc::concurrent_reconcile.
    postgres_database::reconcile_lock lock_reconcile(std::string_view scope = "concord") { return db_->lock_reconcile(scope); }
    const std::string& table() const noexcept { return table_; }

    // ------------------------------------------------------------------ store concept

    /// Every entity, in local id order.
    std::vector<E> scan() {
        ensure();
        auto rows = db_->exec(select_ + " ORDER BY " + pg_quote_name(cols_[info::local_id_index]));
        std::vector<E> out;
        out.reserve(static_cast<std::size_t>(rows.size()));
        for (int r = 0; r < rows.size(); ++r) out.push_back(decode_row(rows, r));
        return out;
    }

    /// Every link of this store's scope.
    std::vector<link> links() {
        ensure();
        auto rows = db_->exec("SELECT identity, remote_id, generation FROM concord_links WHERE scope = $1 ORDER BY identity",
                              {scope_});
        std::vector<link> out;
        out.reserve(static_cast<std::size_t>(rows.size()));
        for (int r = 0; r < rows.size(); ++r) {
            link l;
            if (!rows.get(r, 0) || !rows.get(r, 1) || !rows.get(r, 2))  // a table of another shape (see load_checkpoint)
                throw store_error(errc::checkpoint_corrupt, "concord_links of scope '" + scope_ +
                                                                "' holds NULL in a row: not what concord wrote");
            if (!l.identity.parse_hex(*rows.get(r, 0)) || !detail::parse_u64(*rows.get(r, 2), l.generation))
                throw store_error(errc::checkpoint_corrupt, "concord_links row " + detail::quoted_excerpt(*rows.get(r, 0)) +
                                                                " of scope '" + scope_ + "' is not what concord wrote");
            l.remote_id = std::string(*rows.get(r, 1));
            out.push_back(std::move(l));
        }
        return out;
    }

    /// The database's checkpoint, read in one snapshot; nullopt before the first commit.
    std::optional<checkpoint> load_checkpoint() {
        ensure();
        postgres_database::transaction tx(*db_);
        db_->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        auto head = db_->exec("SELECT lineage, generation, checksum FROM concord_checkpoint");
        if (head.size() == 0) {
            tx.commit();
            return std::nullopt;
        }
        // A NULL or a second row only in a table of another shape made before concord ran (concord's
        // own has NOT NULL columns and one row): corrupt, as in the SQLite store, never dereferenced.
        if (head.size() > 1)
            throw store_error(errc::checkpoint_corrupt, "concord_checkpoint holds " + std::to_string(head.size()) +
                                                            " rows, not one: not what concord wrote");
        for (int c = 0; c < 3; ++c)
            if (!head.get(0, c))
                throw store_error(errc::checkpoint_corrupt, std::string("concord_checkpoint holds NULL in ") +
                                                                (c == 0 ? "lineage" : c == 1 ? "generation" : "checksum") +
                                                                ": not what concord wrote");
        checkpoint cp;
        cp.lineage = std::string(*head.get(0, 0));
        if (cp.lineage.empty() || !detail::parse_u64(*head.get(0, 1), cp.generation))
            throw store_error(errc::checkpoint_corrupt, "concord_checkpoint holds lineage " + detail::quoted_excerpt(cp.lineage) +
                                                            ", generation " + detail::quoted_excerpt(*head.get(0, 1)) +
                                                            ": not what concord wrote");
        auto cur = db_->exec("SELECT name, position FROM concord_cursors ORDER BY name");
        for (int r = 0; r < cur.size(); ++r) {
            std::uint64_t v = 0;
            if (!cur.get(r, 0) || !cur.get(r, 1))
                throw store_error(errc::checkpoint_corrupt, "concord_cursors holds a NULL name or position: not what concord wrote");
            if (!detail::parse_u64(*cur.get(r, 1), v))
                throw store_error(errc::checkpoint_corrupt, "cursor " + detail::quoted_excerpt(*cur.get(r, 0)) + " holds " +
                                                                detail::quoted_excerpt(*cur.get(r, 1)));
            cp.cursors[std::string(*cur.get(r, 0))] = v;
        }
        key128 sum;
        if (!sum.parse_hex(*head.get(0, 2)) || sum != detail::pg_checkpoint_checksum(cp))
            throw store_error(errc::checkpoint_corrupt, "concord_checkpoint fails its checksum (edited by hand or damaged): "
                                                        "lineage " + detail::quoted_excerpt(cp.lineage) + ", generation " +
                                                        std::to_string(cp.generation));
        if (!is_lineage_id(cp.lineage))
            throw store_error(errc::checkpoint_corrupt,
                              "concord_checkpoint is not what concord writes: lineage " + detail::stored_lineage_problem(cp.lineage));
        tx.commit();
        return cp;
    }

    /// Applies the batch in one transaction: all of it or, on any failure, nothing (store_error with
    /// PostgreSQL's message; a lost connection says so). A checkpoint whose lineage is not
    /// is_lineage_id is refused with errc::invalid_argument before the transaction begins.
    void commit(const change_batch<E>& b) {
        // Before anything (the schema, the transaction): a refused checkpoint writes nothing.
        if (b.new_checkpoint) detail::check_checkpoint_lineage(b.new_checkpoint->lineage, "postgres_store of table '" + table_ + "'");
        ensure();
        postgres_database::transaction tx(*db_);
        for (auto id : b.removals)
            if (db_->exec(delete_, {std::to_string(id)}).affected() == 0)
                throw store_error(errc::store_failure, "remove of unknown local id " + std::to_string(id) + " in " + table_);
        for (const auto& e : b.upserts) write(e);
        for (const auto& k : b.link_removals)
            db_->exec("DELETE FROM concord_links WHERE scope = $1 AND identity = $2", {scope_, k.hex()});
        for (const auto& l : b.link_upserts)
            db_->exec("INSERT INTO concord_links (scope, identity, remote_id, generation) VALUES ($1, $2, $3, $4) "
                      "ON CONFLICT (scope, identity) DO UPDATE SET remote_id = EXCLUDED.remote_id, "
                      "generation = EXCLUDED.generation",
                      {scope_, l.identity.hex(), l.remote_id, std::to_string(checked_i64(l.generation, "link generation"))});
        if (b.new_checkpoint) {
            const auto& cp = *b.new_checkpoint;
            db_->exec("DELETE FROM concord_checkpoint");
            db_->exec("INSERT INTO concord_checkpoint (lineage, generation, checksum) VALUES ($1, $2, $3)",
                      {cp.lineage, std::to_string(checked_i64(cp.generation, "checkpoint generation")),
                       detail::pg_checkpoint_checksum(cp).hex()});
            db_->exec("DELETE FROM concord_cursors");
            for (const auto& [name, pos] : cp.cursors)
                db_->exec("INSERT INTO concord_cursors (name, position) VALUES ($1, $2)", {name, std::to_string(pos)});
        }
        tx.commit();
    }

    // ------------------------------------------------------------------ host helpers

    /// Host-side write outside concord (a user creating or editing an entity). Returns the local id.
    /// Inside the host's own transaction it writes in that transaction, which decides its fate.
    std::int64_t put(E e) {
        ensure();
        if (db_->in_transaction()) return write(e);
        postgres_database::transaction tx(*db_);
        auto id = write(e);
        tx.commit();
        return id;
    }
    /// Host-side delete outside concord.
    bool erase(std::int64_t id) {
        ensure();
        return db_->exec(delete_, {std::to_string(id)}).affected() > 0;
    }
    std::optional<E> get(std::int64_t id) {
        ensure();
        auto rows = db_->exec(select_ + " WHERE " + pg_quote_name(cols_[info::local_id_index]) + " = $1",
                              {std::to_string(id)});
        if (rows.size() == 0) return std::nullopt;
        return decode_row(rows, 0);
    }
    std::size_t size() {
        ensure();
        auto rows = db_->exec("SELECT count(*) FROM " + qtable_);
        return static_cast<std::size_t>(std::stoull(std::string(*rows.get(0, 0))));
    }

private:
    static std::int64_t checked_i64(std::uint64_t v, std::string_view what) {
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw store_error(errc::invalid_argument, std::string(what) + " " + std::to_string(v) + " exceeds BIGINT");
        return static_cast<std::int64_t>(v);
    }

    void init_columns(const std::map<std::string, std::string>& names) {
        qtable_ = pg_quote_identifier(table_);
        info::for_each_member(proto_, [&](std::string_view n, const auto&) {
            auto it = names.find(std::string(n));
            cols_.push_back(it == names.end() ? std::string(n) : it->second);
        });
        std::string list, content, params, sets;
        int p = 0;
        for (std::size_t i = 0; i < cols_.size(); ++i) {
            const auto q = pg_quote_name(cols_[i]);
            list += (i ? ", " : "") + q;
            if (i == info::local_id_index) continue;
            ++p;
            content += (content.empty() ? "" : ", ") + q;
            params += (params.empty() ? "$" : ", $") + std::to_string(p);
            sets += (sets.empty() ? "" : ", ") + q + " = $" + std::to_string(p);
        }
        const auto qid = pg_quote_name(cols_[info::local_id_index]);
        const auto idp = "$" + std::to_string(p + 1);
        select_ = "SELECT " + list + " FROM " + qtable_;
        delete_ = "DELETE FROM " + qtable_ + " WHERE " + qid + " = $1";
        insert_new_ = "INSERT INTO " + qtable_ + " (" + content + ") VALUES (" + params + ") RETURNING " + qid;
        if (content.empty()) insert_new_ = "INSERT INTO " + qtable_ + " DEFAULT VALUES RETURNING " + qid;
        insert_max_ = "INSERT INTO " + qtable_ + " (" + content + (content.empty() ? "" : ", ") + qid + ") VALUES (" + params +
                      (params.empty() ? "" : ", ") + "(SELECT COALESCE(max(" + qid + "), 0) + 1 FROM " + qtable_ +
                      ")) RETURNING " + qid;
        insert_at_head_ = "INSERT INTO " + qtable_ + " (" + content + (content.empty() ? "" : ", ") + qid + ")";
        insert_at_values_ = " VALUES (" + params + (params.empty() ? "" : ", ") + idp + ")";
        update_ = sets.empty() ? "SELECT 1 FROM " + qtable_ + " WHERE " + qid + " = " + idp
                               : "UPDATE " + qtable_ + " SET " + sets + " WHERE " + qid + " = " + idp;
    }

    /// Checks that every mapped column exists and finds the id column's sequence, if any, and whether
    /// it is an identity column GENERATED ALWAYS, which refuses explicit ids unless told otherwise.
    void check_columns() {
        try {
            db_->exec(select_ + " LIMIT 0");
        } catch (const store_error& e) {
            std::string list;
            for (const auto& c : cols_) list += (list.empty() ? "" : ", ") + c;
            std::throw_with_nested(error(errc::invalid_argument, "table " + table_ + " does not have the columns concord maps the entity onto (" +
                                                                     list + "): " + e.what()));
        }
        auto r = db_->exec("SELECT pg_get_serial_sequence($1, $2), (SELECT attidentity = 'a' FROM pg_attribute WHERE "
                           "attrelid = $1::regclass AND attname = $2 AND NOT attisdropped)",
                           {qtable_, cols_[info::local_id_index]});
        sequence_ = r.get(0, 0) ? std::string(*r.get(0, 0)) : std::string();
        insert_at_ = insert_at_head_ + (r.get(0, 1) == std::optional<std::string_view>("t") ? " OVERRIDING SYSTEM VALUE" : "") +
                     insert_at_values_;
    }

    pg_params content_params(const E& e) const {
        pg_params ps;
        info::for_each_content(e, [&](std::string_view, const auto& v) { ps.push_back(detail::pg_encode(v)); });
        return ps;
    }

    /// Insert (id 0: a new id, see the file comment) or write at the entity's id. Returns the id.
    std::int64_t write(const E& e) {
        auto ps = content_params(e);
        const auto id = local_id_of(e);
        if (id == 0) {
            if (sequence_.empty())  // max + 1: serialise concord's inserts into this table until commit
                db_->exec("SELECT pg_advisory_xact_lock($1::bigint)",
                          {std::to_string(detail::pg_internal_lock_key("table/" + qtable_))});
            auto rows = db_->exec(sequence_.empty() ? insert_max_ : insert_new_, ps);
            return std::stoll(std::string(*rows.get(0, 0)));
        }
        ps.push_back(std::to_string(id));
        auto up = db_->exec(update_, ps);
        if ((update_.rfind("SELECT", 0) == 0 ? up.size() : up.affected()) == 0) {
            db_->exec(insert_at_, ps);
            if (!sequence_.empty())  // ids written explicitly: keep the table's own ids ahead of them
                db_->exec("SELECT setval($1::regclass, GREATEST($2::bigint, (SELECT last_value FROM " + sequence_ + ")))",
                          {sequence_, std::to_string(id)});
        }
        return id;
    }

    E decode_row(const pg_rows& rows, int r) const {
        E e{};
        std::size_t i = 0;
        info::for_each_member(e, [&](std::string_view name, auto& v) {
            const auto text = rows.get(r, static_cast<int>(i));
            // The value quoted, escaped and cut: it is the host's data, any length, any bytes.
            if (!detail::pg_decode(text, v))
                throw store_error(errc::store_failure,
                                  "column " + cols_[i] + " of " + table_ + " holds " +
                                      (text ? detail::quoted_excerpt(*text) : std::string("NULL")) + ", which member '" +
                                      std::string(name) + "' cannot hold");
            ++i;
        });
        return e;
    }

    postgres_database* db_;
    std::string table_;
    std::string scope_;
    std::string qtable_;
    std::vector<std::string> cols_;
    std::string select_, delete_, insert_new_, insert_max_, insert_at_, insert_at_head_, insert_at_values_, update_, sequence_;
    bool create_table_ = true;
    std::uint64_t epoch_ = 0;
    E proto_{};
};

} // namespace concord
