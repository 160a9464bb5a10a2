// Prelude: the headers of docs/tutorial/03-policies.md's first block (an entity and the in-memory sides).
#pragma once
#include <cstdint>
#include <string>

#include <boost/hana/define_struct.hpp>

#include <concord/identity.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
#include <concord/reconciler.hpp>
