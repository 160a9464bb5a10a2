#pragma once
// Reference in-memory Store: a test double users may use in their own tests. It behaves like a
// small database: ids are assigned like SQLite rowids (max + 1, so a restore makes ids reusable),
// commit() is all-or-nothing, and snapshot()/restore() stand in for backup and restore.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <concord/detail/lineage.hpp>
#include <concord/entity.hpp>
#include <concord/error.hpp>
#include <concord/records.hpp>

namespace concord {

template <entity E>
class memory_store {
public:
    using entity_type = E;

    /// Everything a backup holds.
    struct snapshot_type {
        std::map<std::int64_t, E> rows;
        std::map<key128, link> links;
        std::optional<checkpoint> cp;
    };

    std::vector<E> scan() const {
        std::vector<E> out;
        out.reserve(rows_.size());
        for (const auto& [id, e] : rows_) out.push_back(e);
        return out;
    }
    std::vector<link> links() const {
        std::vector<link> out;
        out.reserve(links_.size());
        for (const auto& [k, l] : links_) out.push_back(l);
        return out;
    }
    /// The checkpoint; errc::checkpoint_corrupt when it holds a lineage that is not is_lineage_id (only a
    /// hand-made snapshot restored with restore() can), as the database stores report an older database's.
    std::optional<checkpoint> load_checkpoint() const {
        if (cp_ && !is_lineage_id(cp_->lineage))
            throw store_error(errc::checkpoint_corrupt,
                              "memory_store checkpoint is not what concord writes: lineage " + detail::stored_lineage_problem(cp_->lineage));
        return cp_;
    }

    /// Applies the batch atomically; throws store_error (and changes nothing) on a bad batch or an
    /// injected failure, and errc::invalid_argument (changing nothing, an injected failure kept for the
    /// next batch) on a checkpoint whose lineage is not is_lineage_id, as the database stores do.
    void commit(const change_batch<E>& b) {
        if (b.new_checkpoint) detail::check_checkpoint_lineage(b.new_checkpoint->lineage, "memory_store");
        if (fail_commits_ > 0) {
            --fail_commits_;
            throw store_error(errc::store_failure, "injected commit failure");
        }
        for (auto id : b.removals)
            if (!rows_.count(id)) throw store_error(errc::store_failure, "remove of unknown local id " + std::to_string(id));
        // Every check is above: from here on nothing can fail but allocation, so the batch is applied
        // in place (copying both maps per batch made apply quadratic in the store's size).
        for (auto id : b.removals) rows_.erase(id);
        for (auto e : b.upserts) {
            auto id = local_id_of(e);
            if (id == 0) {
                id = rows_.empty() ? 1 : rows_.rbegin()->first + 1;
                set_local_id(e, id);
            }
            rows_[id] = std::move(e);
        }
        for (const auto& k : b.link_removals) links_.erase(k);
        for (const auto& l : b.link_upserts) links_[l.identity] = l;
        if (b.new_checkpoint) cp_ = b.new_checkpoint;
        ++commits_;
    }

    /// Host-side write outside concord (a user creating or editing an entity). Returns the local id.
    std::int64_t put(E e) {
        auto id = local_id_of(e);
        if (id == 0) {
            id = rows_.empty() ? 1 : rows_.rbegin()->first + 1;
            set_local_id(e, id);
        }
        rows_[id] = e;
        return id;
    }
    /// Host-side delete outside concord.
    bool erase(std::int64_t id) { return rows_.erase(id) > 0; }
    std::optional<E> get(std::int64_t id) const {
        auto it = rows_.find(id);
        if (it == rows_.end()) return std::nullopt;
        return it->second;
    }
    std::size_t size() const noexcept { return rows_.size(); }

    snapshot_type snapshot() const { return {rows_, links_, cp_}; }
    void restore(const snapshot_type& s) {
        rows_ = s.rows;
        links_ = s.links;
        cp_ = s.cp;
    }

    void fail_next_commits(int n) { fail_commits_ = n; }
    std::size_t commits() const noexcept { return commits_; }

private:
    std::map<std::int64_t, E> rows_;
    std::map<key128, link> links_;
    std::optional<checkpoint> cp_;
    int fail_commits_ = 0;
    std::size_t commits_ = 0;
};

} // namespace concord
