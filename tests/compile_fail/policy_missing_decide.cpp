// expect: concord conflict_policy: add `template <class E> concord::resolution decide\(const concord::classified<E>&, const concord::timeline_status&\) const`
#include "fixtures.hpp"
struct bad_policy {
    concord::resolution choose() const { return concord::resolution::report; }
};
static_assert(fx::instantiate<fx::good_store, fx::good_remote, fx::good_identity, bad_policy>() > 0);
