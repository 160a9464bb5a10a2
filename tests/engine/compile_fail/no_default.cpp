// Must not compile, with per_case's own message: a default-constructed per_case whose override's
// strategy needs an argument (it is given to the constructor instead).
#include <cstdint>
#include <boost/hana/define_struct.hpp>
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
struct e { BOOST_HANA_DEFINE_STRUCT(e, (std::int64_t, id)); };
struct needs_limit {
    explicit needs_limit(std::int64_t l) : limit(l) {}
    std::int64_t limit;
    template <class E>
    concord::resolution decide(const concord::classified<E>&, const concord::timeline_status&) const {
        return concord::resolution::ask;
    }
};
using bad = concord::policy::per_case<concord::policy::trust_local, concord::case_<concord::orphan, needs_limit>>;
int main() {
    concord::classified<e> c;
    return static_cast<int>(bad{}.decide(c, concord::timeline_status{}));
}
