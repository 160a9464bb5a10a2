// The payments gateway with plans and charges in two databases: the session is anchored on the plan
// store, so a restore of the charges' database alone left every action open. A refund then acted on
// the restored row, linked to a charge refunded since, and reported the invoice refunded while the
// charge made after it kept the money. Refused (errc::blocked) until a reconcile, as after a restore
// of one database holding both.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "sqlite_fixture.hpp"

using namespace payments_test;

namespace {

/// Plans and charges in two SQLite files; the witness and the decisions beside the plans' file.
struct split_sqlite_db {
    temp_folder dir;
    concord::sqlite_database plans_conn{dir.path / "plans.db"};
    concord::sqlite_database charges_conn{dir.path / "charges.db"};
    concord::sqlite_store<pay::payment_plan> plans{plans_conn, "payment_plans"};
    concord::sqlite_store<pay::charge> charges{charges_conn, "charges"};

    using witness_type = concord::file_witness;
    using book_type = concord::file_decision_book;
    witness_type make_witness() const { return witness_type(witness_type::beside(plans_conn.path())); }
    book_type make_book() const { return book_type(book_type::beside(plans_conn.path())); }

    using charges_backup = std::filesystem::path;
    charges_backup backup_charges() {
        auto p = dir.path / "charges-backup.db";
        concord::sqlite_backup(charges_conn, p);
        return p;
    }
    void restore_charges(const charges_backup& p) { concord::sqlite_restore(charges_conn, p); }
};

/// memory_db keeps each store apart already: its charges restored alone.
struct split_memory_db : memory_db {
    using charges_backup = concord::memory_store<pay::charge>::snapshot_type;
    charges_backup backup_charges() const { return charges.snapshot(); }
    void restore_charges(const charges_backup& b) { charges.restore(b); }
};

} // namespace

TEMPLATE_TEST_CASE("gateway: a refund after the charges database alone was restored waits for a reconcile",
                   "[payments][restore]", split_memory_db, split_sqlite_db) {
    world<TestType> w;
    w.template reconcile<trust_local>();
    w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));
    const auto backup = w.db.backup_charges();
    w.gw.refund("cus-1", "INV-1");
    const auto again = w.gw.charge_invoice(w.invoice("cus-1", "INV-1", 1500));  // charged anew
    REQUIRE(w.bank.charges_for("cus-1", "INV-1") == 1);
    w.db.restore_charges(backup);  // the row is back, linked to the first charge, refunded since
    try {
        const auto r = w.gw.refund("cus-1", "INV-1");
        FAIL_CHECK("refund reported " << pay::to_string(r.what) << " of " << r.remote_id << " while " << again.remote_id
                                      << " keeps the money");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::blocked);
    }
    try {
        w.gw.charge_invoice(w.invoice("cus-2", "INV-2", 700));
        FAIL_CHECK("a charge on a restored charges database must wait for a reconcile");
    } catch (const concord::error& e) {
        CHECK(e.code() == concord::errc::blocked);
    }
    CHECK(w.bank.charges_for("cus-2", "INV-2") == 0);
    CHECK(has_row(w.db.charges, "INV-1"));  // nothing done
    // The reconcile finds the live charge; the refund then refunds it.
    w.template reconcile<trust_local, trust_local>();
    std::string refunded;
    CHECK_NOTHROW(refunded = w.gw.refund("cus-1", "INV-1").remote_id);
    CHECK(refunded == again.remote_id);
    CHECK(w.bank.charges_for("cus-1", "INV-1") == 0);
    CHECK(w.bank.stats().creates == 2);
}
