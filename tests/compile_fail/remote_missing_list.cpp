// expect: concord remote_source: add `concord::page<entity_type> list\(std::optional<std::uint64_t> after, std::size_t limit\)`
#include "fixtures.hpp"
struct bad_remote {
    using entity_type = fx::item;
    // listing with the wrong shape: no `after` cursor
    concord::page<fx::item> list(std::size_t limit);
};
static_assert(fx::instantiate<fx::good_store, bad_remote>() > 0);
