// expect: concord::identity::surrogate_id needs a local id member
#include "fixtures.hpp"
namespace {
struct no_id {
    BOOST_HANA_DEFINE_STRUCT(no_id, (std::string, sku), (std::int64_t, qty));
};
} // namespace
int main() { return static_cast<int>(concord::identity::surrogate_id{}.key(no_id{"a", 1}).lo); }
