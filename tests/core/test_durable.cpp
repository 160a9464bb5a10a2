// What lives outside the restore scope: the witness (file format, corruption, atomic write), the
// timeline check that compares it with the store's checkpoint, and decision books.
#include <catch2/catch.hpp>

#include "../support/error_capture.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/hana/define_struct.hpp>

#include <concord/decisions.hpp>
#include <concord/memory/store.hpp>
#include <concord/timeline.hpp>
#include <concord/witness.hpp>

namespace fs = std::filesystem;

namespace {
/// A fresh directory per test case, removed afterwards.
struct scratch {
    fs::path dir;
    scratch() {
        dir = fs::temp_directory_path() /
              ("concord-core-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}
/// The names in `dir`, sorted: what a save left behind.
std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

using concord::test::code_of;
using concord::test::message_of;

const std::string lineage_a = "0123456789abcdef0123456789abcdef";
const std::string lineage_b = "fedcba9876543210fedcba9876543210";

concord::witness_record record(std::uint64_t gen, std::string lineage = lineage_a) {
    concord::witness_record r;
    r.lineage = std::move(lineage);
    r.generation = gen;
    return r;
}
concord::checkpoint cp(std::uint64_t gen, std::string lineage = lineage_a) {
    return concord::checkpoint{std::move(lineage), gen, {}};
}
} // namespace

// ------------------------------------------------------------------------------------- witness

TEST_CASE("witness: the v1 text format, byte for byte", "[witness]") {
    concord::witness_record r = record(7);
    r.in_progress = "apply g8\n";
    // The checksum is XXH3-128 of every preceding byte, computed with `xxhsum -H2` over the four
    // lines above it (not with concord).
    const std::string expected = "concord-witness v1\n"
                                 "lineage 0123456789abcdef0123456789abcdef\n"
                                 "generation 7\n"
                                 "in_progress 6170706c792067380a\n"
                                 "failure -\n"
                                 "checksum dfa8334db8c581e23b687963f69e7036\n";
    CHECK(concord::format_witness(r) == expected);
    CHECK(concord::parse_witness(expected) == r);
}

TEST_CASE("witness: the v2 text format adds the session attempts, byte for byte", "[witness]") {
    concord::witness_record r = record(7);
    r.attempts = 12;
    // Checksum computed with `xxhsum -H2` over the six lines above it (not with concord).
    const std::string expected = "concord-witness v2\n"
                                 "lineage 0123456789abcdef0123456789abcdef\n"
                                 "generation 7\n"
                                 "in_progress -\n"
                                 "failure -\n"
                                 "attempts 12\n"
                                 "checksum 3804cef4a714665bc341841fde4ee3ab\n";
    CHECK(concord::format_witness(r) == expected);
    CHECK(concord::parse_witness(expected) == r);
    // A v1 record (no attempts) still reads as attempts 0; v1 with an attempts line, or v2 without
    // one, is refused.
    r.attempts = 0;
    CHECK(concord::parse_witness(concord::format_witness(r)) == r);
    const std::string v1_extra = "concord-witness v1\nlineage 0123456789abcdef0123456789abcdef\ngeneration 7\n"
                                 "in_progress -\nfailure -\nattempts 3\n";
    CHECK_THROWS_AS(concord::parse_witness(v1_extra + "checksum " + concord::xxh3_128(v1_extra).hex() + "\n"),
                    concord::error);
    const std::string v2_short = "concord-witness v2\nlineage 0123456789abcdef0123456789abcdef\ngeneration 7\n"
                                 "in_progress -\nfailure -\n";
    CHECK_THROWS_AS(concord::parse_witness(v2_short + "checksum " + concord::xxh3_128(v2_short).hex() + "\n"),
                    concord::error);
    const std::string v2_zero = v2_short + "attempts 0\n";
    CHECK_THROWS_AS(concord::parse_witness(v2_zero + "checksum " + concord::xxh3_128(v2_zero).hex() + "\n"),
                    concord::error);
}

TEST_CASE("file_witness: round trip through the file, across instances", "[witness]") {
    STATIC_REQUIRE(concord::witness<concord::file_witness>);
    STATIC_REQUIRE(concord::witness<concord::memory_witness>);
    scratch s;
    const auto path = concord::file_witness::beside(s.dir / "app.db");
    CHECK(path.filename() == "app.db.concord-witness");
    concord::file_witness w(path);
    CHECK_FALSE(w.load().has_value());  // never written

    concord::witness_record r = record(42);
    r.in_progress = "reconcile 0.1.0 generation 43";
    r.failure = "remote_timeout: caf\xc3\xa9 \"quoted\"\nsecond line";
    w.save(r);
    CHECK(concord::file_witness(path).load() == r);
    // Renamed into place: only the witness and its lock file are left.
    CHECK(names_in(s.dir) == std::vector<std::string>{"app.db.concord-witness", "app.db.concord-witness.lock"});

    r.generation = 43;
    r.in_progress.clear();
    w.save(r);
    CHECK(concord::file_witness(path).load() == r);
}

TEST_CASE("file_witness: corrupt, truncated, hand-edited or foreign files are witness_corrupt", "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    concord::file_witness w(path);
    w.save(record(5));
    const std::string good = read_file(path);

    auto load_code = [&](const std::string& text) {
        write_file(path, text);
        return code_of([&] { w.load(); });
    };
    SECTION("truncated") {
        CHECK(load_code(good.substr(0, good.size() - 10)) == concord::errc::witness_corrupt);
        CHECK(load_code(good.substr(0, good.find("checksum"))) == concord::errc::witness_corrupt);
        CHECK(load_code("") == concord::errc::witness_corrupt);
    }
    SECTION("hand-edited: a generation changed without fixing the checksum") {
        auto edited = good;
        edited.replace(edited.find("generation 5"), 12, "generation 9");
        write_file(path, edited);
        CHECK_THAT(message_of([&] { w.load(); }), Catch::Contains("checksum mismatch") && Catch::Contains(path.string()));
    }
    SECTION("hand-edited with a recomputed checksum still needs well-formed fields") {
        const std::string body = "concord-witness v1\nlineage not-hex\ngeneration 5\nin_progress -\nfailure -\n";
        CHECK(load_code(body + "checksum " + concord::xxh3_128(body).hex() + "\n") == concord::errc::witness_corrupt);
        const std::string body2 = "concord-witness v1\nlineage " + lineage_a + "\ngeneration -1\nin_progress -\nfailure -\n";
        CHECK(load_code(body2 + "checksum " + concord::xxh3_128(body2).hex() + "\n") == concord::errc::witness_corrupt);
        const std::string body3 = "concord-witness v1\nlineage " + lineage_a + "\ngeneration 5\nin_progress -\n";
        CHECK(load_code(body3 + "checksum " + concord::xxh3_128(body3).hex() + "\n") == concord::errc::witness_corrupt);
    }
    SECTION("wrong header, even with a valid checksum") {
        const std::string body = "concord-witness v3\nlineage " + lineage_a + "\ngeneration 5\nin_progress -\nfailure -\n";
        write_file(path, body + "checksum " + concord::xxh3_128(body).hex() + "\n");
        CHECK_THAT(message_of([&] { w.load(); }), Catch::Contains("unknown header"));
        CHECK(load_code("some other file\n") == concord::errc::witness_corrupt);
    }
    SECTION("binary garbage") {
        CHECK(load_code(std::string("\0\x01\xff checksum zz", 15)) == concord::errc::witness_corrupt);
    }
    SECTION("the good file still loads (the cases above are not failing for another reason)") {
        write_file(path, good);
        CHECK(w.load() == record(5));
    }
}

TEST_CASE("file_witness: written to a temporary file and renamed; a failed write leaves the old record", "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    const auto tmp = s.dir / "w.tmp";
    concord::file_witness w(path);
    w.save(record(1));
    SECTION("a stale temp file from a crash mid-write is ignored") {
        write_file(tmp, "concord-witness v1\nlineage half-writ");
        CHECK(w.load() == record(1));
        w.save(record(2));
        CHECK(w.load() == record(2));
        CHECK(names_in(s.dir) == std::vector<std::string>{"w", "w.lock", "w.tmp"});  // no temp file of its own left
    }
    SECTION("when the temp file cannot be written, the witness is untouched and the error is typed") {
        // A 250-byte name: "<name>.lock" fits the 255-byte limit, "<name>.tmp-<pid>-<n>" does not,
        // so creating the temp file fails, even for root.
        const auto longer = s.dir / std::string(250, 'w');
        write_file(longer, concord::format_witness(record(1)));
        concord::file_witness lw(longer);
        CHECK(code_of([&] { lw.save(record(2)); }) == concord::errc::store_failure);
        CHECK(lw.load() == record(1));
    }
    SECTION("when the lock file cannot be opened, the witness is untouched and the error is typed") {
        fs::remove(s.dir / "w.lock");
        fs::create_directory(s.dir / "w.lock");  // open(<path>.lock) fails, even for root
        CHECK(code_of([&] { w.save(record(2)); }) == concord::errc::store_failure);
        CHECK(w.load() == record(1));
    }
    SECTION("a missing directory is a typed error") {
        concord::file_witness nowhere(s.dir / "missing" / "w");
        CHECK(code_of([&] { nowhere.save(record(1)); }) == concord::errc::store_failure);
    }
}

TEST_CASE("file_witness: a failure text of any length is shortened to fit; load() never refuses what save() wrote",
          "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    concord::file_witness w(path);
    auto r = record(7);
    r.failure = "remote_error: provider said: " + std::string(40000, 'x');  // hex doubles it past 64 KiB
    w.save(r);
    CHECK(fs::file_size(path) <= 64 * 1024);
    auto back = w.load();
    REQUIRE(back.has_value());
    CHECK(back->generation == 7);
    CHECK(back->failure.size() < r.failure.size());
    CHECK(back->failure.size() > 32000);  // shortened only as much as needed
    CHECK(r.failure.compare(0, back->failure.size(), back->failure) == 0);  // its beginning kept

    SECTION("in_progress is shortened when the failure alone is not enough") {
        r.failure = std::string(100000, 'f');
        r.in_progress = "reconcile " + std::string(100000, 'i');
        w.save(r);
        back = w.load();
        REQUIRE(back.has_value());
        CHECK(back->failure.empty());
        CHECK_FALSE(back->in_progress.empty());  // still says a reconcile was under way
        CHECK(r.in_progress.compare(0, back->in_progress.size(), back->in_progress) == 0);
    }
    SECTION("a cut never splits a UTF-8 character") {
        for (const std::string prefix : {"", "a"}) {
            r.failure = prefix;
            for (int i = 0; i < 20000; ++i) r.failure += "\xc3\xa9";  // U+00E9, two bytes
            w.save(r);
            back = w.load();
            REQUIRE(back.has_value());
            CHECK(back->failure.size() % 2 == prefix.size());
            CHECK(r.failure.compare(0, back->failure.size(), back->failure) == 0);
        }
    }
}

TEST_CASE("witness: a generation at or above 2^63 is refused, so the next one cannot wrap to 0", "[witness]") {
    auto with_checksum = [](const std::string& generation) {
        const std::string body = "concord-witness v1\nlineage " + lineage_a + "\ngeneration " + generation +
                                 "\nin_progress -\nfailure -\n";
        return body + "checksum " + concord::xxh3_128(body).hex() + "\n";
    };
    CHECK(concord::parse_witness(with_checksum("9223372036854775807")).generation == 9223372036854775807ULL);
    CHECK(code_of([&] { concord::parse_witness(with_checksum("9223372036854775808")); }) ==
          concord::errc::witness_corrupt);
    CHECK_THAT(message_of([&] { concord::parse_witness(with_checksum("18446744073709551615")); }),
               Catch::Contains("2^63"));
    // Nothing writes what would be refused.
    CHECK(code_of([&] { concord::format_witness(record(std::uint64_t{1} << 63)); }) == concord::errc::invalid_argument);
}

TEST_CASE("file_witness: every save has a temporary file of its own; a leftover <path>.tmp never blocks it",
          "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    concord::file_witness w(path);
    w.save(record(1));
    fs::create_directory(s.dir / "w.tmp");  // a fixed temporary name could not be opened now
    w.save(record(2));
    CHECK(w.load() == record(2));
}

TEST_CASE("file_witness: a writer waits while another holds <path>.lock", "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    concord::file_witness w(path);
    w.save(record(1));
    // Another writer (as another process would): an exclusive flock on the lock file.
    const int fd = ::open((path.string() + ".lock").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX) == 0);
    std::atomic<bool> done{false};
    std::string failed;
    std::thread writer([&] {
        try {
            concord::file_witness(path).save(record(2));
        } catch (const std::exception& e) {
            failed = e.what();
        }
        done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK_FALSE(done.load());
    CHECK(w.load() == record(1));  // nothing written while the lock is held
    ::close(fd);                   // releases it
    writer.join();
    CHECK(failed.empty());
    CHECK(w.load() == record(2));
}

TEST_CASE("file_witness: concurrent writers never tear the file or fail; readers see whole records", "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    std::atomic<int> save_errors{0}, corrupt{0}, loads{0};
    std::atomic<bool> stop{false};
    auto writer = [&](int id) {
        concord::file_witness w(path);  // one object per writer, as two processes would have
        for (int i = 0; i < 60; ++i) {
            auto r = record(static_cast<std::uint64_t>(id * 1000 + i));
            r.failure = std::string(id == 1 ? 3000 : 10, 'f');  // records of different lengths
            try {
                w.save(r);
            } catch (const concord::error&) {
                ++save_errors;
            }
        }
    };
    std::thread reader([&] {
        concord::file_witness w(path);
        while (!stop) {
            try {
                w.load();
                ++loads;
            } catch (const concord::error&) {
                ++corrupt;
            }
        }
    });
    std::thread a(writer, 1), b(writer, 2);
    a.join();
    b.join();
    stop = true;
    reader.join();
    CHECK(save_errors == 0);
    CHECK(corrupt == 0);
    CHECK(loads > 0);
    const auto last = concord::file_witness(path).load();
    REQUIRE(last.has_value());
    CHECK((last->generation == 1059 || last->generation == 2059));  // one writer's last record, whole
}

TEST_CASE("file_witness and file_decision_book: a file that cannot be read is an error, never 'no file'",
          "[witness][decisions]") {
    scratch s;
    // A symlink to itself: stat and open fail with ELOOP, even for root. Taken for "no witness", it
    // would read as a first run.
    const auto w = s.dir / "w";
    const auto d = s.dir / "d";
    fs::create_symlink(w, w);
    fs::create_symlink(d, d);
    CHECK_THAT(message_of([&] { concord::file_witness(w).load(); }), Catch::Contains(w.string()));
    CHECK(code_of([&] { concord::file_witness(w).load(); }) == concord::errc::witness_corrupt);
    CHECK(code_of([&] { concord::file_decision_book b(d); }) == concord::errc::witness_corrupt);
    // A path under a missing directory is simply no file.
    CHECK_FALSE(concord::file_witness(s.dir / "missing" / "w").load().has_value());
    CHECK(concord::file_decision_book(s.dir / "missing" / "d").size() == 0);
}

// ------------------------------------------------------------------------------------- timeline

TEST_CASE("check_timeline: the five verdicts", "[timeline]") {
    SECTION("first run") {
        const auto t = concord::check_timeline(std::nullopt, std::nullopt);
        CHECK(t.kind == concord::verdict::first_run);
        CHECK(t.generation == 1);
        concord::key128 k;
        CHECK(k.parse_hex(t.lineage));
        CHECK(t.lineage != concord::check_timeline(std::nullopt, std::nullopt).lineage);  // random per database
    }
    SECTION("same timeline") {
        const auto t = concord::check_timeline(cp(4), record(4));
        CHECK(t.kind == concord::verdict::same_timeline);
        CHECK(t.lineage == lineage_a);
        CHECK(t.generation == 5);
        CHECK_FALSE(t.lost(4));
    }
    SECTION("restored: generations (store, witness] are lost and never reused") {
        const auto t = concord::check_timeline(cp(3), record(7));
        CHECK(t.kind == concord::verdict::restored);
        CHECK(t.lost_from == 4);
        CHECK(t.lost_to == 7);
        CHECK_FALSE(t.lost(3));
        CHECK(t.lost(4));
        CHECK(t.lost(7));
        CHECK_FALSE(t.lost(8));
        CHECK(t.generation == 8);
        CHECK_THAT(t.detail, Catch::Contains("generations 4..7 are lost"));
        const auto one = concord::check_timeline(cp(3), record(4));  // one generation lost: said so
        CHECK(one.detail == "database restored to generation 3; generation 4 is lost");
    }
    SECTION("restored to before the first reconcile: the store has no checkpoint") {
        const auto t = concord::check_timeline(std::nullopt, record(7));
        CHECK(t.kind == concord::verdict::different_database);
        CHECK(t.generation == 8);
        CHECK(t.lineage != lineage_a);
    }
    SECTION("different database: lineages differ") {
        const auto t = concord::check_timeline(cp(9, lineage_b), record(4));
        CHECK(t.kind == concord::verdict::different_database);
        CHECK(t.lineage == lineage_b);
        CHECK(t.generation == 10);
        CHECK_FALSE(t.lost(5));
    }
    SECTION("witness behind: store ahead, or the witness is missing") {
        const auto t = concord::check_timeline(cp(6), record(5));
        CHECK(t.kind == concord::verdict::witness_behind);
        CHECK(t.generation == 7);
        const auto gone = concord::check_timeline(cp(6), std::nullopt);
        CHECK(gone.kind == concord::verdict::witness_behind);
        CHECK(gone.generation == 7);
        CHECK(gone.lineage == lineage_a);
    }
    SECTION("an interrupted reconcile is noticed") {
        auto w = record(4);
        w.in_progress = "0.1.0 g5";
        CHECK(concord::check_timeline(cp(4), w).interrupted);
        CHECK_FALSE(concord::check_timeline(cp(4), record(4)).interrupted);
    }
    for (auto v : {concord::verdict::first_run, concord::verdict::same_timeline, concord::verdict::restored,
                   concord::verdict::different_database, concord::verdict::witness_behind})
        CHECK(concord::to_string(v) != "unknown");
}

namespace {
struct row {
    BOOST_HANA_DEFINE_STRUCT(row, (std::int64_t, id), (std::string, name));
};
/// One committing reconcile: store first (with the checkpoint), then the witness.
template <class W>
concord::timeline_status commit_generation(concord::memory_store<row>& store, W& witness) {
    auto session = concord::begin_session(witness, store);
    concord::change_batch<row> b;
    b.new_checkpoint = session.next_checkpoint(store.load_checkpoint());
    store.commit(b);
    session.note_store_committed();
    session.commit();
    return session.status();
}
} // namespace

TEST_CASE("timeline sessions over a store and a file witness: a restore is detected once, generations never reused",
          "[timeline]") {
    scratch s;
    concord::memory_store<row> store;
    concord::file_witness witness(s.dir / "w");

    CHECK(commit_generation(store, witness).kind == concord::verdict::first_run);
    const auto backup = store.snapshot();  // taken at generation 1
    CHECK(commit_generation(store, witness).kind == concord::verdict::same_timeline);
    CHECK(commit_generation(store, witness).kind == concord::verdict::same_timeline);
    CHECK(witness.load()->generation == 3);

    store.restore(backup);
    const auto after = commit_generation(store, witness);
    CHECK(after.kind == concord::verdict::restored);
    CHECK(after.lost_from == 2);
    CHECK(after.lost_to == 3);
    CHECK(after.generation == 4);  // 2 and 3 are never handed out again
    CHECK(store.load_checkpoint()->generation == 4);
    CHECK(witness.load()->generation == 4);

    const auto next = commit_generation(store, witness);
    CHECK(next.kind == concord::verdict::same_timeline);
    CHECK(next.generation == 5);

    SECTION("a session that committed nothing to the store leaves the witness alone") {
        auto session = concord::begin_session(witness, store);
        session.commit();
        CHECK(witness.load()->generation == 5);
    }
    SECTION("a different database is not adopted without consent") {
        concord::memory_store<row> other;
        concord::change_batch<row> b;
        b.new_checkpoint = cp(2, lineage_b);
        other.commit(b);
        auto session = concord::begin_session(witness, other);
        CHECK(session.kind() == concord::verdict::different_database);
        CHECK_FALSE(session.database_adopted());
        session.note_store_committed();
        session.commit();
        CHECK(witness.load()->lineage == store.load_checkpoint()->lineage);  // unchanged
        session.adopt_database();
        session.commit();
        CHECK(witness.load()->lineage == lineage_b);
    }
}

// ------------------------------------------------------------------------------------- decisions

TEST_CASE("decision books: answers persist across instances; answering twice writes nothing", "[decisions]") {
    STATIC_REQUIRE(concord::decision_book<concord::file_decision_book>);
    STATIC_REQUIRE(concord::decision_book<concord::memory_decision_book>);
    scratch s;
    const auto path = concord::file_decision_book::beside(s.dir / "app.db");
    CHECK(path.filename() == "app.db.concord-decisions");
    {
        concord::file_decision_book book(path);
        CHECK(book.size() == 0);
        CHECK_FALSE(book.answer("orphan:abc").has_value());
        book.record("orphan:abc", concord::resolution::cancel_remote);
        book.record("dup:def", concord::resolution::keep_all);
    }
    // The checksum is XXH3-128 of the three lines above it, computed with `xxhsum -H2` (not concord).
    CHECK(read_file(path) == "concord-decisions v2\ndup:def keep_all\norphan:abc cancel_remote\n"
                             "checksum d079cb8c7ac3f2e811f7ff5b97821c60\n");
    concord::file_decision_book again(path);
    CHECK(again.size() == 2);
    CHECK(again.answer("orphan:abc") == concord::resolution::cancel_remote);

    // With <path>.lock blocked, any write would throw: the same answer again must not write at all.
    fs::remove(path.string() + ".lock");
    fs::create_directory(path.string() + ".lock");
    CHECK_NOTHROW(again.record("orphan:abc", concord::resolution::cancel_remote));
    CHECK(code_of([&] { again.record("orphan:abc", concord::resolution::import_local); }) ==
          concord::errc::store_failure);
    CHECK(again.answer("orphan:abc") == concord::resolution::cancel_remote);  // the failed write did not count
    fs::remove(path.string() + ".lock");

    again.record("orphan:abc", concord::resolution::import_local);  // a changed answer is written
    CHECK(concord::file_decision_book(path).answer("orphan:abc") == concord::resolution::import_local);
    CHECK(names_in(s.dir) == std::vector<std::string>{"app.db.concord-decisions", "app.db.concord-decisions.lock"});
}

TEST_CASE("decision books: a corrupt file is a typed error", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    SECTION("no header") {
        write_file(path, "orphan:abc cancel_remote\n");
        CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
    }
    SECTION("an unknown resolution names the line") {
        write_file(path, "concord-decisions v1\na nothing\nb explode\n");
        CHECK_THAT(message_of([&] { concord::file_decision_book b(path); }), Catch::Contains("line 3"));
    }
    SECTION("a line without an answer") {
        write_file(path, "concord-decisions v1\njust-an-id\n");
        CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
    }
    SECTION("empty lines are tolerated") {
        write_file(path, "concord-decisions v1\n\na keep\n");
        CHECK(concord::file_decision_book(path).answer("a") == concord::resolution::keep);
    }
}

TEST_CASE("decision books: two books on one file keep each other's answers", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    concord::file_decision_book a(path), b(path);  // a UI process and a sync process
    a.record("decision-A", concord::resolution::discard);
    b.record("decision-B", concord::resolution::keep);
    concord::file_decision_book c(path);
    CHECK(c.answer("decision-A") == concord::resolution::discard);
    CHECK(c.answer("decision-B") == concord::resolution::keep);
    CHECK(b.answer("decision-A") == concord::resolution::discard);  // b read the file again when it wrote

    SECTION("answers are final: another book's answer to the same decision stands") {
        a.record("x", concord::resolution::keep);
        const auto e = concord::test::caught([&] { b.record("x", concord::resolution::discard); });
        CHECK(e.code() == concord::errc::invalid_argument);
        CHECK_THAT(e.what(), Catch::Contains("answers are final") && Catch::Contains("'keep'"));
        CHECK(b.answer("x") == concord::resolution::keep);  // b now answers with the file's answer
        CHECK(concord::file_decision_book(path).answer("x") == concord::resolution::keep);
        CHECK_NOTHROW(b.record("x", concord::resolution::keep));
    }
    SECTION("the same answer from both writes nothing new") {
        a.record("y", concord::resolution::keep_all);
        const auto written = read_file(path);
        b.record("y", concord::resolution::keep_all);
        CHECK(read_file(path) == written);
        CHECK(b.answer("y") == concord::resolution::keep_all);
    }
    SECTION("books answering at the same time lose nothing") {
        std::atomic<int> errors{0};
        auto answer_many = [&](const std::string& prefix) {
            concord::file_decision_book book(path);
            for (int i = 0; i < 40; ++i) {
                try {
                    book.record(prefix + std::to_string(i), concord::resolution::keep);
                } catch (const concord::error&) {
                    ++errors;
                }
            }
        };
        std::thread t1(answer_many, "one-"), t2(answer_many, "two-");
        t1.join();
        t2.join();
        CHECK(errors == 0);
        CHECK(concord::file_decision_book(path).size() == 2 + 40 + 40);
    }
}

TEST_CASE("decision books: the v2 checksum refuses a truncated or edited file; v1 files still load", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    {
        concord::file_decision_book a(path);
        a.record("d1", concord::resolution::keep_all);
        a.record("d2", concord::resolution::discard);
    }
    const std::string good = read_file(path);
    SECTION("truncated anywhere before the final line break") {
        for (std::size_t n = 0; n + 1 < good.size(); ++n) {
            write_file(path, good.substr(0, n));
            INFO("truncated to " << n << " bytes");
            CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
        }
    }
    SECTION("an answer edited without fixing the checksum") {
        auto edited = good;
        edited.replace(edited.find("keep_all"), 8, "keep");
        write_file(path, edited);
        CHECK_THAT(message_of([&] { concord::file_decision_book b(path); }),
                   Catch::Contains("checksum") && Catch::Contains(path.string()));
    }
    SECTION("v2 without a checksum line") {
        write_file(path, "concord-decisions v2\nd1 keep_all\n");
        CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
    }
    SECTION("a v1 file (no checksum) still loads, and the next change rewrites it as v2") {
        write_file(path, "concord-decisions v1\nd1 keep_all\nd2 discard\n");
        concord::file_decision_book b(path);
        CHECK(b.answer("d1") == concord::resolution::keep_all);
        CHECK(b.answer("d2") == concord::resolution::discard);
        b.record("d3", concord::resolution::keep);
        CHECK(read_file(path).rfind("concord-decisions v2\n", 0) == 0);
        concord::file_decision_book c(path);
        CHECK(c.size() == 3);
        CHECK(c.answer("d1") == concord::resolution::keep_all);
    }
    SECTION("the good file still loads (the cases above are not failing for another reason)") {
        write_file(path, good);
        CHECK(concord::file_decision_book(path).answer("d1") == concord::resolution::keep_all);
    }
}

TEST_CASE("decision books: an id the line format cannot hold is refused before anything is written", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    concord::file_decision_book book(path);
    book.record("ok", concord::resolution::keep);
    for (const std::string id : {"", "has space", "line\nbreak", "carriage\rreturn"})
        CHECK(code_of([&] { book.record(id, concord::resolution::keep); }) == concord::errc::invalid_argument);
    CHECK(concord::file_decision_book(path).size() == 1);  // the file still loads
}

TEST_CASE("resolution names round-trip", "[decisions]") {
    for (int i = 0; i <= static_cast<int>(concord::resolution::report); ++i) {
        const auto r = static_cast<concord::resolution>(i);
        CHECK(concord::parse_resolution(concord::to_string(r)) == r);
    }
    CHECK_FALSE(concord::parse_resolution("explode").has_value());
    CHECK_FALSE(concord::parse_resolution("unknown").has_value());  // to_string's name for a non-resolution
    CHECK_FALSE(concord::parse_resolution("").has_value());
    CHECK_FALSE(concord::parse_resolution("Push").has_value());
    concord::memory_decision_book m;
    m.record("x", concord::resolution::ask);
    m.record("x", concord::resolution::ask);
    CHECK(m.size() == 1);
    CHECK(m.answer("x") == concord::resolution::ask);
}

TEST_CASE("a long failure recorded twice is a repeated failure, though the witness keeps it shortened", "[witness]") {
    scratch s;
    concord::memory_store<row> store;
    concord::file_witness witness(s.dir / "w");
    const std::string what = "store_failure: " + std::string(50000, 'x');  // past what the file keeps
    {
        auto session = concord::begin_session(witness, store);
        CHECK_FALSE(session.record_failure(what));
    }
    REQUIRE(witness.load()->failure.size() < what.size());
    auto session = concord::begin_session(witness, store);
    CHECK(session.record_failure(what));
    auto other = concord::begin_session(witness, store);
    CHECK_FALSE(other.record_failure("store_failure: " + std::string(50000, 'y')));
}
