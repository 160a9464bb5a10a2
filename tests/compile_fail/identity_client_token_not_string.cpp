// expect: concord::identity::client_token needs a std::string member
#include "fixtures.hpp"
int main() {
    fx::item i{1, "sku", 2};
    return static_cast<int>(concord::identity::client_token<&fx::item::qty>{}.key(i).lo);
}
