// expect: concord store: add `std::optional<concord::checkpoint> load_checkpoint\(\)`
#include "fixtures.hpp"
struct bad_store {
    using entity_type = fx::item;
    std::vector<fx::item> scan();
    std::vector<concord::link> links();
    void commit(const concord::change_batch<fx::item>&);
};
static_assert(fx::instantiate<bad_store>() > 0);
