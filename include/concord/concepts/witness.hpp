#pragma once
// Concept: a witness is a small durable record outside the restore scope holding the last
// checkpoint concord committed (see timeline.hpp and witness.hpp).

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>

namespace concord {

/// What a witness remembers.
struct witness_record {
    std::string lineage;             ///< lineage id of the database last committed
    std::uint64_t generation = 0;    ///< generation last committed
    std::string in_progress;         ///< non-empty while a reconcile is under way (library version, generation)
    std::string failure;             ///< the last reconcile failure, to stop repeated identical failures
    /// Sessions that ever marked a reconcile in progress (never decreases). A generation is retried
    /// by every session that crashes before committing it, so update keys carry this number too: an
    /// update A->B retried after B->A in the same generation must not replay the first A->B.
    std::uint64_t attempts = 0;
    friend bool operator==(const witness_record&, const witness_record&) = default;
};

/// W stores one witness_record durably:
///  * `std::optional<witness_record> load()` (nullopt when none was ever written; throws
///    concord::error with errc::witness_corrupt for a record it cannot trust),
///  * `void save(const witness_record&)` (atomic: after a crash either the old or the new record).
template <class W>
concept witness = requires(W& w, const witness_record& r) {
    { w.load() } -> std::same_as<std::optional<witness_record>>;
    w.save(r);
};

} // namespace concord
