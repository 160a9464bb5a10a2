// expect: concord store: add `using entity_type = <your entity>;`
#include "fixtures.hpp"
struct bad_store {
    std::vector<fx::item> scan();
    std::vector<concord::link> links();
    std::optional<concord::checkpoint> load_checkpoint();
    void commit(const concord::change_batch<fx::item>&);
};
static_assert(fx::instantiate<bad_store>() > 0);
