# Configure, build and run subdir_consumer/, which pulls concord in with add_subdirectory, with -Wall
# on: its deliberately warning source must build (no -Werror leaked from concord) and must warn
# (so the check above is not vacuous).
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
set(build "${WORK_DIR}/build")
concord_run("configure subdir consumer" ${CMAKE_COMMAND} -S "${CMAKE_CURRENT_LIST_DIR}/subdir_consumer" -B "${build}"
            ${concord_common_options} "-DCONCORD_SOURCE_DIR=${CONCORD_SOURCE_DIR}" "-DCMAKE_CXX_FLAGS=-Wall")
concord_run("build subdir consumer" ${CMAKE_COMMAND} --build "${build}")
if(NOT last_output MATCHES "unused_on_purpose")
  message(FATAL_ERROR "the deliberate -Wunused-variable warning was not reported, so the -Werror check proves "
                      "nothing:\n${last_output}")
endif()
concord_run("run subdir consumer" "${build}/subdir_consumer")
if(NOT last_output MATCHES "subdir consumer [0-9a-f]+ sqlite=3\\.[0-9.]+ OK")
  message(FATAL_ERROR "the subdir consumer printed something unexpected:\n${last_output}")
endif()
