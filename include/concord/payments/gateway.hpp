#pragma once
// The operation gateway: the everyday host actions against the payment provider (create a payment
// plan, charge an invoice, refund, cancel a plan), each one a small timeline session, so that a
// restore can never make the host charge twice or lose track of money.
//
// Every action:
//  1. opens a timeline session (store checkpoint vs witness) and refuses, with errc::blocked, to act
//     on a restored or different database until a reconcile has looked at it (the charge store's
//     checkpoint is judged too: charges in a database of their own may be restored alone);
//  2. refuses charge-capable actions (create plan, charge) for a quarantined customer: one with a
//     payment plan of ours that is active but has no local owner (see quarantine.hpp);
//  3. derives the stable identity (customer + reference, scoped by type) and, before creating, reads
//     the provider's *list* endpoint (not its lagging search) for an active object of ours with that
//     identity: if there is one it is adopted, so a redo after a restore older than the 24 h key
//     window does not charge twice. An active object with that identity that is not provably ours
//     (untagged, or our tag with a stamp that does not check out) refuses the action: it may be this
//     very operation, edited since, so creating would take money twice (the reconciler asks there);
//  4. otherwise creates with an idempotency key derived from identity + operation + parameters,
//     stamped with owner tag, identity and the session's generation; transient failures are retried
//     with the same key and a timeout is settled by looking the key (then the list) up. On the
//     database's first session the stores get the session's checkpoint before the witness is marked,
//     so a crash here leaves both naming the same lineage;
//  5. commits the local row, the link and the new checkpoint in one store transaction, then the
//     witness. A crash between the provider call and step 5 leaves a stamped remote object that the
//     next attempt (or reconcile) adopts.
// A cancel or refund goes the other way round: the local row and link are removed first, then the
// provider cancels. A crash in between leaves an active object of ours without a local row, an orphan
// the reconcile resolves by its policy; never a row linked to a cancelled object, which a reconcile
// would take for a local_only entity and create again (charging the refunded invoice a second time).
// A provider call that fails puts them back only when nothing can have happened (no call timed out).
//
// Keys use the same formula as the reconciler's (idempotency_key(owner tag, identity, {kind,
// instance, parameters})), so a create the gateway made and one the reconciler would make are the
// same request.

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <concord/clock.hpp>
#include <concord/concepts/store.hpp>
#include <concord/concepts/witness.hpp>
#include <concord/detail/retry.hpp>
#include <concord/error.hpp>
#include <concord/identity.hpp>
#include <concord/paging.hpp>
#include <concord/payments/provider.hpp>
#include <concord/payments/quarantine.hpp>
#include <concord/policy/strategies.hpp>
#include <concord/reconciler.hpp>
#include <concord/records.hpp>
#include <concord/timeline.hpp>

namespace concord::payments {

/// Stable identity of a payment plan: customer + plan reference (survives restores and re-creation),
/// in scope "payment_plan". The scope keeps it apart from a charge with the same customer and
/// reference (an invoice that starts a plan): one identity for both would let an answer about the
/// plan settle the charge's decision, and put their idempotency keys in one namespace at the provider.
struct plan_identity : identity::natural_key<&payment_plan::customer, &payment_plan::reference> {
    plan_identity() : natural_key{"payment_plan"} {}
};
/// Stable identity of a one-off charge: customer + invoice number (one conceptual charge per
/// invoice), in scope "charge" (see plan_identity).
struct charge_identity : identity::natural_key<&charge::customer, &charge::reference> {
    charge_identity() : natural_key{"charge"} {}
};

/// Settings of a gateway.
struct gateway_options {
    owner_tag owner;               ///< this installation and integration (must match the reconcilers')
    std::size_t page_size = 100;   ///< provider listing page size
    retry_policy retry{};
    std::string lock_scope = "concord";  ///< the stores' reconcile lock (reconciler_options::lock_scope), held by each action
};

/// What an action did.
enum class how { created, adopted, already_done, cancelled };

constexpr std::string_view to_string(how h) noexcept {
    switch (h) {
    case how::created: return "created";
    case how::adopted: return "adopted";
    case how::already_done: return "already_done";
    case how::cancelled: return "cancelled";
    }
    return "unknown";
}

/// The result of a gateway action.
template <class E>
struct outcome {
    how what = how::created;
    E local{};                    ///< the local row as committed
    std::string remote_id;        ///< the provider object
    std::string idempotency_key;  ///< empty when no provider call was made
    int attempts = 0;             ///< provider calls made (retries included)
    std::uint64_t generation = 0; ///< generation of the session that committed it
};

template <witness W, store PlanStore, store ChargeStore>
class gateway {
    static_assert(std::is_same_v<typename PlanStore::entity_type, payment_plan>, "PlanStore must store payment_plan");
    static_assert(std::is_same_v<typename ChargeStore::entity_type, charge>, "ChargeStore must store charge");

    /// The plan store's reconcile-lock guard (sqlite_store, postgres_store), or nothing.
    template <class S>
    struct lock_of {
        struct type {};
    };
    template <class S>
        requires store_can_lock<S>
    struct lock_of<S> {
        using type = decltype(std::declval<S&>().lock_reconcile(std::string_view{}));
    };

public:
    /// A timeline session of this database that, when begin() opened it, also holds the plan store's
    /// reconcile lock (when the store offers one) until commit() or its destruction: a gateway
    /// action of another worker, or a reconcile, cannot run in the middle of a host's session. The
    /// reconcilers take it as the timeline_session it is.
    class session_type : public timeline_session<W> {
    public:
        using lock_type = typename lock_of<PlanStore>::type;
        session_type(timeline_session<W> s, std::optional<lock_type> lock)
            : timeline_session<W>(std::move(s)), lock_(std::move(lock)) {}
        /// Whether this session holds the store's reconcile lock.
        bool holds_lock() const noexcept { return lock_.has_value(); }
        /// Releases the lock early (commit() does); idempotent.
        void release_lock() noexcept { lock_.reset(); }

    private:
        std::optional<lock_type> lock_;
    };

    gateway(provider& p, W& w, PlanStore& plans, ChargeStore& charges, gateway_options o)
        : provider_(&p), witness_(&w), plans_(&plans), charges_(&charges), opts_(std::move(o)) {
        opts_.owner.validate();
        if (opts_.page_size == 0) throw error(errc::invalid_argument, "page_size must be at least 1");
        sleep_ = [](std::chrono::milliseconds d) { system_clock{}.sleep_for(d); };
    }

    /// Back off on `c` between retries (tests: concord::manual_clock).
    template <clock_source C>
    void use_clock(C& c) {
        sleep_ = [&c](std::chrono::milliseconds d) { c.sleep_for(d); };
    }
    /// Crash injection for tests: called with "after provider call" and "before local commit".
    void set_step_hook(step_hook h) { hook_ = std::move(h); }
    const gateway_options& options() const noexcept { return opts_; }

    /// Opens a timeline session of this database (anchored on the plan store), under the store's
    /// reconcile lock (gateway_options::lock_scope) when it offers one: errc::concurrent_reconcile,
    /// nothing read, while another session, reconcile or gateway action holds it. Hosts use it for
    /// their reconciles, then commit() it, so every store's checkpoint moves together; a gateway
    /// action called before that commit is refused the same way (it would wait on this session).
    session_type begin() {
        std::optional<typename session_type::lock_type> lock;
        if constexpr (store_can_lock<PlanStore>) lock.emplace(plans_->lock_reconcile(opts_.lock_scope));
        return session_type(begin_session(*witness_, *plans_), std::move(lock));
    }

    /// Brings every store's checkpoint to the session's generation, then writes the witness, and
    /// releases the session's lock (on a different database not adopted: see below).
    void commit(session_type& s) {
        // A different database without consent: its stores are left as they are, and the session's
        // commit() only clears its in-progress mark and remembers the generation it issued (as
        // reconcile() does), so later sessions neither see it as interrupted nor issue it again.
        if (s.database_adopted()) {
            s.commit_checkpoint(*plans_);
            s.commit_checkpoint(*charges_);
            s.note_store_committed();  // every store now holds the session's generation
        }
        s.commit();
        s.release_lock();
    }

    /// For the host's reconcilers of charges and plans in session `s`: refuses their creates for a
    /// customer quarantined now (set_create_guard), as charge_invoice and create_plan do. The
    /// quarantine is read once, here: call it in every session, for the charges' reconciler after the
    /// plans' apply (an orphan that apply cancels or imports no longer blocks).
    template <class Rec>
    void guard_creates(Rec& rec, const session_type& s) {
        auto q = std::make_shared<const quarantine>(quarantine_in(s));
        rec.set_create_guard([q](const auto& e) -> std::string {
            for (const auto& c : q->entries()) {
                if (c.customer != e.customer) continue;
                std::string plans;  // this customer's orphans only, on one line (the report's detail)
                for (std::size_t i = 0; i < c.plan_ids.size(); ++i)
                    plans += (i ? ", " : "") + c.plan_ids[i] + " (" + c.references[i] + ")";
                return "customer " + e.customer + " is quarantined while the orphaned payment plan(s) " + plans +
                       " can still take money without a local owner; resolve them first (cancel or import an orphan)";
            }
            return {};
        });
    }

    /// The customers quarantined right now (reads the provider's plan listing).
    quarantine current_quarantine() {
        auto s = unlocked_session();  // only reads: no need to wait for a reconcile
        return quarantine_in(s);
    }

    // Each action holds the store's reconcile lock (gateway_options::lock_scope) for its session: two
    // workers' actions, or an action and a reconcile, on one database never interleave (interleaved,
    // both would write a row of one charge, or the reconcile would refund a fresh charge as an orphan).
    // While another holds it: errc::concurrent_reconcile, before anything is done.

    /// Creates a payment plan (charge-capable: refused for a quarantined customer), or adopts the
    /// active plan of ours with the same identity.
    outcome<payment_plan> create_plan(payment_plan p) {
        require_valid(p);
        return with_reconcile_lock(*plans_, opts_.lock_scope, [&] { return create_plan_locked(std::move(p)); });
    }
    /// Charges an invoice once (charge-capable: refused for a quarantined customer). A redo after a
    /// restore adopts the existing charge instead of charging again.
    outcome<charge> charge_invoice(charge c) {
        require_valid(c);
        return with_reconcile_lock(*plans_, opts_.lock_scope, [&] { return charge_invoice_locked(std::move(c)); });
    }
    /// Cancels the plan (stops its charges) and forgets it locally. Allowed during quarantine.
    outcome<payment_plan> cancel_plan(std::string_view customer_ref, std::string_view reference) {
        return with_reconcile_lock(*plans_, opts_.lock_scope, [&] { return cancel_plan_locked(customer_ref, reference); });
    }
    /// Refunds the invoice's charge and forgets it locally. Allowed during quarantine.
    outcome<charge> refund(std::string_view customer_ref, std::string_view reference) {
        return with_reconcile_lock(*plans_, opts_.lock_scope, [&] { return refund_locked(customer_ref, reference); });
    }

private:
    outcome<payment_plan> create_plan_locked(payment_plan p) {
        auto s = open("create plan");
        const auto q = quarantine_in(s);
        const std::string customer = p.customer, action = "create plan " + p.reference;
        auto src = provider_->plans();
        // Checked once the listing says which plan this create would adopt: that orphan does not
        // block, any other does (another active plan with this identity keeps taking money).
        return create_or_adopt(s, *plans_, src, plan_identity{}, std::move(p), "create plan",
                               [&](std::string_view adopting) { q.require_clear(customer, action, adopting); });
    }

    outcome<charge> charge_invoice_locked(charge c) {
        auto s = open("charge invoice");
        quarantine_in(s).require_clear(c.customer, "charge invoice " + c.reference);
        auto src = provider_->charges();
        return create_or_adopt(s, *charges_, src, charge_identity{}, std::move(c), "charge invoice",
                               [](std::string_view) {});
    }

    outcome<payment_plan> cancel_plan_locked(std::string_view customer_ref, std::string_view reference) {
        auto s = open("cancel plan");
        payment_plan probe{};
        probe.customer = std::string(customer_ref);
        probe.reference = std::string(reference);
        auto src = provider_->plans();
        return cancel_linked(s, *plans_, src, plan_identity{}, probe, "cancel");
    }

    outcome<charge> refund_locked(std::string_view customer_ref, std::string_view reference) {
        auto s = open("refund");
        charge probe{};
        probe.customer = std::string(customer_ref);
        probe.reference = std::string(reference);
        auto src = provider_->charges();
        return cancel_linked(s, *charges_, src, charge_identity{}, probe, "refund");
    }

    /// Bad input is refused before anything is read or written: sent on, the provider refuses it only
    /// after the action was marked in progress in the witness (the next session then reports an
    /// interrupted action that never had a remote effect, and a first session has given the stores a
    /// checkpoint already).
    static void require_valid(const payment_plan& p) {
        if (p.amount_cents <= 0 || p.interval_seconds <= 0)
            throw error(errc::invalid_argument, "create plan refused for " + plan_identity{}.describe(p) +
                                                    ": a payment plan needs a positive amount_cents and "
                                                    "interval_seconds, not " +
                                                    std::to_string(p.amount_cents) + " and " +
                                                    std::to_string(p.interval_seconds));
    }
    static void require_valid(const charge& c) {
        if (c.amount_cents <= 0)
            throw error(errc::invalid_argument, "charge invoice refused for " + charge_identity{}.describe(c) +
                                                    ": a charge needs a positive amount_cents, not " +
                                                    std::to_string(c.amount_cents));
    }

    void step(std::string_view what) const {
        if (hook_) hook_(what);
    }

    /// A session without the lock: for current_quarantine(), and for the actions, which hold it already.
    session_type unlocked_session() { return session_type(begin_session(*witness_, *plans_), std::nullopt); }

    session_type open(std::string_view action) {
        auto s = unlocked_session();  // the action holds the lock (with_reconcile_lock)
        const auto& st = s.status();
        if (st.kind == verdict::restored || st.kind == verdict::different_database)
            throw error(errc::blocked, std::string(action) + " refused: " + st.detail +
                                           ". Reconcile first, so that orphans left by the restore are found "
                                           "before anything new takes money");
        // The session is anchored on the plan store. The charges may live in a database of their own,
        // restored alone: their checkpoint is then behind the witness while the plans' is not, and a
        // refund would act on a row linked to a charge refunded since (reporting it done while the
        // charge made after it keeps the money). Judged against the witness the session read.
        const auto cs = check_timeline(charges_->load_checkpoint(), st.witness);
        if (cs.kind == verdict::restored || cs.kind == verdict::different_database)
            throw error(errc::blocked, std::string(action) + " refused: the charges' store: " + cs.detail +
                                           ". Reconcile first (gateway::begin() and commit() move every store's "
                                           "checkpoint), so that what the restore left is found before acting on it");
        return s;
    }

    /// Marks the action in progress in the witness, right before its first remote effect. On the
    /// database's first session the stores get the session's checkpoint first: the mark names the
    /// session's new lineage, and a crash after it with a store that never received that lineage
    /// would make every later session a different database, refused until adopt_database(). With
    /// the store ahead, the next session finds the witness behind and repairs it.
    void mark_remote_effect(session_type& s, const std::string& what) {
        if (s.status().kind == verdict::first_run) {
            s.commit_checkpoint(*plans_);
            s.commit_checkpoint(*charges_);
        }
        s.mark_in_progress(what);
    }

    quarantine quarantine_in(const session_type& s) {
        auto src = provider_->plans();
        reconciler<payment_plan, PlanStore, provider::source<payment_plan>, plan_identity, policy::ask_user> r(
            *plans_, src, {.owner = opts_.owner, .entity_name = "payment_plan", .page_size = opts_.page_size});
        return quarantine::from_plan(r.plan(s));
    }

    metadata stamp(const key128& id, std::uint64_t generation) const {
        return stamp_metadata(opts_.owner, id, generation);
    }

    /// Ours: our tag, our identity key, a generation concord committed, and content that hashes to it.
    template <class E, class Id>
    bool ours(const remote_record<E>& r, const Id& ident, const key128& id, std::uint64_t max_gen) const {
        return why_not_ours(r, ident, id, max_gen).empty();
    }

    /// Empty when `r` is ours with identity `id`, else why not. The reconciler's rule
    /// (reconciler::owned): our tag, an accounted stamp, content that hashes to it.
    template <class E, class Id>
    std::string why_not_ours(const remote_record<E>& r, const Id& ident, const key128& id, std::uint64_t max_gen) const {
        const stamp_view s = read_stamp(r.meta);
        if (!s.owner) return "no owner tag";
        if (*s.owner != opts_.owner.text()) return "owner tag '" + *s.owner + "'";
        key128 stamped;
        switch (check_stamp(s, max_gen, stamped)) {
        case stamp_check::no_identity: return "our owner tag but no valid identity key";
        case stamp_check::unknown_generation: return "our owner tag but a generation concord never committed";
        case stamp_check::accounted: break;
        }
        if (stamped != id) return "our owner tag, stamped with another identity";
        try {
            if (ident.key(r.value) == id) return {};
        } catch (const error&) {
        }
        return "our owner tag and this identity, but content that no longer has it (edited since?)";
    }

    /// True when `r` stands for identity `id` although it may not be ours: its content has the
    /// identity, or it carries our tag stamped with it (our object, edited since). The reconciler
    /// sets such records apart and asks (classified::set_apart).
    template <class E, class Id>
    bool claims(const remote_record<E>& r, const Id& ident, const key128& id) const {
        try {
            if (ident.key(r.value) == id) return true;
        } catch (const error&) {
        }
        return stamped_identity(read_stamp(r.meta), opts_.owner.text()) == id;
    }

    template <class S, class Id>
    std::optional<typename S::entity_type> local_with(S& st, const Id& ident, const key128& id) const {
        for (auto& e : st.scan()) {
            try {
                if (ident.key(e) == id) return e;
            } catch (const error&) {
            }
        }
        return std::nullopt;
    }

    static std::optional<link> link_of(const std::vector<link>& links, const key128& id) {
        for (const auto& l : links)
            if (l.identity == id) return l;
        return std::nullopt;
    }

    template <class F, class Settle, class E>
    remote_record<E> with_retries(F&& call, Settle&& settle, outcome<E>& out) {
        return detail::call_with_retries(opts_.retry, sleep_, call, settle, out.attempts);
    }

    /// Writes the local row and its link with the session's checkpoint, then the witness.
    template <class S>
    typename S::entity_type commit_local(session_type& s, S& st, typename S::entity_type value, const key128& id,
                                         const std::string& remote_id, bool remove) {
        using E = typename S::entity_type;
        change_batch<E> b;
        if (remove) {
            if (local_id_of(value) != 0) b.removals.push_back(local_id_of(value));
            b.link_removals.push_back(id);
        } else {
            b.upserts.push_back(value);
            b.link_upserts.push_back({id, remote_id, s.status().generation});
        }
        b.new_checkpoint = s.next_checkpoint(st.load_checkpoint());
        step("before local commit");
        st.commit(b);
        commit(s);
        if (!remove && local_id_of(value) == 0)
            for (auto& e : st.scan())
                if (fingerprint(e) == fingerprint(value)) return e;
        return value;
    }

    /// An existing object of ours with this identity but other content (another amount) is not
    /// the same operation: adopting it would record a charge that was never made, creating another
    /// would charge the same invoice twice. Refused; the host refunds/cancels first or uses a new
    /// reference.
    template <class Id, class E>
    static void require_same(const Id& ident, const E& wanted, const E& existing, const std::string& remote_id) {
        if (fingerprint(wanted) == fingerprint(existing)) return;
        std::string fields;
        for (const auto& f : differing_fields(wanted, existing)) fields += (fields.empty() ? "" : ", ") + f;
        throw error(errc::invalid_argument, ident.describe(wanted) + " already exists at the provider as " + remote_id +
                                                " with other " + fields + ": " + concord::to_string(existing) +
                                                "; refund or cancel it first, or give the new one its own reference");
    }

    /// `clear(adopting)` runs before anything is recorded or created: it throws to refuse the action
    /// (quarantine), told the provider id of the object the action would adopt or find done (empty
    /// for a create).
    template <class S, class Src, class Id, class Clear>
    outcome<typename S::entity_type> create_or_adopt(session_type& s, S& st, Src& src, const Id& ident,
                                                     typename S::entity_type value, std::string_view action,
                                                     Clear&& clear) {
        using E = typename S::entity_type;
        outcome<E> out;
        out.generation = s.status().generation;
        const key128 id = ident.key(value);
        const auto links = st.links();
        auto existing = local_with(st, ident, id);
        // A local id that names the row of another identity (a host reusing the row an earlier action
        // returned) would overwrite that row: its link would stay without it, and the next reconcile
        // would cancel or refund that object as an orphan. Refused before anything is done.
        if (!existing && local_id_of(value) != 0)
            for (const auto& e : st.scan())
                if (local_id_of(e) == local_id_of(value))
                    throw error(errc::invalid_argument,
                                std::string(action) + " refused: local id " + std::to_string(local_id_of(value)) +
                                    " is the row of " + concord::to_string(e) + ", not of " + ident.describe(value) +
                                    "; pass local id 0 for a new row");
        // The active object this row's link names when it is no longer provably ours (see below).
        std::optional<remote_record<E>> linked_apart;
        std::string linked_why;
        if (existing) {
            set_local_id(value, local_id_of(*existing));
            if (auto l = link_of(links, id)) {
                auto src_rec = provider_->template get<E>(l->remote_id);
                // Done only if the linked object is still provably ours: one taken over since, or
                // another installation's (its folder opened here), falls to the listing below,
                // which refuses beside an object that stands for this identity.
                if (src_rec && src_rec->state == remote_state::active) {
                    std::string why = why_not_ours(*src_rec, ident, id, s.status().generation);
                    if (why.empty()) {
                        clear(std::string_view(l->remote_id));
                        require_same(ident, value, src_rec->value, src_rec->remote_id);
                        out.what = how::already_done;
                        out.local = *existing;
                        out.remote_id = l->remote_id;
                        return out;
                    }
                    // Edited by hand since (its tag or stamp gone, its content another identity's), it
                    // no longer claims this identity, but the link says it is this very operation.
                    linked_apart = std::move(src_rec);
                    linked_why = "the local row's link names it; " + why;
                }
            }
        }
        // Adopt an active object of ours with this identity (the list, never the lagging search).
        std::uint64_t cancelled = 0;
        const auto gen = s.status().generation;
        std::optional<remote_record<E>> adopt, apart;
        std::string apart_why;
        for (auto& r : list_all(src, opts_.page_size)) {
            std::string why = why_not_ours(r, ident, id, gen);
            if (why.empty()) {
                if (r.state != remote_state::active) ++cancelled;
                else if (!adopt) adopt = std::move(r);
            } else if (!apart && r.state == remote_state::active && claims(r, ident, id)) {
                apart = std::move(r);
                apart_why = std::move(why);
            }
        }
        // The row may have been written since the scan above (another worker's action on this identity):
        // reuse it, never insert a second row of one identity.
        auto reuse_row = [&] {
            if (local_id_of(value) == 0)
                if (auto now = local_with(st, ident, id)) set_local_id(value, local_id_of(*now));
        };
        if (adopt) {
            clear(std::string_view(adopt->remote_id));
            require_same(ident, value, adopt->value, adopt->remote_id);
            reuse_row();
            out.what = how::adopted;
            out.remote_id = adopt->remote_id;
            out.local = commit_local(s, st, value, id, adopt->remote_id, false);
            return out;
        }
        clear(std::string_view{});
        if (!apart && linked_apart) {
            apart = std::move(linked_apart);
            apart_why = std::move(linked_why);
        }
        // Not provably ours, yet it stands for this identity (it claims it, or the row's link names it): it may be this very operation (our
        // object, its metadata edited since), so creating another could take the money twice. The
        // reconciler asks in this case (classified::set_apart); the gateway cannot ask, so it refuses.
        if (apart)
            throw error(errc::blocked,
                        std::string(action) + " refused: the provider lists " + apart->remote_id + " for " +
                            ident.describe(value) + ", not provably ours (" + apart_why +
                            "): it may be this one, made before and edited since, and creating another could take "
                            "the money twice. Settle it first: reconcile and answer the decision about it (put to "
                            "the user while a local row has this identity), or, if it is not this one, cancel or "
                            "refund " + apart->remote_id + " at the provider or give this one its own reference");
        const std::string key =
            idempotency_key(opts_.owner.text(), id, operation{"create", cancelled, fingerprint(value).hex()});
        const auto meta = stamp(id, gen);
        check_metadata(meta, Src::limits());
        out.idempotency_key = key;
        mark_remote_effect(s, "concord " + std::string(version) + " gateway create generation " + std::to_string(gen));
        auto rec = with_retries([&] { return src.create(value, meta, key); },
                                [&]() -> std::optional<remote_record<E>> {
                                    if (auto r = src.find_by_key(key)) return r;
                                    for (auto& r : list_all(src, opts_.page_size))
                                        if (r.state == remote_state::active && ours(r, ident, id, gen)) return r;
                                    return std::nullopt;
                                },
                                out);
        step("after provider call");
        if (rec.state != remote_state::active)  // a replay of an earlier request whose object was cancelled since
            throw error(errc::idempotency_conflict, std::string(action) + ": the provider answered with " + rec.remote_id +
                                                        ", which is cancelled (a replay of an earlier request): not recorded");
        out.what = how::created;
        out.remote_id = rec.remote_id;
        reuse_row();
        out.local = commit_local(s, st, value, id, rec.remote_id, false);
        return out;
    }

    template <class S, class Src, class Id>
    outcome<typename S::entity_type> cancel_linked(session_type& s, S& st, Src& src, const Id& ident,
                                                   typename S::entity_type probe, std::string_view kind) {
        using E = typename S::entity_type;
        outcome<E> out;
        out.generation = s.status().generation;
        const key128 id = ident.key(probe);
        auto local = local_with(st, ident, id);
        auto l = link_of(st.links(), id);
        if (!local || !l)
            throw error(errc::invalid_argument, std::string(kind) + " refused: no linked local " + ident.describe(probe) +
                                                    " (nothing concord can prove it owns)");
        // The link says which object; only the object can say it is still ours. One taken over since
        // (its content edited into another identity) or another installation's is left alone.
        if (auto rec = provider_->template get<E>(l->remote_id)) {
            if (auto why = why_not_ours(*rec, ident, id, s.status().generation); !why.empty())
                throw error(errc::blocked, std::string(kind) + " refused: " + l->remote_id + ", linked to " +
                                               ident.describe(probe) + ", is not provably ours (" + why +
                                               "); concord cancels only what it can prove it owns. Reconcile, "
                                               "where the user is asked about it, or cancel it at the provider");
        }
        const std::string key = idempotency_key(opts_.owner.text(), id, operation{"cancel", 0, l->remote_id});
        out.idempotency_key = key;
        out.remote_id = l->remote_id;
        mark_remote_effect(s, "concord " + std::string(version) + " gateway " + std::string(kind));
        // The local row and link go first, the provider call after. The other order has a crash window
        // (cancelled at the provider, row and link still here) in which the next reconcile sees a
        // linked local row whose object the remote no longer lists, a local_only case, and under
        // trust_local creates it again: the refunded invoice charged again, the cancelled plan billing
        // again. In this order a crash leaves an active object of ours without a local row: an orphan,
        // which the reconcile resolves by its policy (and which quarantines a plan's customer meanwhile).
        out.local = commit_local(s, st, *local, id, l->remote_id, true);
        // A timed-out call may still be applied by the provider later, after the look-up below saw the
        // object active: its outcome is unknown, so the row is not put back then (linked to an object
        // cancelled afterwards, the next trust_local reconcile would create it again).
        bool unsure = false;
        try {
            with_retries([&] {
                             try {
                                 return src.cancel(l->remote_id, key);
                             } catch (const remote_error& e) {
                                 if (e.code() == errc::remote_timeout) unsure = true;
                                 throw;
                             }
                         },
                         [&]() -> std::optional<remote_record<E>> {
                             auto r = provider_->template get<E>(l->remote_id);
                             if (r && r->state == remote_state::cancelled) return r;
                             return std::nullopt;
                         },
                         out);
        } catch (...) {
            // Refused or given up: if no call timed out and the object is still active (or the provider
            // does not know it), nothing happened at the provider, so the row and its link are put back
            // (a retry of the action finds them); otherwise (a call timed out, the object is cancelled,
            // or the look-up failed) the row stays removed: an orphan while the object is active, which
            // the reconcile resolves by its policy.
            try {
                if (!unsure)
                    if (auto r = provider_->template get<E>(l->remote_id); !r || r->state == remote_state::active) {
                        change_batch<E> b;
                        b.upserts.push_back(*local);
                        b.link_upserts.push_back(*l);
                        st.commit(b);
                    }
            } catch (...) {
            }
            throw;
        }
        step("after provider call");
        out.what = how::cancelled;
        return out;
    }

    provider* provider_;
    W* witness_;
    PlanStore* plans_;
    ChargeStore* charges_;
    gateway_options opts_;
    std::function<void(std::chrono::milliseconds)> sleep_;
    step_hook hook_;
};

/// Builds a gateway, deducing the witness and store types.
template <witness W, store PlanStore, store ChargeStore>
gateway<W, PlanStore, ChargeStore> make_gateway(provider& p, W& w, PlanStore& plans, ChargeStore& charges,
                                                gateway_options o) {
    return gateway<W, PlanStore, ChargeStore>(p, w, plans, charges, std::move(o));
}

} // namespace concord::payments
