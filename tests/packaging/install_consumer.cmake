# `cmake --install` concord into a temporary prefix, then configure, build and run
# consumer/ against it with find_package(concord).
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
set(prefix "${WORK_DIR}/prefix")

concord_run("configure concord" ${CMAKE_COMMAND} -S "${CONCORD_SOURCE_DIR}" -B "${WORK_DIR}/concord-build"
            ${concord_common_options} ${concord_guest_options} "-DCMAKE_INSTALL_PREFIX=${prefix}")
concord_run("install concord" ${CMAKE_COMMAND} --install "${WORK_DIR}/concord-build")

foreach(f include/concord/entity.hpp include/concord/reconciler.hpp include/concord/memory/remote.hpp
          include/concord/sqlite/database.hpp)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install did not put ${f} into ${prefix}")
  endif()
endforeach()
file(GLOB_RECURSE config_files "${prefix}/*/concord-config.cmake")
file(GLOB_RECURSE targets_files "${prefix}/*/concord-targets.cmake")
if(NOT config_files OR NOT targets_files)
  message(FATAL_ERROR "install did not write concord-config.cmake / concord-targets.cmake under ${prefix}")
endif()

set(consumer_build "${WORK_DIR}/consumer-build")
concord_run("configure consumer" ${CMAKE_COMMAND} -S "${CMAKE_CURRENT_LIST_DIR}/consumer" -B "${consumer_build}"
            ${concord_common_options} "-DCMAKE_PREFIX_PATH=${prefix}" "-DEXPECTED_PREFIX=${prefix}"
            -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
# The consumer must compile against the installed headers, never the source tree.
file(READ "${consumer_build}/compile_commands.json" commands)
string(FIND "${commands}" "${CONCORD_SOURCE_DIR}/include" leak)
if(NOT leak EQUAL -1)
  message(FATAL_ERROR "the consumer compiles against the source tree:\n${commands}")
endif()
concord_run("build consumer" ${CMAKE_COMMAND} --build "${consumer_build}")
concord_run("run consumer" "${consumer_build}/consumer" "${WORK_DIR}")
if(NOT last_output MATCHES "consumer fingerprint=[0-9a-f]+ sqlite=3\\.[0-9.]+ OK")
  message(FATAL_ERROR "the consumer printed something unexpected:\n${last_output}")
endif()
message(STATUS "${last_output}")
