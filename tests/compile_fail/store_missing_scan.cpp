// expect: concord store: add `std::vector<entity_type> scan\(\)`
#include "fixtures.hpp"
struct bad_store {
    using entity_type = fx::item;
    std::vector<concord::link> links();
    std::optional<concord::checkpoint> load_checkpoint();
    void commit(const concord::change_batch<fx::item>&);
};
static_assert(fx::instantiate<bad_store>() > 0);
