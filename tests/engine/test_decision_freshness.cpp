// Durable answers: a local_only decision id names the object that vanished, and a file decision book
// sees answers another process recorded.

#include <filesystem>
#include <string>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <concord/decisions.hpp>
#include <concord/timeline.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::case_kind;
using concord::resolution;
namespace fs = std::filesystem;

namespace {
struct audit_dir {
    fs::path dir;
    audit_dir() {
        static int n = 0;
        dir = fs::temp_directory_path() / ("concord-audit-tl-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~audit_dir() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

/// Plans, answers every open decision with create_remote, plans again and applies: one host round.
template <class R>
void answer_and_apply(world& w, R& r) {
    {
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        for (const auto& d : p.decisions) r.answer(p, d.id, resolution::create_remote);
    }
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    r.apply(p, s);
    s.commit();
}
} // namespace

TEST_CASE("decisions: an answer about one vanished remote object is not applied when a later object vanishes",
          "[decisions]") {
    world w;
    concord::memory_decision_book book;
    auto r = w.reconciler<concord::policy::ask_user>();
    r.use_decision_book(book);
    w.db.put(make_item("X", "monthly plan"));
    answer_and_apply(w, r);  // never pushed: the user says create it
    REQUIRE(w.active("X").size() == 1);
    const auto first = w.active("X").at(0).remote_id;

    w.remote.cancel(first, "cancelled by the customer");
    std::string first_question;
    {
        auto s = concord::begin_session(w.witness, w.db);
        auto p = r.plan(s);
        REQUIRE(p.decisions.size() == 1);
        CHECK(p.decisions[0].kind == case_kind::local_only);
        first_question = p.decisions[0].id;
    }
    answer_and_apply(w, r);  // "create it again", about the first object
    REQUIRE(w.active("X").size() == 1);
    const auto second = w.active("X").at(0).remote_id;
    CHECK(second != first);

    // The second object is cancelled too: that is a new question (the summary names the object the
    // link names), not the one answered about the first object.
    w.remote.cancel(second, "cancelled by the customer again");
    auto s = concord::begin_session(w.witness, w.db);
    auto p = r.plan(s);
    CHECK(p.decisions.size() == 1);
    CHECK(count_actions(r.apply(p, s), "create_remote") == 0);
    s.commit();
    CHECK(w.active("X").empty());  // nothing created without asking
    if (!p.decisions.empty()) CHECK(p.decisions[0].id != first_question);
}

TEST_CASE("decisions: a file decision book sees answers another process recorded since it read the file",
          "[decisions]") {
    audit_dir d;
    const auto path = concord::file_decision_book::beside(d.dir / "app.db");

    SECTION("the book itself") {
        concord::file_decision_book sync_book(path);  // the long-running sync process
        concord::file_decision_book ui_book(path);    // the process the user answers in
        CHECK_FALSE(sync_book.answer("decision-1").has_value());
        ui_book.record("decision-1", resolution::cancel_remote);
        CHECK(sync_book.answer("decision-1") == resolution::cancel_remote);
    }

    SECTION("through the reconciler: the next reconcile applies the answer") {
        world w;
        w.db.put(make_item("X", "plan"));
        concord::file_decision_book sync_book(path);
        auto sync = w.reconciler<concord::policy::ask_user>();
        sync.use_decision_book(sync_book);
        std::string id;
        {
            auto s = concord::begin_session(w.witness, w.db);
            auto p = sync.plan(s);
            REQUIRE(p.decisions.size() == 1);
            id = p.decisions[0].id;
        }
        {  // another process: its own reconciler and book, answers the reported decision
            concord::file_decision_book ui_book(path);
            auto ui = w.reconciler<concord::policy::ask_user>();
            ui.use_decision_book(ui_book);
            auto s = concord::begin_session(w.witness, w.db);
            auto p = ui.plan(s);
            REQUIRE(p.decisions.size() == 1);
            CHECK(p.decisions[0].id == id);
            ui.answer(p, id, resolution::create_remote);
        }
        auto rep = sync.reconcile(w.witness);
        CHECK(rep.decisions.empty());
        CHECK(count_actions(rep, "create_remote") == 1);
        CHECK(w.active("X").size() == 1);
    }
}
