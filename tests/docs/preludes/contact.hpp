// Prelude: docs/tutorial/01-one-entity.md, "Describe the entity": the `contact` entity.
#pragma once
#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

struct contact {
    BOOST_HANA_DEFINE_STRUCT(contact, (std::int64_t, id), (std::string, email), (std::string, name));
};
