# concord_project_target(<target>): warnings as errors (and sanitizers when CONCORD_SANITIZE) for the
# project's own tests, examples and benchmarks. Users who link concord::concord get none of this.
function(concord_project_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC PR105329: false -Wrestrict on std::string concatenation at -O3.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(CONCORD_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# concord_add_subdirectories(): add every direct subdirectory that has a CMakeLists.txt, so that
# each feature folder owns its own build file.
function(concord_add_subdirectories)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child IN LISTS children)
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${child} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
