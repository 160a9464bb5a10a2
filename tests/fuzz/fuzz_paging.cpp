// Fuzzes concord::validate_page and concord::list_all with remote pages built from the input: any
// sequence of ids, page sizes and has_more flags must end in a listing or a typed errc::bad_page.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/paging.hpp>

#include "fuzz_common.hpp"

namespace {
struct row {
    BOOST_HANA_DEFINE_STRUCT(row, (std::int64_t, id), (std::string, name));
};

struct scripted_remote {
    using entity_type = row;
    fuzz::reader* in;
    int calls = 0;
    concord::page<row> list(std::optional<std::uint64_t>, std::size_t) {
        concord::page<row> p;
        if (++calls > 64) return p;  // the remote ends eventually
        const auto count = in->u64(1) % 8;
        for (std::uint64_t i = 0; i < count && !in->empty(); ++i) {
            concord::remote_record<row> r;
            r.seq = in->u64(1);
            r.remote_id = in->str(4);
            p.items.push_back(r);
        }
        p.has_more = (in->u64(1) & 1) != 0;
        return p;
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::reader in{data, size};
    const auto page_size = static_cast<std::size_t>(in.u64(1) % 6) + 1;
    const auto mode = in.u64(1) % 2;
    if (mode == 0) {
        scripted_remote remote{&in};
        try {
            auto all = concord::list_all(remote, page_size);
            for (std::size_t i = 1; i < all.size(); ++i)
                if (all[i].seq <= all[i - 1].seq) std::abort();  // accepted listings are strictly increasing
        } catch (const concord::error& e) {
            if (e.code() != concord::errc::bad_page) std::abort();
        }
    } else {
        scripted_remote remote{&in};
        auto p = remote.list(std::nullopt, page_size);
        std::optional<std::uint64_t> after;
        if (in.u64(1) & 1) after = in.u64(1);
        try {
            concord::validate_page(p, after, page_size);
            if (p.items.size() > page_size) std::abort();
        } catch (const concord::error& e) {
            if (e.code() != concord::errc::bad_page) std::abort();
        }
    }
    return 0;
}
