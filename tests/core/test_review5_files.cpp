// Fifth review of the files outside the restore scope: a dangling symbolic link on the way to the
// witness or the decision file is not "no file", parse_witness reads numbers only as format_witness
// writes them, a decision line with an empty id is refused, and a save keeps the permission bits
// of the file it replaces.
#include <catch2/catch.hpp>

#include "../support/error_capture.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "../support/scratch_dir.hpp"

#include <concord/decisions.hpp>
#include <concord/hash.hpp>
#include <concord/witness.hpp>

namespace fs = std::filesystem;

namespace {
using concord::test::scratch;
using concord::test::write_file;
/// `body` followed by its checksum line, as the v2 decision file and the witness end.
std::string with_checksum(const std::string& body) { return body + "checksum " + concord::xxh3_128(body).hex() + "\n"; }

unsigned mode_of(const fs::path& p) {
    struct ::stat st;
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

using concord::test::code_of;
using concord::test::message_of;

const std::string lineage = "0123456789abcdef0123456789abcdef";

concord::witness_record record(std::uint64_t gen, std::uint64_t attempts = 0) {
    concord::witness_record r;
    r.lineage = lineage;
    r.generation = gen;
    r.attempts = attempts;
    return r;
}
} // namespace

TEST_CASE("file_witness and file_decision_book: a dangling symlink on the way to the file is corrupt, never no file",
          "[witness][decisions]") {
    scratch s("review5-files");
    // The state folder is a link to a disk that is not mounted: read as "no file", the witness would
    // be a first run (or a witness_behind that hides a restore) and the book would forget its answers.
    const auto state = s.dir / "state";
    fs::create_symlink(s.dir / "unmounted" / "state", state);
    for (const auto& w : {state / "db.concord-witness", state / "sub" / "db.concord-witness"}) {
        CHECK(code_of([&] { concord::file_witness(w).load(); }) == concord::errc::witness_corrupt);
        CHECK_THAT(message_of([&] { concord::file_witness(w).load(); }), Catch::Contains(state.string()));
    }
    const auto d = state / "db.concord-decisions";
    CHECK(code_of([&] { concord::file_decision_book b(d); }) == concord::errc::witness_corrupt);
    CHECK_THAT(message_of([&] { concord::file_decision_book b(d); }), Catch::Contains("symbolic link"));

    // Unchanged: a link to a directory that exists, and a directory that is simply missing, hold no file.
    fs::create_directories(s.dir / "real");
    fs::create_symlink(s.dir / "real", s.dir / "linked");
    CHECK_FALSE(concord::file_witness(s.dir / "linked" / "w").load().has_value());
    CHECK(concord::file_decision_book(s.dir / "linked" / "d").size() == 0);
    CHECK_FALSE(concord::file_witness(s.dir / "missing" / "w").load().has_value());
    CHECK(concord::file_decision_book(s.dir / "missing" / "d").size() == 0);
}

TEST_CASE("parse_witness: a generation or attempts with leading zeros is not what format_witness writes, refused",
          "[witness]") {
    const std::string head = "concord-witness v1\nlineage " + lineage + "\n";
    CHECK(code_of([&] { concord::parse_witness(with_checksum(head + "generation 05\nin_progress -\nfailure -\n")); }) ==
          concord::errc::witness_corrupt);
    CHECK(code_of([&] {
              concord::parse_witness(
                  with_checksum(head + "generation 000000000000000000000000000000000000007\nin_progress -\nfailure -\n"));
          }) == concord::errc::witness_corrupt);
    CHECK(code_of([&] {
              concord::parse_witness(with_checksum("concord-witness v2\nlineage " + lineage +
                                                   "\ngeneration 5\nin_progress -\nfailure -\nattempts 07\n"));
          }) == concord::errc::witness_corrupt);
    CHECK(code_of([&] { concord::parse_witness(with_checksum(head + "generation 00\nin_progress -\nfailure -\n")); }) ==
          concord::errc::witness_corrupt);
    // What format_witness writes still reads back, generation 0 included.
    for (const auto& r : {record(0), record(10), record(7, 1), record(100, 20)})
        CHECK(concord::parse_witness(concord::format_witness(r)) == r);
}

TEST_CASE("decision books: a line with an empty decision id is malformed, in either version", "[decisions]") {
    scratch s("review5-files");
    const auto v2 = s.dir / "v2";
    write_file(v2, with_checksum("concord-decisions v2\n push\nx pull\n"));
    CHECK(code_of([&] { concord::file_decision_book b(v2); }) == concord::errc::witness_corrupt);
    CHECK_THAT(message_of([&] { concord::file_decision_book b(v2); }), Catch::Contains("line 2 is malformed"));
    const auto v1 = s.dir / "v1";
    write_file(v1, "concord-decisions v1\nx pull\n keep\n");
    CHECK_THAT(message_of([&] { concord::file_decision_book b(v1); }), Catch::Contains("line 3 is malformed"));
    // record() refuses the same id, so no book writes such a line.
    concord::file_decision_book ok(s.dir / "ok");
    CHECK(code_of([&] { ok.record("", concord::resolution::push); }) == concord::errc::invalid_argument);
}

TEST_CASE("file_witness and file_decision_book: a save keeps the permission bits of the file it replaces",
          "[witness][decisions]") {
    scratch s("review5-files");
    const auto w = s.dir / "w";
    concord::file_witness fw(w);
    fw.save(record(1));
    fs::permissions(w, fs::perms::owner_read | fs::perms::owner_write);  // the host keeps it private
    fw.save(record(2));
    CHECK(mode_of(w) == 0600);
    CHECK(fw.load() == record(2));

    const auto d = s.dir / "d";
    concord::file_decision_book(d).record("x", concord::resolution::keep);
    fs::permissions(d, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    concord::file_decision_book book(d);
    book.record("y", concord::resolution::discard);
    CHECK(mode_of(d) == 0640);
    CHECK(concord::file_decision_book(d).size() == 2);

    // A new file is still 0644 less the umask.
    const auto fresh = s.dir / "fresh";
    concord::file_witness(fresh).save(record(1));
    const auto mask = ::umask(0);
    ::umask(mask);
    CHECK(mode_of(fresh) == (0644u & ~static_cast<unsigned>(mask)));
}
