#pragma once
// The concord::error a callable throws, for tests that assert the code or the message. A callable
// that throws nothing fails the test.

#include <string>

#include <catch2/catch.hpp>

#include <concord/error.hpp>

namespace concord::test {

template <class F>
concord::errc code_of(F&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.code();
    }
    FAIL("expected a concord::error");
    return concord::errc::invalid_argument;
}

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const concord::error& e) {
        return e.what();
    }
    FAIL("expected a concord::error");
    return {};
}

} // namespace concord::test
