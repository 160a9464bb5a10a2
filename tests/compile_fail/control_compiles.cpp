// expect: COMPILES
// Control: every construct the failing snippets break, written correctly. If the harness (include
// paths, flags, compiler) were broken this would fail, so a broken harness cannot pass.
#include "fixtures.hpp"

namespace {
enum class tone : std::uint8_t { a, b };
struct every_type {
    BOOST_HANA_DEFINE_STRUCT(every_type, (std::int64_t, id), (bool, b), (std::int8_t, i8), (std::uint16_t, u16),
                             (std::int32_t, i32), (std::uint64_t, u64), (tone, t), (double, d), (float, f),
                             (std::string, s), (std::optional<std::string>, os), (std::optional<std::int64_t>, oi));
};
struct own_policy {
    template <class E>
    concord::resolution decide(const concord::classified<E>&, const concord::timeline_status&) const {
        return concord::resolution::report;
    }
};
using mixed = concord::policy::per_case<concord::policy::trust_local,
                                        concord::policy::case_<concord::orphan, concord::policy::ask_user>,
                                        concord::policy::case_<concord::duplicate, concord::policy::trust_remote>>;
} // namespace

static_assert(fx::instantiate() > 0);
static_assert(fx::instantiate<fx::good_store, fx::good_remote, fx::good_identity, own_policy>() > 0);
static_assert(fx::instantiate<fx::good_store, fx::good_remote, fx::good_identity, mixed>() > 0);
static_assert(concord::store<fx::good_store> && concord::remote_source<fx::good_remote>);

int main() {
    fx::item i{1, "sku", 2};
    (void)concord::identity::client_token<&fx::item::sku>{}.key(i);
    (void)concord::identity::surrogate_id{}.key(i);
    return static_cast<int>(concord::fingerprint(every_type{}).lo & 1);
}
