// Must not compile: the orphan case is listed twice.
#include <concord/policy/per_case.hpp>
#include <concord/policy/strategies.hpp>
using bad = concord::policy::per_case<concord::policy::trust_local, concord::case_<concord::orphan, concord::policy::ask_user>,
                                      concord::case_<concord::orphan, concord::policy::trust_remote>>;
bad instance;
int main() { return 0; }
