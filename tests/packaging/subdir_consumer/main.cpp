// Deliberately compiles with a warning (-Wunused-variable under -Wall): it must still build, because
// concord's -Werror belongs to concord's own targets only.
#include <cstdint>
#include <iostream>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/entity.hpp>
#include <concord/identity.hpp>
#include <concord/sqlite/database.hpp>

struct note {
    BOOST_HANA_DEFINE_STRUCT(note, (std::int64_t, id), (std::string, text));
};

int main() {
    int unused_on_purpose = 0;
    const note n{1, "hello"};
    const auto k = concord::identity::natural_key<&note::text>{}.key(n);
    std::cout << "subdir consumer " << k.hex() << " sqlite=" << sqlite3_libversion() << " OK\n";
    return k.empty() ? 1 : 0;
}
