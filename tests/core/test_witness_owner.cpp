// A witness or decision file is saved by writing a temporary file and renaming it over the old one,
// so the saved file belonged to whoever saved it: root running a one-off reconcile for a service
// left the service's witness owned by root, and with mode 0640 the service could no longer read it
// (witness_corrupt at its next session). The save now gives the new file the owner and group of the
// file it replaces when the process may (root may).

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "../support/scratch_dir.hpp"

#include <concord/decisions.hpp>
#include <concord/witness.hpp>

namespace {
struct ::stat stat_of(const std::filesystem::path& p) {
    struct ::stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st;
}

concord::witness_record record(std::uint64_t gen) {
    concord::witness_record r;
    r.lineage = "0123456789abcdef0123456789abcdef";
    r.generation = gen;
    return r;
}
} // namespace

TEST_CASE("a witness or decision file saved by root keeps the owner and group of the file it replaces",
          "[witness][decisions]") {
    if (::geteuid() != 0) {
        WARN("not root: a process may not give a file to another user, nothing to check");
        return;
    }
    concord::test::scratch s("witness-owner");
    const auto w = s.dir / "w";
    concord::file_witness fw(w);
    fw.save(record(1));
    REQUIRE(::chown(w.c_str(), 65534, 65534) == 0);  // the service's ("nobody" here)
    REQUIRE(::chmod(w.c_str(), 0640) == 0);
    const auto before = stat_of(w);
    fw.save(record(2));
    const auto after = stat_of(w);
    CHECK(after.st_ino != before.st_ino);  // replaced, not written in place
    CHECK(after.st_uid == 65534u);
    CHECK(after.st_gid == 65534u);
    CHECK((after.st_mode & 07777) == 0640);
    CHECK(fw.load() == record(2));

    const auto d = s.dir / "d";
    concord::file_decision_book(d).record("x", concord::resolution::keep);
    REQUIRE(::chown(d.c_str(), 65534, 65534) == 0);
    concord::file_decision_book(d).record("y", concord::resolution::discard);
    CHECK(stat_of(d).st_uid == 65534u);
    CHECK(stat_of(d).st_gid == 65534u);
    CHECK(concord::file_decision_book(d).size() == 2);
}
