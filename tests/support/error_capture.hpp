#pragma once
// The concord::error a callable throws, for tests that assert the code or the message. A callable
// that throws nothing fails the test.

#include <string>

#include <catch2/catch.hpp>

#include <concord/error.hpp>

namespace concord::test {

/// The concord::error f throws (copied out of the handler).
template <class F>
concord::error caught(F&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e;
    }
    FAIL("expected a concord::error");
    return concord::error(concord::errc::invalid_argument, "");
}

template <class F>
concord::errc code_of(F&& f) {
    return caught(f).code();
}

template <class F>
std::string message_of(F&& f) {
    return caught(f).what();
}

} // namespace concord::test
