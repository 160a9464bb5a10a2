// Fuzzes the parsing of remote metadata: owner_tag::parse (text written by anyone holding the
// provider account's key) and check_metadata against provider limits.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <concord/records.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    concord::owner_tag tag;
    const auto r = concord::owner_tag::parse(text, tag);
    if (r == concord::owner_tag::parse_result::ok) {
        // A tag that parses is one concord could have written: it validates and prints back as read.
        tag.validate();
        if (tag.text() != text) std::abort();
    }
    fuzz::reader in{data, size};
    concord::metadata m;
    while (!in.empty() && m.size() < 60) m[in.str(48)] = in.str(255) + in.str(255) + in.str(255);
    concord::metadata_limits limits;
    try {
        concord::check_metadata(m, limits);
        if (m.size() > limits.max_keys) std::abort();
        for (const auto& [k, v] : m)
            if (k.empty() || k.size() > limits.max_key_length || v.size() > limits.max_value_length) std::abort();
    } catch (const concord::error& e) {
        if (e.code() != concord::errc::metadata_limit) std::abort();
    }
    return 0;
}
