// Must NOT compile: sqlite_store of an entity with a member type that has no column mapping.
// Run by ctest (sqlite:unsupported_member_type_is_a_compile_error), which expects the error to name
// the member ("tags").
#include <string>
#include <vector>

#include <boost/hana/define_struct.hpp>

#include <concord/sqlite/store.hpp>

struct bad_entity {
    BOOST_HANA_DEFINE_STRUCT(bad_entity, (std::int64_t, id), (std::vector<std::string>, tags));
};

int main() {
    concord::sqlite_database db(":memory:");
    concord::sqlite_store<bad_entity> s(db, "bad");
    return static_cast<int>(s.size());
}
