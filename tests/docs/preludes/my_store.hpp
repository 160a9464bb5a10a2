// Prelude: docs/store-adapters.md, "Writing your own store": a store template `my_store<E>` with the
// four members of the store concept and the host helpers every shipped store has.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <concord/concepts/store.hpp>
#include <concord/records.hpp>

template <class E>
struct my_store {
    using entity_type = E;
    std::vector<E> scan();
    std::vector<concord::link> links();
    std::optional<concord::checkpoint> load_checkpoint();
    void commit(const concord::change_batch<E>&);
    std::int64_t put(E);
    bool erase(std::int64_t);
    std::optional<E> get(std::int64_t);
    std::size_t size();
};
