// Must not compile: the override's strategy has no decide().
#include <cstdint>
#include <boost/hana/define_struct.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
struct e { BOOST_HANA_DEFINE_STRUCT(e, (std::int64_t, id)); };
struct not_a_policy {};
using bad = concord::policy::per_case<concord::policy::trust_local, concord::case_<concord::orphan, not_a_policy>>;
int main() {
    concord::classified<e> c;
    return static_cast<int>(bad{}.decide(c, concord::timeline_status{}));
}
