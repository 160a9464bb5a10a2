// expect: concord store: add `void commit\(const concord::change_batch<entity_type>&\)`
#include "fixtures.hpp"
struct bad_store {
    using entity_type = fx::item;
    std::vector<fx::item> scan();
    std::vector<concord::link> links();
    std::optional<concord::checkpoint> load_checkpoint();
};
static_assert(fx::instantiate<bad_store>() > 0);
