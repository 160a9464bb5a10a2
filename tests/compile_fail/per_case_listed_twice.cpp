// expect: concord::policy::per_case: a case is listed twice
#include "fixtures.hpp"
using bad = concord::policy::per_case<concord::policy::trust_local,
                                      concord::policy::case_<concord::orphan, concord::policy::ask_user>,
                                      concord::policy::case_<concord::orphan, concord::policy::trust_remote>>;
static_assert(fx::instantiate<fx::good_store, fx::good_remote, fx::good_identity, bad>() > 0);
