#pragma once
// Injectable clocks. Retries back off on a clock the caller provides, so tests and simulations
// run instantly and deterministically; production uses the system clock.

#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstdint>

#include <time.h>

namespace concord {

/// C tells the time in seconds and can wait: `std::int64_t now()`, `void sleep_for(std::chrono::milliseconds)`.
template <class C>
concept clock_source = requires(C& c, std::chrono::milliseconds d) {
    { c.now() } -> std::convertible_to<std::int64_t>;
    c.sleep_for(d);
};

/// The real clock: Unix seconds, real sleeps.
struct system_clock {
    std::int64_t now() const {
        return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
    // nanosleep rather than std::this_thread::sleep_for: <thread> (and <stop_token>) would cost every
    // includer of the reconciler a tenth of a second of parsing for this one call.
    void sleep_for(std::chrono::milliseconds d) const {
        if (d.count() <= 0) return;
        ::timespec left{static_cast<std::time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1'000'000};
        while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
        }
    }
};

/// A clock that only moves when told to (sleeps advance it): for tests and simulation.
class manual_clock {
public:
    explicit manual_clock(std::int64_t start = 1'700'000'000) : ms_(start * 1000) {}
    std::int64_t now() const noexcept { return ms_ / 1000; }
    std::int64_t now_ms() const noexcept { return ms_; }
    void sleep_for(std::chrono::milliseconds d) noexcept {
        ms_ += d.count();
        slept_ += d.count();
    }
    void advance(std::chrono::seconds s) noexcept { ms_ += s.count() * 1000; }
    std::int64_t slept_ms() const noexcept { return slept_; }

private:
    std::int64_t ms_;
    std::int64_t slept_ = 0;
};

/// Bounded retries with exponential backoff (same idempotency key every attempt).
struct retry_policy {
    int max_attempts = 5;
    std::chrono::milliseconds base_delay{200};
    std::chrono::milliseconds max_delay{10'000};

    std::chrono::milliseconds delay(int attempt) const {
        auto d = base_delay * (std::int64_t{1} << (attempt < 20 ? attempt : 20));
        return d < max_delay ? d : max_delay;
    }
};

} // namespace concord
