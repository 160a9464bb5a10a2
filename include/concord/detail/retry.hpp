#pragma once
// The one bounded retry loop behind every remote call concord makes under an idempotency key (the
// reconciler's apply, the payments gateway, the remote witness). Every attempt reuses the key, so a
// retry can at most repeat the call's effect, never double it.

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <concord/clock.hpp>
#include <concord/error.hpp>

namespace concord::detail {

/// For calls whose timeout has no look-up to settle it: a timeout is then retried like any
/// retryable failure (the key makes the repeat harmless).
struct no_settle {};

/// Calls `call()` until it returns and returns its value. `attempts` counts the calls made, updated
/// before each one, so it is right when this throws too.
///
/// * A timeout (errc::remote_timeout) is first offered to `settle()`, a look-up returning a
///   std::optional of what the call made if it took effect after all; a found value is returned.
///   A look-up that fails retryably (remote_error::retryable) settles nothing: the timeout is then
///   retried as below; any other failure of the look-up is thrown as is.
/// * A failure a retry may cure (remote_error::retryable) waits `policy.delay(n)` on `sleep` and
///   calls again, at most `policy.max_attempts` calls in all; then errc::retries_exhausted, its text
///   starting with `label`, with the last failure nested.
/// * Any other failure is rethrown as is or, when `refused` is not empty, thrown again under its own
///   code with `refused` before its text, the original nested.
template <class Call, class Settle, class Sleep>
std::invoke_result_t<Call&> call_with_retries(const retry_policy& policy, Sleep& sleep, Call&& call, Settle&& settle,
                                              int& attempts, std::string_view label = {},
                                              std::string_view refused = {}) {
    for (int attempt = 1;; ++attempt) {
        attempts = attempt;
        try {
            return call();
        } catch (const remote_error& e) {
            if constexpr (!std::is_same_v<std::remove_cvref_t<Settle>, no_settle>) {
                if (e.code() == errc::remote_timeout) {
                    try {
                        if (auto found = settle()) return std::move(*found);
                    } catch (const remote_error& l) {
                        // A look-up refused for a reason a retry may cure (a 429 on the listing) settles
                        // nothing: the outcome is still unknown, so the call is retried under its key
                        // like the timeout itself, not failed (which reported a call that took effect as
                        // failed and left its local write, e.g. the unlink after a cancel, undone).
                        if (!l.retryable()) throw;
                    }
                }
            }
            if (!e.retryable()) {
                if (refused.empty()) throw;
                std::throw_with_nested(remote_error(e.code(), std::string(refused) + e.what()));
            }
            if (attempt >= policy.max_attempts)
                std::throw_with_nested(remote_error(errc::retries_exhausted, std::string(label) + "gave up after " +
                                                                                 std::to_string(attempt) +
                                                                                 " attempts with the same key: " + e.what()));
            sleep(policy.delay(attempt - 1));
        }
    }
}

} // namespace concord::detail
