// expect: concord remote_source: add `using entity_type = <your entity>;`
#include "fixtures.hpp"
struct bad_remote {
    concord::page<fx::item> list(std::optional<std::uint64_t> after, std::size_t limit);
};
static_assert(fx::instantiate<fx::good_store, bad_remote>() > 0);
