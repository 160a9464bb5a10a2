# Helpers shared by the packaging drivers (run with cmake -P).
foreach(var CONCORD_SOURCE_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "packaging test: -D${var}=... is required")
  endif()
endforeach()

# concord_run(<what> <command...>): runs the command, fails the test with its output if it fails;
# the output is left in `last_output`.
function(concord_run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n  ${ARGN}\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
# Keep the guest configure fast: none of concord's own tests, examples or benchmarks.
set(concord_guest_options -DCONCORD_BUILD_TESTS=OFF -DCONCORD_BUILD_EXAMPLES=OFF -DCONCORD_BUILD_BENCHMARKS=OFF)
set(concord_common_options -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
