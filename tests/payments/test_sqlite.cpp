// The payment scenarios on a real SQLite file in a temporary folder: backups and restores go through
// SQLite's online backup API, the witness and the decisions are files beside the database.
#include "sqlite_fixture.hpp"

#define PAYMENTS_DB payments_test::sqlite_db
#include "scenarios.hpp"
