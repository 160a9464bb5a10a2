// Prelude for documentation snippets (tests/docs/check_snippets.cmake): the `invoice` entity of
// docs/reference.md ("Entities"), which other pages store and reconcile.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <boost/hana/define_struct.hpp>

struct invoice {
    BOOST_HANA_DEFINE_STRUCT(invoice,
        (std::int64_t, id),
        (std::string, customer),
        (std::string, number),
        (std::int64_t, cents),
        (std::optional<double>, rate));
};
