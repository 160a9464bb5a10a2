// The payment scenarios on the in-memory host database (fast; the SQLite run is in test_sqlite.cpp).
#include "fixture.hpp"
#define PAYMENTS_DB payments_test::memory_db
#include "scenarios.hpp"
