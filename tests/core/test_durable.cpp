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

#include <concord/clock.hpp>
#include <concord/decisions.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/remote_witness.hpp>
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

TEST_CASE("file_witness: written to a temporary file and renamed, a failed write leaves the old record", "[witness]") {
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

TEST_CASE("file_witness: a failure text of any length is shortened to fit, load() never refuses what save() wrote",
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

TEST_CASE("file_witness: every save has a temporary file of its own, a leftover <path>.tmp never blocks it",
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

TEST_CASE("file_witness: concurrent writers never tear the file or fail, readers see whole records", "[witness]") {
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

TEST_CASE("decision books: answers persist across instances, answering twice writes nothing", "[decisions]") {
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
        write_file(path, "concord-decisions v1\na keep\nb explode\n");
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

TEST_CASE("decision books: the v2 checksum refuses a truncated or edited file, v1 files still load", "[decisions]") {
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
    m.record("x", concord::resolution::keep);
    m.record("x", concord::resolution::keep);
    CHECK(m.size() == 1);
    CHECK(m.answer("x") == concord::resolution::keep);
}

TEST_CASE("a long failure recorded twice is a repeated failure, though the witness keeps it shortened", "[witness]") {
    scratch s;
    concord::memory_store<row> store;
    concord::file_witness witness(s.dir / "w");
    const std::string what = "store_failure: " + std::string(50000, 'x');  // past what the file keeps
    {
        auto session = concord::begin_session(witness, store);
        session.commit_checkpoint(store);  // the store holds the lineage the witness will name
        CHECK_FALSE(session.record_failure(what));
    }
    REQUIRE(witness.load());
    REQUIRE(witness.load()->failure.size() < what.size());
    auto session = concord::begin_session(witness, store);
    CHECK(session.record_failure(what));
    auto other = concord::begin_session(witness, store);
    CHECK_FALSE(other.record_failure("store_failure: " + std::string(50000, 'y')));
}

// ------------------------------------------------------------------------- third audit (witness)

TEST_CASE("a first session whose first store commit fails writes no witness naming a lineage the store never received",
          "[timeline]") {
    scratch s;
    concord::memory_store<row> store;
    concord::file_witness witness(s.dir / "w");
    {
        auto session = concord::begin_session(witness, store);
        REQUIRE(session.kind() == concord::verdict::first_run);
        store.fail_next_commits(1);  // SQLITE_BUSY, a full disk: the very first commit fails
        CHECK(code_of([&] { session.commit_checkpoint(store); }) == concord::errc::store_failure);
        CHECK_FALSE(session.record_failure("store_failure: injected commit failure"));
        CHECK_FALSE(witness.load().has_value());  // nothing names the session's lineage
        // A mark before the store holds the lineage is refused the same way, before any remote effect.
        CHECK(code_of([&] { session.mark_in_progress("x"); }) == concord::errc::invalid_argument);
        CHECK_FALSE(witness.load().has_value());
        CHECK_FALSE(store.load_checkpoint().has_value());
    }
    // The next session is a first run again, not a different database.
    auto session = concord::begin_session(witness, store);
    CHECK(session.kind() == concord::verdict::first_run);
    session.commit_checkpoint(store);
    session.mark_in_progress("reconcile");  // the store holds the lineage now: the mark may name it
    REQUIRE(witness.load());
    CHECK(witness.load()->lineage == store.load_checkpoint()->lineage);
    CHECK_FALSE(session.record_failure("remote_permanent: refused"));
    // A crash here (after the checkpoint and the mark, before the witness commit): the store is ahead.
    const auto next = concord::begin_session(witness, store);
    CHECK(next.kind() == concord::verdict::witness_behind);
    CHECK(next.status().interrupted);

    SECTION("a failure with a store checkpoint and no witness is still recorded under the store's lineage") {
        fs::remove(s.dir / "w");
        auto again = concord::begin_session(witness, store);
        REQUIRE(again.kind() == concord::verdict::witness_behind);
        CHECK_FALSE(again.record_failure("store_failure: disk full"));
        REQUIRE(witness.load());
        CHECK(witness.load()->lineage == store.load_checkpoint()->lineage);
        CHECK(concord::begin_session(witness, store).record_failure("store_failure: disk full"));
    }
}

TEST_CASE("decision books: ask, report and nothing are not answers, neither recorded nor read", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    for (auto r : {concord::resolution::ask, concord::resolution::report, concord::resolution::nothing}) {
        INFO(concord::to_string(r));
        concord::memory_decision_book m;
        CHECK(code_of([&] { m.record("x", r); }) == concord::errc::invalid_argument);
        CHECK(m.size() == 0);
        concord::file_decision_book book(path);
        CHECK(code_of([&] { book.record("x", r); }) == concord::errc::invalid_argument);
        CHECK_FALSE(book.answer("x").has_value());
        CHECK_FALSE(fs::exists(path));  // nothing written
    }
    const std::string id = "0b72b8fa475eb2458da8cde090ef41f2";
    for (const char* name : {"ask", "report", "nothing"}) {
        INFO(name);
        // v2, with a valid checksum: the checksum proves who wrote it, not that it is an answer.
        std::string text = "concord-decisions v2\nother keep\n" + id + " " + name + "\n";
        text += "checksum " + concord::xxh3_128(text).hex() + "\n";
        write_file(path, text);
        CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
        const auto msg = message_of([&] { concord::file_decision_book b(path); });
        CHECK_THAT(msg, Catch::Contains(path.string()));
        CHECK_THAT(msg, Catch::Contains("line 3"));
        CHECK_THAT(msg, Catch::Contains(name));
        write_file(path, "concord-decisions v1\n" + id + " " + name + "\n");
        CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
        CHECK_THAT(message_of([&] { concord::file_decision_book b(path); }), Catch::Contains("line 2"));
    }
}

TEST_CASE("decision books: a file that answers one id twice differently is refused", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    const std::string id = "0b72b8fa475eb2458da8cde090ef41f2";
    SECTION("v2") {
        std::string text = "concord-decisions v2\n" + id + " cancel_remote\n" + id + " import_local\n";
        text += "checksum " + concord::xxh3_128(text).hex() + "\n";
        write_file(path, text);
    }
    SECTION("v1 (no checksum): the downgrade an editor would use") {
        write_file(path, "concord-decisions v1\n" + id + " cancel_remote\n" + id + " import_local\n");
    }
    CHECK(code_of([&] { concord::file_decision_book b(path); }) == concord::errc::witness_corrupt);
    const auto msg = message_of([&] { concord::file_decision_book b(path); });
    CHECK_THAT(msg, Catch::Contains(path.string()));
    CHECK_THAT(msg, Catch::Contains("line 3"));
    CHECK_THAT(msg, Catch::Contains(id));
}

TEST_CASE("decision books: the same answer twice in a v1 file still loads", "[decisions]") {
    scratch s;
    const auto path = s.dir / "d";
    write_file(path, "concord-decisions v1\nx keep\nx keep\n");
    concord::file_decision_book b(path);
    CHECK(b.size() == 1);
    CHECK(b.answer("x") == concord::resolution::keep);
}

TEST_CASE("witness: attempts at or above 2^63 are refused, an attempt number never wraps to 0", "[witness]") {
    auto with_checksum = [](const std::string& attempts) {
        const std::string body = "concord-witness v2\nlineage " + lineage_a +
                                 "\ngeneration 7\nin_progress -\nfailure -\nattempts " + attempts + "\n";
        return body + "checksum " + concord::xxh3_128(body).hex() + "\n";
    };
    CHECK(concord::parse_witness(with_checksum("9223372036854775807")).attempts == 9223372036854775807ULL);
    CHECK(code_of([&] { concord::parse_witness(with_checksum("9223372036854775808")); }) ==
          concord::errc::witness_corrupt);
    CHECK_THAT(message_of([&] { concord::parse_witness(with_checksum("18446744073709551615")); }),
               Catch::Contains("2^63"));
    auto r = record(7);
    r.attempts = std::uint64_t{1} << 63;
    CHECK(code_of([&] { concord::format_witness(r); }) == concord::errc::invalid_argument);
    r.attempts = ~std::uint64_t{0};
    CHECK(code_of([&] { concord::format_witness(r); }) == concord::errc::invalid_argument);

    // A witness of any kind (a custom one need not parse text) with attempts whose successor would
    // reach 2^63 is refused before a session starts.
    for (std::uint64_t a : {~std::uint64_t{0}, std::uint64_t{1} << 63, (std::uint64_t{1} << 63) - 1}) {
        r.attempts = a;
        CHECK(code_of([&] { concord::check_timeline(cp(7), r); }) == concord::errc::witness_corrupt);
        concord::memory_witness mw;
        mw.save(r);
        concord::memory_store<row> store;
        concord::change_batch<row> b;
        b.new_checkpoint = cp(7);
        store.commit(b);
        CHECK(code_of([&] { concord::begin_session(mw, store); }) == concord::errc::witness_corrupt);
        CHECK(mw.load()->attempts == a);  // nothing written
    }
    // The largest accepted: the session's attempt is 2^63 - 1, saved and read back as v2.
    scratch s;
    concord::file_witness fw(s.dir / "w");
    r.attempts = (std::uint64_t{1} << 63) - 2;
    fw.save(r);
    auto session = concord::timeline_session<concord::file_witness>(fw, concord::check_timeline(cp(7), fw.load()));
    CHECK(session.status().attempt == (std::uint64_t{1} << 63) - 1);
    session.mark_in_progress("x");
    session.note_store_committed();
    session.commit();
    CHECK(fw.load()->attempts == (std::uint64_t{1} << 63) - 1);
}

TEST_CASE("timeline: a session whose generation would reach 2^63 is refused before anything is written", "[timeline]") {
    constexpr std::uint64_t limit = std::uint64_t{1} << 63;
    scratch s;
    SECTION("the witness at 2^63 - 1") {
        concord::file_witness fw(s.dir / "w");
        fw.save(record(limit - 1));  // a valid file: the counter is exhausted, not corrupt text
        const auto before = read_file(s.dir / "w");
        concord::memory_store<row> store;
        concord::change_batch<row> b;
        b.new_checkpoint = cp(5);
        store.commit(b);
        CHECK(code_of([&] { concord::begin_session(fw, store); }) == concord::errc::witness_corrupt);
        CHECK_THAT(message_of([&] { concord::begin_session(fw, store); }), Catch::Contains("2^63"));
        CHECK(read_file(s.dir / "w") == before);
        CHECK(store.load_checkpoint()->generation == 5);
        CHECK(code_of([&] { concord::check_timeline(std::nullopt, record(limit - 1)); }) ==
              concord::errc::witness_corrupt);
        CHECK(code_of([&] { concord::check_timeline(cp(3, lineage_b), record(limit - 1)); }) ==
              concord::errc::witness_corrupt);
    }
    SECTION("the store's checkpoint at 2^63 - 1 or past it (a custom store could hold anything)") {
        for (std::uint64_t g : {limit - 1, limit, ~std::uint64_t{0}}) {
            INFO(g);
            concord::memory_store<row> store;
            concord::change_batch<row> b;
            b.new_checkpoint = cp(g);
            store.commit(b);
            concord::memory_witness mw;
            CHECK(code_of([&] { concord::begin_session(mw, store); }) == concord::errc::checkpoint_corrupt);
            CHECK_FALSE(mw.load().has_value());
            mw.save(record(3));
            CHECK(code_of([&] { concord::begin_session(mw, store); }) == concord::errc::checkpoint_corrupt);
            CHECK(mw.load() == record(3));
            CHECK(code_of([&] { concord::check_timeline(cp(g, lineage_b), record(3)); }) ==
                  concord::errc::checkpoint_corrupt);
        }
    }
    SECTION("the last generation that fits is still handed out, and its witness saved") {
        concord::memory_store<row> store;
        concord::file_witness fw(s.dir / "w");
        fw.save(record(limit - 2));
        concord::change_batch<row> b;
        b.new_checkpoint = cp(limit - 2);
        store.commit(b);
        const auto st = commit_generation(store, fw);
        CHECK(st.generation == limit - 1);
        CHECK(fw.load()->generation == limit - 1);
        CHECK(code_of([&] { concord::begin_session(fw, store); }) == concord::errc::checkpoint_corrupt);
    }
}

TEST_CASE("format_witness refuses a lineage that is not 32 lowercase hex digits, load refuses it too", "[witness]") {
    scratch s;
    const auto path = s.dir / "w";
    concord::file_witness fw(path);
    for (const std::string& lin : {std::string("db-1"), std::string("ABCDEF0123456789ABCDEF0123456789"),
                                  std::string(31, 'a'), std::string(33, 'a'), std::string(32, 'a') + "\nx",
                                  std::string()}) {
        INFO(lin);
        CHECK(code_of([&] { concord::format_witness(record(3, lin)); }) == concord::errc::invalid_argument);
        CHECK(code_of([&] { fw.save(record(3, lin)); }) == concord::errc::invalid_argument);
        CHECK_FALSE(fs::exists(path));  // nothing written that the next load would refuse
    }
    // An upper-case lineage in a checksummed file: refused, so nothing loads that cannot be saved again.
    const std::string body = "concord-witness v1\nlineage ABCDEF0123456789ABCDEF0123456789\ngeneration 3\n"
                             "in_progress -\nfailure -\n";
    CHECK(code_of([&] { concord::parse_witness(body + "checksum " + concord::xxh3_128(body).hex() + "\n"); }) ==
          concord::errc::witness_corrupt);
    // The refusal names the value escaped and cut short: a lineage comes from a store, so it may be anything.
    try {
        concord::format_witness(record(3, "\x1b]0;pwned\x07" + std::string(100, 'z')));
        FAIL("format_witness accepted a lineage with control characters");
    } catch (const concord::error& e) {
        const std::string what = e.what();
        CHECK(what.find('\x1b') == std::string::npos);
        CHECK(what.find("\\u001b") != std::string::npos);
        CHECK(what.find("(110 bytes)") != std::string::npos);
    }
    fw.save(record(3, concord::new_lineage_id()));
    CHECK(fw.load().has_value());
}

TEST_CASE("file_witness and file_decision_book: a dangling symlink is corrupt, a save writes through a symlink",
          "[witness][decisions]") {
    scratch s;
    fs::create_directories(s.dir / "real");
    const auto w = s.dir / "w";
    const auto d = s.dir / "d";
    SECTION("a symlink whose target is missing is witness_corrupt, never 'no file'") {
        fs::create_symlink(s.dir / "elsewhere" / "missing", w);
        fs::create_symlink(s.dir / "real" / "missing", d);
        CHECK(code_of([&] { concord::file_witness(w).load(); }) == concord::errc::witness_corrupt);
        CHECK_THAT(message_of([&] { concord::file_witness(w).load(); }), Catch::Contains(w.string()));
        CHECK(code_of([&] { concord::file_decision_book b(d); }) == concord::errc::witness_corrupt);
        CHECK_THAT(message_of([&] { concord::file_decision_book b(d); }), Catch::Contains(d.string()));
        CHECK(fs::is_symlink(w));
        CHECK(fs::is_symlink(d));
    }
    SECTION("a save replaces the file a symlink points to (absolute, relative, a link to a link), keeping the link") {
        concord::file_witness(s.dir / "real" / "w").save(record(4));
        fs::create_symlink("real/w", s.dir / "w-link");  // relative to the link's directory
        fs::create_symlink(s.dir / "w-link", w);         // a link to a link
        concord::file_witness fw(w);
        CHECK(fw.load() == record(4));
        fw.save(record(5));
        CHECK(fs::is_symlink(w));
        CHECK(fs::is_symlink(s.dir / "w-link"));
        CHECK(concord::file_witness(s.dir / "real" / "w").load() == record(5));
        CHECK(fw.load() == record(5));
        CHECK(fs::exists(s.dir / "real" / "w.lock"));  // writers through the link and the target take turns

        concord::file_decision_book(s.dir / "real" / "d").record("x", concord::resolution::keep);
        fs::create_symlink(s.dir / "real" / "d", d);
        concord::file_decision_book book(d);
        CHECK(book.answer("x") == concord::resolution::keep);
        book.record("y", concord::resolution::discard);
        CHECK(fs::is_symlink(d));
        concord::file_decision_book target(s.dir / "real" / "d");
        CHECK(target.answer("y") == concord::resolution::discard);
        CHECK(target.size() == 2);
    }
}

TEST_CASE("remote_witness: a marker create whose outcome stayed unknown is replayed and cancelled by the next save",
          "[witness][remote_witness]") {
    using remote_t = concord::memory_remote<row>;
    remote_t remote;
    concord::remote_witness<remote_t> w(remote, {"host-1", "shop"});
    concord::manual_clock clock;
    w.use_clock(clock);
    auto markers = [&](concord::remote_state st) {
        std::size_t n = 0;
        for (const auto& r : remote.all()) n += w.is_marker(r) && r.state == st;
        return n;
    };
    SECTION("applied, its answer lost, then every retry refused") {
        remote.inject(concord::fault::timeout_after);  // the create went through, the answer was lost
        remote.inject(concord::fault::rate_limit, 4);  // every retry is refused before the replay
        CHECK(code_of([&] { w.save(record(2)); }) == concord::errc::retries_exhausted);
        CHECK(markers(concord::remote_state::active) == 1);
        w.save(record(3));
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(markers(concord::remote_state::cancelled) == 2);  // the replay made no second marker
        CHECK(w.load() == record(3));
    }
    SECTION("never applied: the replay makes the one marker, cancelled at once; the new record is the newest") {
        remote.inject(concord::fault::timeout_before);
        remote.inject(concord::fault::rate_limit, 4);
        CHECK(code_of([&] { w.save(record(2)); }) == concord::errc::retries_exhausted);
        CHECK(markers(concord::remote_state::active) == 0);
        w.save(record(3));
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(markers(concord::remote_state::cancelled) == 2);
        CHECK(w.load() == record(3));
    }
    SECTION("the replay fails again: nothing new is written, and the save after it settles both") {
        remote.inject(concord::fault::timeout_after);
        remote.inject(concord::fault::rate_limit, 4);
        CHECK_THROWS(w.save(record(2)));
        remote.inject(concord::fault::rate_limit, 5);  // the replay is refused every attempt
        CHECK(code_of([&] { w.save(record(3)); }) == concord::errc::retries_exhausted);
        CHECK(markers(concord::remote_state::active) == 1);
        w.save(record(4));
        CHECK(markers(concord::remote_state::active) == 0);
        CHECK(markers(concord::remote_state::cancelled) == 2);
        CHECK(w.load() == record(4));
    }
}
