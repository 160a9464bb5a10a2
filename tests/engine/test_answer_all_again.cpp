// answer_all() asks about the decisions of a plan that are still open. A decision the book answered
// since the plan was made (an earlier answer_all() on the same plan that the end of the input
// stopped, or another process answering in the same file) is not asked again: the user would answer
// a settled question, and a different answer would throw and stop the questions still open.

#include <filesystem>
#include <sstream>
#include <string>

#include <unistd.h>

#include <catch2/catch.hpp>

#include <concord/decisions.hpp>
#include <concord/prompt.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::resolution;
namespace policy = concord::policy;

namespace {
/// Three orphans (A, B, C) made by a restore.
void three_orphans(world& w) {
    auto backup = w.db.snapshot();
    w.db.put(make_item("A"));
    w.db.put(make_item("B"));
    w.db.put(make_item("C"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}
} // namespace

TEST_CASE("answer_all on a plan it answered in part asks only the decisions still open", "[prompt]") {
    world w;
    three_orphans(w);
    auto r = w.reconciler<policy::ask_user>();
    auto session = concord::begin_session(w.witness, w.db);
    const auto p = r.plan(session);
    REQUIRE(p.decisions.size() == 3);

    // The input ends after the first answer: a typed error, the first answer kept.
    std::istringstream short_input("import_local\n");
    std::ostringstream out;
    concord::terminal_prompt first(short_input, out);
    CHECK_THROWS_AS(r.answer_all(p, first), concord::error);

    // The host runs the prompt again on the same plan: only the two open decisions are put.
    std::istringstream rest("cancel_remote\ncancel_remote\n");
    std::ostringstream out2;
    concord::terminal_prompt second(rest, out2);
    std::size_t n = 0;
    CHECK_NOTHROW(n = r.answer_all(p, second));
    CHECK(n == 2);
    CHECK(count_of(out2.str(), "\nDecision ") == 2);
    CHECK(r.plan(session).decisions.empty());
}

TEST_CASE("answer_all does not ask again what another process answered since the plan", "[prompt]") {
    world w;
    three_orphans(w);
    const auto path = std::filesystem::temp_directory_path() /
                      ("concord-answer-all-" + std::to_string(::getpid()) + ".concord-decisions");
    std::filesystem::remove(path);
    concord::file_decision_book sync_book(path), ui_book(path);
    auto sync = w.reconciler<policy::ask_user>();
    sync.use_decision_book(sync_book);
    auto session = concord::begin_session(w.witness, w.db);
    const auto p = sync.plan(session);
    REQUIRE(p.decisions.size() == 3);

    // The user answers the first decision in the UI process, on a plan of its own.
    {
        auto ui = w.reconciler<policy::ask_user>();
        ui.use_decision_book(ui_book);
        auto ui_session = concord::begin_session(w.witness, w.db);
        const auto q = ui.plan(ui_session);
        REQUIRE(q.decisions.size() == 3);
        ui.answer(q, q.decisions[0].id, resolution::import_local);
    }

    // The sync process asks about its plan: the answered decision is not put again.
    std::size_t asked = 0;
    std::size_t n = 0;
    CHECK_NOTHROW(n = sync.answer_all(p, [&](const auto&) {
                      ++asked;
                      return resolution::cancel_remote;
                  }));
    CHECK(asked == 2);
    CHECK(n == 2);
    CHECK(sync_book.answer(p.decisions[0].id) == resolution::import_local);
    std::filesystem::remove(path);
    std::filesystem::remove(std::filesystem::path(path) += ".lock");
}
