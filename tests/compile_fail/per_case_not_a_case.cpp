// expect: concord::policy::case_<Case, Strategy>: Case must be one of concord::in_sync, diverged, local_only, orphan, relinkable, duplicate, stale_inbound, foreign
#include "fixtures.hpp"
using bad = concord::policy::per_case<concord::policy::trust_local,
                                      concord::policy::case_<fx::item, concord::policy::ask_user>>;
static_assert(fx::instantiate<fx::good_store, fx::good_remote, fx::good_identity, bad>() > 0);
