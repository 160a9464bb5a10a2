// Fifth review: check_timeline (and so begin_session) refuses a lineage that is not a lineage id
// itself, as the provided stores and witnesses do, for stores and witnesses a host writes.

#include <cctype>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <boost/hana/define_struct.hpp>

#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/timeline.hpp>

#include "../support/error_capture.hpp"
#include "../support/lineages.hpp"

namespace {
struct row {
    BOOST_HANA_DEFINE_STRUCT(row, (std::int64_t, id), (std::string, name));
};

/// A host's own store: memory_store, but its checkpoint comes back with the lineage upper-cased (say
/// a column that folds case).
struct folding_store : concord::memory_store<row> {
    std::optional<concord::checkpoint> load_checkpoint() const {
        auto c = concord::memory_store<row>::load_checkpoint();
        if (c)
            for (auto& ch : c->lineage) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return c;
    }
};

/// A host's own witness that hands back whatever lineage it was given to hold.
struct raw_witness {
    std::optional<concord::witness_record> held;
    std::optional<concord::witness_record> load() { return held; }
    void save(const concord::witness_record& r) { held = r; }
};
} // namespace

TEST_CASE("check_timeline refuses a store or witness lineage that is not a lineage id", "[review5][timeline]") {
    const std::string good = concord::test::lineage_id('a');
    for (const auto& bad : concord::test::bad_lineages()) {
        INFO("lineage '" << bad << "'");
        const concord::checkpoint bad_cp{bad, 3, {}};
        const concord::checkpoint good_cp{good, 3, {}};
        const concord::witness_record bad_w{bad, 3, "", "", 0};
        const concord::witness_record good_w{good, 3, "", "", 0};
        for (const auto& w : {std::optional<concord::witness_record>{}, std::optional{good_w}}) {
            const auto e = concord::test::caught([&] { concord::check_timeline(bad_cp, w); });
            CHECK(e.code() == concord::errc::checkpoint_corrupt);
            CHECK_THAT(std::string(e.what()), Catch::Contains("\"" + bad + "\""));
        }
        for (const auto& s : {std::optional<concord::checkpoint>{}, std::optional{good_cp}}) {
            const auto e = concord::test::caught([&] { concord::check_timeline(s, bad_w); });
            CHECK(e.code() == concord::errc::witness_corrupt);
            CHECK_THAT(std::string(e.what()), Catch::Contains("\"" + bad + "\""));
        }
    }
    CHECK(concord::check_timeline(concord::checkpoint{good, 3, {}}, concord::witness_record{good, 3, "", "", 0}).kind ==
          concord::verdict::same_timeline);
}

TEST_CASE("begin_session on a host's store whose lineage comes back changed is checkpoint_corrupt, nothing written",
          "[review5][timeline]") {
    folding_store db;
    concord::change_batch<row> b;
    b.new_checkpoint = concord::checkpoint{concord::test::lineage_id('c'), 2, {}};
    db.commit(b);
    SECTION("without a witness (it would be repaired under the changed lineage)") {
        concord::memory_witness w;
        CHECK(concord::test::code_of([&] { concord::begin_session(w, db); }) == concord::errc::checkpoint_corrupt);
        CHECK(w.saves() == 0);
    }
    SECTION("with the witness (it would be taken for a different database)") {
        concord::memory_witness w;
        w.save({concord::test::lineage_id('c'), 2, "", "", 0});
        CHECK(concord::test::code_of([&] { concord::begin_session(w, db); }) == concord::errc::checkpoint_corrupt);
        CHECK(w.saves() == 1);
    }
    SECTION("a host's witness handing back a lineage no witness can save") {
        raw_witness w;
        w.held = concord::witness_record{"lineage-1", 2, "", "", 0};
        concord::memory_store<row> plain;
        CHECK(concord::test::code_of([&] { concord::begin_session(w, plain); }) == concord::errc::witness_corrupt);
    }
}
