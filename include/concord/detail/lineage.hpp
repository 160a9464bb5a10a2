#pragma once
// The lineage check every store makes on a checkpoint: a lineage must be a lineage id (is_lineage_id:
// 32 lowercase hex digits, what new_lineage_id() makes), the only kind a witness saves and loads. A
// store that kept any other lineage would hand it to the next session, whose witness save then fails,
// so stores refuse it where they would persist it (errc::invalid_argument, before anything is
// written) and report one read back from an older database as errc::checkpoint_corrupt.

#include <cstddef>
#include <string>
#include <string_view>

#include <concord/error.hpp>
#include <concord/entity.hpp>    // detail::quoted_excerpt
#include <concord/timeline.hpp>  // is_lineage_id

namespace concord::detail {

/// Throws errc::invalid_argument, naming the value, unless `lineage` is a lineage id. `store` names
/// the store for the message ("sqlite_store 'items'"). Stores call it before they write anything.
inline void check_checkpoint_lineage(std::string_view lineage, std::string_view store) {
    if (is_lineage_id(lineage)) return;
    throw error(errc::invalid_argument,
                std::string(store) + " refuses checkpoint lineage " + quoted_excerpt(lineage) +
                    ": a lineage must be 32 lowercase hex digits (a lineage id new_lineage_id() makes), the only kind "
                    "a witness can save; nothing was written");
}

/// The reason a stored lineage that is not a lineage id is errc::checkpoint_corrupt (a database
/// written before stores refused such lineages, or edited): the text after "lineage ".
inline std::string stored_lineage_problem(std::string_view lineage) {
    return quoted_excerpt(lineage) + " is not 32 lowercase hex digits (no witness can name it; written before stores "
                                      "refused such lineages, or edited by hand)";
}

} // namespace concord::detail
