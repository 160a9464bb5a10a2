// Fifth review: a host's own decision book holding something that does not settle a decision (an
// answer its case does not offer, or a non-answer) names the decision and lets the user answer anew.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace engine_test;
using concord::resolution;
namespace policy = concord::policy;

namespace {
/// A host's own book: answers in a map it fills from its own storage.
struct host_book {
    std::map<std::string, resolution, std::less<>> answers;
    std::optional<resolution> answer(std::string_view id) const {
        auto it = answers.find(id);
        if (it == answers.end()) return std::nullopt;
        return it->second;
    }
    void record(std::string_view id, resolution r) { answers[std::string(id)] = r; }
};
} // namespace

TEST_CASE("a custom book's answer that does not fit its case is reported by decision id and can be answered anew",
          "[review5][decisions]") {
    world w;
    w.db.put(make_item("x"));
    w.sync<policy::trust_local>();
    auto backup = w.db.snapshot();
    w.db.put(make_item("A"));
    w.sync<policy::trust_local>();
    w.db.restore(backup);  // A is an orphan: cancel_remote or import_local

    const resolution held = GENERATE(resolution::create_remote, resolution::remove_local, resolution::ask,
                                     resolution::report, resolution::nothing);
    CAPTURE(to_string(held));
    host_book book;
    auto r = w.reconciler<policy::ask_user>();
    r.use_decision_book(book);
    auto s = concord::begin_session(w.witness, w.db);
    const auto id = r.plan(s).decisions.at(0).id;
    book.answers[id] = held;

    const auto p = r.plan(s);
    REQUIRE(p.decisions.size() == 1);
    CHECK(p.decisions[0].id == id);
    CHECK(p.actions.empty());
    if (concord::is_answer(held)) {  // an answer of another case: reported, naming the decision
        REQUIRE(p.problems.size() == 1);
        CHECK(p.problems[0].code == concord::errc::decision_unknown);
        CHECK_THAT(p.problems[0].message, Catch::Contains(id) && Catch::Contains(std::string(to_string(held))));
    } else {
        CHECK(p.problems.empty());  // no answer at all: simply open
    }

    CHECK_NOTHROW(r.answer(p, id, resolution::import_local));
    CHECK(book.answers.at(id) == resolution::import_local);
    CHECK_NOTHROW(r.answer(p, id, resolution::import_local));  // twice: nothing changes
    CHECK_THROWS_AS(r.answer(p, id, resolution::cancel_remote), concord::error);  // a real answer is final
    const auto next = r.plan(s);
    CHECK(next.decisions.empty());
    CHECK(next.problems.empty());
    r.apply(next, s);
    s.commit();
    CHECK(w.local("A"));
    CHECK(w.remote.stats().cancels == 0);
}
