// Compile-time baseline: Boost.Hana's umbrella header alone (concord itself includes narrow Hana headers).
#include <boost/hana.hpp>

int main() { return boost::hana::size(boost::hana::make_tuple(1, 2)) == boost::hana::size_c<2> ? 0 : 1; }
