// A file_decision_book notes which version of its file it has read (to look again only when the file
// changed). It must not note a version whose answers it does not hold: a file damaged since the book
// read it stays an error at every look-up, and a record() whose write failed still lets the book see
// the answers other books wrote.
#include <catch2/catch.hpp>

#include "../support/error_capture.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "../support/scratch_dir.hpp"

#include <concord/decisions.hpp>

namespace fs = std::filesystem;

namespace {
using concord::test::scratch;
using concord::test::write_file;
using concord::test::code_of;
} // namespace

TEST_CASE("file_decision_book: a file damaged after the book read it is an error at every look-up, not once",
          "[decisions]") {
    scratch s("decision-refresh");
    const auto path = s.dir / "d";
    concord::file_decision_book writer(path);
    writer.record("decision-A", concord::resolution::keep);
    concord::file_decision_book book(path);  // a long-lived sync process
    REQUIRE(book.answer("decision-A") == concord::resolution::keep);

    // Another process answers decision-B, then the file is torn (a disk fault, a bad copy back).
    writer.record("decision-B", concord::resolution::discard);
    write_file(path, "concord-decisions v2\ndecision-A keep\ndecision-B disc");
    CHECK(code_of([&] { (void)book.answer("decision-B"); }) == concord::errc::witness_corrupt);
    // The next plan asks again: the file is as damaged as before, so it is refused again, never
    // taken for a file without an answer to decision-B (which would put the question again).
    CHECK(code_of([&] { (void)book.answer("decision-B"); }) == concord::errc::witness_corrupt);
    CHECK(code_of([&] { (void)book.answer("decision-C"); }) == concord::errc::witness_corrupt);
    // What the book held before stays its answer.
    CHECK(book.answer("decision-A") == concord::resolution::keep);
}

TEST_CASE("file_decision_book: after a failed write the book still answers with what other books wrote",
          "[decisions]") {
    scratch s("decision-refresh");
    const auto path = s.dir / "d";
    concord::file_decision_book book(path);  // reads no file
    concord::file_decision_book other(path);
    other.record("decision-A", concord::resolution::keep);  // the UI answered A

    // book's own write fails (a full disk, here the file size limit) after it read the file again.
    auto* const previous = std::signal(SIGXFSZ, SIG_IGN);
    struct ::rlimit before;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
    struct ::rlimit small = before;
    small.rlim_cur = 16;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    concord::errc code{};
    try {
        book.record("decision-B", concord::resolution::discard);
    } catch (const concord::error& e) {
        code = e.code();
    }
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
    std::signal(SIGXFSZ, previous);
    REQUIRE(code == concord::errc::store_failure);

    // The file still holds A's answer: the book answers with it, it does not ask A again.
    CHECK(book.answer("decision-A") == concord::resolution::keep);
    CHECK_FALSE(book.answer("decision-B"));  // not written, so not an answer
    // And the retry writes both.
    book.record("decision-B", concord::resolution::discard);
    concord::file_decision_book later(path);
    CHECK(later.answer("decision-A") == concord::resolution::keep);
    CHECK(later.answer("decision-B") == concord::resolution::discard);
}
