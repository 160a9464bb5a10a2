// Prelude: docs/reference.md, "In-memory reference models": `invoice` and the headers that section names.
#pragma once
#include "invoice.hpp"

#include <chrono>

#include <concord/clock.hpp>
#include <concord/decision_book.hpp>
#include <concord/memory/remote.hpp>
#include <concord/memory/store.hpp>
#include <concord/memory/witness.hpp>
