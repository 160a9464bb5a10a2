#pragma once
// A fresh directory per test case (removed afterwards) and a whole-file write, for tests of the
// files concord keeps (witness, decision book).

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <unistd.h>

namespace concord::test {

struct scratch {
    std::filesystem::path dir;
    /// `tag` names the directory after the test file, so a leftover says where it came from.
    explicit scratch(const std::string& tag) {
        static int n = 0;
        dir = std::filesystem::temp_directory_path() /
              ("concord-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    ~scratch() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
};

inline void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

} // namespace concord::test
