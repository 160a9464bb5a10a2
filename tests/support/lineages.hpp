#pragma once
// Lineages for tests that write checkpoints by hand. Every store refuses a lineage that is not a
// lineage id (concord::is_lineage_id: 32 lowercase hex digits, what new_lineage_id() makes), so
// tests use lineage_id(); bad_lineages() are the refusals every store is checked against.

#include <string>
#include <vector>

namespace concord::test {

/// A fixed, valid lineage id: `digit` (a lowercase hex digit) 32 times, e.g. lineage_id('a').
inline std::string lineage_id(char digit) { return std::string(32, digit); }

/// Lineages every store must refuse: not hex, upper-case hex, one digit short.
inline std::vector<std::string> bad_lineages() {
    return {"lin", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcde"};
}

} // namespace concord::test
