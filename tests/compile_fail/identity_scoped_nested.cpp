// expect: concord::identity::scoped<scoped<P>> is not supported
#include "fixtures.hpp"
int main() {
    using inner = concord::identity::scoped<fx::good_identity>;
    concord::identity::scoped<inner> s("tenant", inner("integration"));
    return static_cast<int>(s.key(fx::item{1, "a", 2}).lo);
}
