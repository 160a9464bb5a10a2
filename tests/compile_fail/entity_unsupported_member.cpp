// expect: concord: this entity member has a type concord cannot encode
// The offending member must be named in the diagnostic, not just its type:
// expect: &gadget::tags_list
#include "fixtures.hpp"
struct gadget {
    BOOST_HANA_DEFINE_STRUCT(gadget, (std::int64_t, id), (std::string, name), (std::vector<int>, tags_list));
};
int main() { return static_cast<int>(concord::fingerprint(gadget{}).lo); }
