// A save of a file the host keeps private (the witness, the decision file: failure texts and the
// user's answers) must never exist, not even as its temporary file, with wider permissions than the
// file it replaces: another local user who opens the temporary file while it is readable keeps the
// descriptor, and reads what is written through it after the permissions are narrowed.
//
// The temporary file's mode is observed at the moment the save narrows it: this test defines
// fchmod (the executable's definition takes precedence over the C library's), records the mode the
// file was created with, then does the real call.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../support/scratch_dir.hpp"

#include <concord/decisions.hpp>
#include <concord/witness.hpp>

namespace {
std::vector<unsigned> created_modes;  ///< the mode of each file fchmod was called on, before the call
}

extern "C" int fchmod(int fd, mode_t mode) {
    struct ::stat st {};
    if (::fstat(fd, &st) == 0) created_modes.push_back(static_cast<unsigned>(st.st_mode & 07777));
    return static_cast<int>(::syscall(SYS_fchmod, fd, mode));
}

namespace fs = std::filesystem;

namespace {
unsigned mode_of(const fs::path& p) {
    struct ::stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return static_cast<unsigned>(st.st_mode & 07777);
}

concord::witness_record record(std::uint64_t gen, std::string failure = {}) {
    concord::witness_record r;
    r.lineage = "0123456789abcdef0123456789abcdef";
    r.generation = gen;
    r.failure = std::move(failure);
    return r;
}
} // namespace

TEST_CASE("a save of a private witness or decision file never creates its temporary file readable by others",
          "[witness][decisions]") {
    concord::test::scratch s("private-tmp");

    const auto w = s.dir / "w";
    concord::file_witness fw(w);
    fw.save(record(1));
    fs::permissions(w, fs::perms::owner_read | fs::perms::owner_write);  // the host keeps it private
    created_modes.clear();
    fw.save(record(2, "card declined for customer alice@example.com"));
    REQUIRE(!created_modes.empty());
    for (unsigned m : created_modes) CHECK((m & 077u) == 0u);  // never group- or world-readable
    CHECK(mode_of(w) == 0600);
    CHECK(fw.load() == record(2, "card declined for customer alice@example.com"));

    const auto d = s.dir / "d";
    concord::file_decision_book(d).record("x", concord::resolution::keep);
    fs::permissions(d, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    created_modes.clear();
    concord::file_decision_book(d).record("y", concord::resolution::discard);
    REQUIRE(!created_modes.empty());
    for (unsigned m : created_modes) CHECK((m & 037u) == 0u);  // no more than the 0640 it replaces
    CHECK(mode_of(d) == 0640);
    CHECK(concord::file_decision_book(d).size() == 2);
}
