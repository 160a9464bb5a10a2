// Fuzzes parse_witness (the witness file beside the database): anything is either a record that
// formats back to the same bytes, or a typed errc::witness_corrupt.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <concord/witness.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto r = concord::parse_witness(text);
        const auto again = concord::parse_witness(concord::format_witness(r));
        if (again.lineage != r.lineage || again.generation != r.generation || again.in_progress != r.in_progress ||
            again.failure != r.failure)
            std::abort();
    } catch (const concord::error& e) {
        if (e.code() != concord::errc::witness_corrupt) std::abort();
    }
    return 0;
}
