#pragma once
// The in-memory witness, apart from file_witness (witness.hpp, which includes this header): a program
// that only needs memory_witness does not pay for <filesystem>.

#include <cstddef>
#include <optional>
#include <utility>

#include <concord/concepts/witness.hpp>

namespace concord {

/// A witness kept in memory: for tests and simulations (survives whatever the test says it does).
class memory_witness {
public:
    std::optional<witness_record> load() { return record_; }
    void save(const witness_record& r) {
        record_ = r;
        ++saves_;
    }
    /// Forgets the record (a deleted witness file).
    void erase() { record_.reset(); }
    /// Replaces the record as is (tests: an old witness).
    void set(std::optional<witness_record> r) { record_ = std::move(r); }
    std::size_t saves() const noexcept { return saves_; }

private:
    std::optional<witness_record> record_;
    std::size_t saves_ = 0;
};

} // namespace concord
