# The layering of design.md, enforced by the compiler. Each library of ours publishes an include
# root of its own that holds only its folders (symlinks into the source tree), and the source
# root itself is on no include path of ours. A file therefore sees the headers of the libraries
# its library links and no others: an include of a layer it does not link fails to compile, so
# the link graph is the layering.

# llorch_headers(TARGET PATH...) publishes PATHs (folders or single headers, relative to the
# source root) to TARGET's own sources and to everything that links TARGET.
function(llorch_headers target)
  set(root ${CMAKE_BINARY_DIR}/include/${target})
  foreach(path IN LISTS ARGN)
    cmake_path(GET path PARENT_PATH parent)
    file(MAKE_DIRECTORY ${root}/${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${path} ${root}/${path} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC ${root})
endfunction()

# llorch_refused_include(TARGET HEADER) adds a test that compiles `#include "HEADER"` with the
# include path of TARGET's own sources, and passes only when the compiler cannot find HEADER.
function(llorch_refused_include target header)
  string(MAKE_C_IDENTIFIER "${target}_${header}" name)
  set(source ${CMAKE_CURRENT_BINARY_DIR}/refused_includes/${name}.cc)
  file(CONFIGURE OUTPUT ${source} CONTENT "#include \"${header}\"\n")
  add_library(refused_${name} OBJECT EXCLUDE_FROM_ALL ${source})
  target_include_directories(refused_${name}
                             PRIVATE $<TARGET_PROPERTY:${target},INCLUDE_DIRECTORIES>)
  add_test(NAME layering_${name}
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target refused_${name})
  # Builds in this tree run one at a time (ninja keeps one log per tree).
  set_tests_properties(layering_${name} PROPERTIES
    LABELS unit RESOURCE_LOCK build_tree
    PASS_REGULAR_EXPRESSION "${header}: No such file or directory")
endfunction()
