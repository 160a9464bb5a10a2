# Every public name of include/concord is named somewhere in docs/ (the ctest test docs:public_names).
#
#   cmake -DINCLUDE_DIR=<include/concord> -DDOCS_DIR=<docs> [-DEXCLUDE=page.md|...] [-DLIST=ON]
#         -P check_public_names.cmake
#
# A public name is one declared at namespace scope in a header outside detail/ and outside
# `namespace detail { ... } // namespace detail` blocks. The headers follow two conventions this
# relies on: namespace contents are not indented (a declaration at namespace scope starts at column 0,
# a member does not), and a detail block ends with its `} // namespace ...detail` comment. Found are
# struct, class, union, enum, concept, alias (`using x =`), namespace and function names (column 0,
# `name(` after a return type, on the line or after a `template <...>` line); variables are not.
# Documented means: the name appears as a whole word in some page of DOCS_DIR (EXCLUDE left out),
# in prose, a table or a code block. -DLIST=ON prints every name found with its header.

cmake_minimum_required(VERSION 3.20)

foreach(var INCLUDE_DIR DOCS_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_public_names.cmake: -D${var}=... is required")
  endif()
endforeach()
get_filename_component(INCLUDE_DIR "${INCLUDE_DIR}" ABSOLUTE)
get_filename_component(DOCS_DIR "${DOCS_DIR}" ABSOLUTE)
string(REPLACE "|" ";" exclude "${EXCLUDE}")

# The documentation, one string.
file(GLOB_RECURSE pages RELATIVE "${DOCS_DIR}" "${DOCS_DIR}/*.md")
set(docs "")
foreach(page IN LISTS pages)
  get_filename_component(base "${page}" NAME)
  if(base IN_LIST exclude)
    continue()
  endif()
  file(READ "${DOCS_DIR}/${page}" text)
  string(APPEND docs "\n${text}\n")
endforeach()
if(docs STREQUAL "")
  message(FATAL_ERROR "check_public_names.cmake: no pages in ${DOCS_DIR}")
endif()

set(ident "[A-Za-z_][A-Za-z0-9_]*")
set(found "")        # name|header, one entry per first declaration
set(names "")
file(GLOB_RECURSE headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/*.hpp")
list(SORT headers)
foreach(header IN LISTS headers)
  if(header MATCHES "(^|/)detail/")
    continue()
  endif()
  file(READ "${INCLUDE_DIR}/${header}" text)
  # One list element per line, whatever the line holds (';' and brackets would split or join them).
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "[" "<lbracket>" text "${text}")
  string(REPLACE "]" "<rbracket>" text "${text}")
  string(REPLACE "\\" "<backslash>" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(in_detail OFF)
  set(in_comment OFF)
  set(after_template OFF)
  foreach(line IN LISTS lines)
    if(in_comment)
      if(line MATCHES "\\*/")
        set(in_comment OFF)
      endif()
      continue()
    endif()
    if(line MATCHES "^/\\*" AND NOT line MATCHES "\\*/")
      set(in_comment ON)
      continue()
    endif()
    if(line MATCHES "^namespace (${ident}::)*detail \\{")
      set(in_detail ON)
      continue()
    endif()
    if(in_detail)
      if(line MATCHES "^\\} // namespace (${ident}::)*detail")
        set(in_detail OFF)
      endif()
      continue()
    endif()
    set(name "")
    set(decl "${line}")
    set(was_template ${after_template})
    set(after_template OFF)
    if(decl MATCHES "^template <.*> *$")
      set(after_template ON)  # the declaration follows on the next line
      continue()
    endif()
    string(REGEX REPLACE "^template <.*> +" "" decl "${decl}")
    string(REGEX REPLACE "^(<lbracket><lbracket>[a-z_:]+<rbracket><rbracket> +)+" "" decl "${decl}")
    if(decl MATCHES "^(struct|class|union|enum class|enum struct|enum|concept) (${ident})")
      set(name "${CMAKE_MATCH_2}")
    elseif(decl MATCHES "^using (${ident}) =")
      set(name "${CMAKE_MATCH_1}")
    elseif(decl MATCHES "^namespace (${ident}) \\{")
      set(name "${CMAKE_MATCH_1}")
    elseif(decl MATCHES "^(inline |constexpr |static |consteval |explicit )*[A-Za-z_][A-Za-z0-9_:<>, *&]*[ *&](${ident})\\(")
      set(name "${CMAKE_MATCH_2}")
    elseif(was_template AND decl MATCHES "^(${ident})\\(")  # a deduction guide
      set(name "")
    endif()
    if(name STREQUAL "" OR name MATCHES "^(concord|operator|return|if|for|while|switch|sizeof|decltype|static_assert)$")
      continue()
    endif()
    if(NOT name IN_LIST names)
      list(APPEND names "${name}")
      list(APPEND found "${name}|${header}")
    endif()
  endforeach()
endforeach()

list(LENGTH names count)
if(count LESS 150)
  message(FATAL_ERROR "check_public_names.cmake: only ${count} public names found in ${INCLUDE_DIR}; "
                      "the header conventions this script relies on have changed (see its comment)")
endif()

set(missing "")
foreach(entry IN LISTS found)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 header)
  if(LIST)
    message(STATUS "${name}  (${header})")
  endif()
  if(NOT docs MATCHES "[^A-Za-z0-9_]${name}[^A-Za-z0-9_]")
    string(APPEND missing "\n  ${name}  (include/concord/${header})")
  endif()
endforeach()
if(NOT missing STREQUAL "")
  message(FATAL_ERROR "public names that no page of docs/ mentions (document each where a user would look "
                      "for it; docs/reference.md lists the API):${missing}")
endif()
message(STATUS "docs:public_names: all ${count} public names of include/concord are in docs/")
