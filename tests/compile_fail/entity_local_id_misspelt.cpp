// expect: entity_traits<E>::local_id names no member of the entity
#include "fixtures.hpp"
struct row {
    BOOST_HANA_DEFINE_STRUCT(row, (std::int64_t, rowid), (std::string, sku));
};
// The member is `rowid`: a misspelt name would silently make the database id content.
template <>
struct concord::entity_traits<row> {
    static constexpr std::string_view local_id = "row_id";
};
int main() { return static_cast<int>(concord::fingerprint(row{}).lo); }
