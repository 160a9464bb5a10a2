// Must not compile: `int` is not one of the eight case tags.
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
using bad = concord::policy::per_case<concord::policy::trust_local, concord::case_<int, concord::policy::ask_user>>;
bad instance;
int main() { return 0; }
