// Fuzzes loading a decision file (file_decision_book): any file content loads or fails with a typed
// errc::witness_corrupt, and a loaded book answers with the resolutions it read.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <concord/decisions.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("concord-fuzz-decisions-" + std::to_string(::getpid()));
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    try {
        concord::file_decision_book book(path);
        (void)book.size();
    } catch (const concord::error& e) {
        if (e.code() != concord::errc::witness_corrupt) std::abort();
    }
    std::filesystem::remove(path);
    return 0;
}
