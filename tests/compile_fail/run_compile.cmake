# Compile-fail driver, run by ctest as `cmake -DCXX=... -DSOURCE=... -DINCLUDES=a|b -P run_compile.cmake`.
# The snippet states its expectation in comment lines:
#   // expect: COMPILES          the snippet must compile (control: proves the harness works)
#   // expect: <regex>           the snippet must NOT compile and the compiler output must match the
#                                regex (CMake regex syntax); several lines = every regex must match
foreach(var CXX SOURCE INCLUDES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_compile.cmake: -D${var}=... is required")
  endif()
endforeach()

file(STRINGS "${SOURCE}" expect_lines REGEX "^// expect: ")
if(NOT expect_lines)
  message(FATAL_ERROR "${SOURCE} has no '// expect:' line")
endif()

string(REPLACE "|" ";" include_list "${INCLUDES}")
set(flags -std=c++20 -fsyntax-only -fdiagnostics-color=never -Wall -Wextra -Wpedantic)
foreach(dir IN LISTS include_list)
  if(dir)
    list(APPEND flags "-I${dir}")
  endif()
endforeach()

# The control must also be warning-free, like every other project target.
if(expect_lines STREQUAL "// expect: COMPILES")
  list(APPEND flags -Werror)
endif()

execute_process(
  COMMAND ${CMAKE_COMMAND} -E env LC_ALL=C ${CXX} ${flags} "${SOURCE}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)

if(expect_lines STREQUAL "// expect: COMPILES")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "control snippet ${SOURCE} failed to compile (rc=${rc}):\n${out}")
  endif()
  message(STATUS "compiled as expected: ${SOURCE}")
  return()
endif()

if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must fail to compile")
endif()
# Any error must come from the diagnostic we expect, not from a typo in the snippet: every regex
# has to match the output.
foreach(line IN LISTS expect_lines)
  string(REGEX REPLACE "^// expect: " "" regex "${line}")
  if(NOT out MATCHES "${regex}")
    message(FATAL_ERROR "${SOURCE} failed to compile, but the output does not match\n  ${regex}\n"
                        "compiler output:\n${out}")
  endif()
  message(STATUS "matched: ${regex}")
endforeach()
