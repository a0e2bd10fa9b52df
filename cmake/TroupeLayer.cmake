# troupe_add_layer: everything a library layer needs, in one call.
#
#   troupe_add_layer(<name> DIR <folder>
#                    [DEPS <layer>...]            troupe layers below it
#                    [PUBLIC_LIBS <target>...]    external libraries its public headers use
#                    [PRIVATE_LIBS <target>...]   external libraries only its sources use
#                    [PACKAGES <find_dependency args>...]   ';'-separated per package, e.g.
#                                                 "Boost 1.74 COMPONENTS context"
#                    [PKGCONFIG_LIBS <flag>...]   what a pkg-config user links for
#                                                 PRIVATE_LIBS (the libraries are static)
#                    [PKGCONFIG_REQUIRES <module>...]  pkg-config modules for PUBLIC_LIBS
#                    [HEADER_ONLY])
#
# One call gives the layer:
#  - the library troupe_<name> (alias troupe::<name>, export name <name>) from
#    <folder>/src/**.cpp, with <folder>/include as its public include folder;
#  - its tests: tests/<name>/*_test.cpp as troupe_<name>_tests, every gtest
#    case a CTest test labelled <name>;
#  - the header check (TROUPE_CHECK_HEADERS): every public header compiled on
#    its own, twice (include guard), seeing only this layer and the layers
#    below it, so an upward include fails to build; and a CTest test that no
#    public header includes a private one (src/, internal/, "../");
#  - install rules and a package component: find_package(troupe COMPONENTS
#    <name>) re-finds PACKAGES and loads troupe_<name>Targets.cmake; and a
#    pkg-config file troupe-<name>.pc.
#
# Layers must be added bottom-up (a layer's DEPS first).

set(TROUPE_LAYER_SCRIPT_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(troupe_add_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "HEADER_ONLY" "DIR" "DEPS;PUBLIC_LIBS;PRIVATE_LIBS;PACKAGES;PKGCONFIG_LIBS;PKGCONFIG_REQUIRES")
  if(NOT arg_DIR)
    message(FATAL_ERROR "troupe_add_layer(${name}): DIR is required")
  endif()
  set(dir "${PROJECT_SOURCE_DIR}/${arg_DIR}")
  set(target troupe_${name})
  foreach(dep IN LISTS arg_DEPS)
    if(NOT TARGET troupe_${dep})
      message(FATAL_ERROR "troupe_add_layer(${name}): layer '${dep}' must be added first")
    endif()
  endforeach()

  file(GLOB_RECURSE headers CONFIGURE_DEPENDS "${dir}/include/*.hpp")
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS "${dir}/src/*.cpp")
  list(TRANSFORM arg_DEPS PREPEND "troupe::" OUTPUT_VARIABLE dep_targets)

  if(arg_HEADER_ONLY)
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  else()
    add_library(${target} ${sources})
    set(scope PUBLIC)
    set_target_properties(${target} PROPERTIES
      OUTPUT_NAME ${target}
      VERSION ${PROJECT_VERSION}
      SOVERSION ${PROJECT_VERSION_MAJOR})
    target_include_directories(${target} PRIVATE "${dir}/src")
    target_link_libraries(${target} PRIVATE ${arg_PRIVATE_LIBS} $<BUILD_INTERFACE:troupe_internal>)
  endif()
  add_library(troupe::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  target_compile_features(${target} ${scope} cxx_std_20)
  # The HEADERS file set puts include/ on the build-tree include path and,
  # when installed, <prefix>/include on the installed one.
  target_sources(${target} ${scope} FILE_SET HEADERS BASE_DIRS "${dir}/include" FILES ${headers})
  target_link_libraries(${target} ${scope} ${dep_targets} ${arg_PUBLIC_LIBS})

  set_property(GLOBAL APPEND PROPERTY TROUPE_LAYERS ${name})
  set_property(GLOBAL PROPERTY TROUPE_LAYER_${name}_DEPS "${arg_DEPS}")
  set_property(GLOBAL PROPERTY TROUPE_LAYER_${name}_PACKAGES "${arg_PACKAGES}")
  set_property(GLOBAL PROPERTY TROUPE_LAYER_${name}_PKGCONFIG_LIBS "${arg_PKGCONFIG_LIBS}")
  set_property(GLOBAL PROPERTY TROUPE_LAYER_${name}_PKGCONFIG_REQUIRES "${arg_PKGCONFIG_REQUIRES}")
  set_property(GLOBAL PROPERTY TROUPE_LAYER_${name}_HEADER_ONLY ${arg_HEADER_ONLY})

  _troupe_layer_tests(${name} "${dir}")
  _troupe_layer_header_check(${name} "${dir}" "${headers}")
endfunction()

function(_troupe_layer_tests name dir)
  if(NOT TROUPE_BUILD_TESTS)
    return()
  endif()
  file(GLOB tests CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/${name}/*_test.cpp")
  if(NOT tests)
    return()
  endif()
  find_package(GTest REQUIRED)
  include(GoogleTest)
  set(test_target troupe_${name}_tests)
  add_executable(${test_target} ${tests})
  # Tests may include the layer's private headers.
  target_include_directories(${test_target} PRIVATE "${dir}/src" "${PROJECT_SOURCE_DIR}/tests")
  target_link_libraries(${test_target} PRIVATE troupe::${name} GTest::gmock GTest::gtest_main troupe_internal)
  # Per-test timeouts come from the test presets (CMakePresets.json), so they
  # can differ under sanitizers.
  gtest_discover_tests(${test_target} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS ${name})
endfunction()

function(_troupe_layer_header_check name dir headers)
  if(NOT TROUPE_CHECK_HEADERS OR NOT headers)
    return()
  endif()
  set(gen_dir "${CMAKE_CURRENT_BINARY_DIR}/header_check/${name}")
  set(units "")
  foreach(header IN LISTS headers)
    file(RELATIVE_PATH rel "${dir}/include" "${header}")
    string(MAKE_C_IDENTIFIER "${rel}" id)
    set(unit "${gen_dir}/${id}.cpp")
    # Included twice: also catches a missing #pragma once.
    file(CONFIGURE OUTPUT "${unit}" CONTENT "#include <${rel}>\n#include <${rel}>\n")
    list(APPEND units "${unit}")
  endforeach()
  # Linking the layer gives exactly its own include folder, the folders of the
  # layers below it and its public libraries: an upward include fails here.
  add_library(troupe_${name}_header_check OBJECT ${units})
  target_link_libraries(troupe_${name}_header_check PRIVATE troupe::${name} troupe_internal)
  if(TROUPE_BUILD_TESTS)
    add_test(NAME troupe_${name}_public_headers_stay_public
             COMMAND ${CMAKE_COMMAND} -DDIR=${dir}/include -P "${TROUPE_LAYER_SCRIPT_DIR}/TroupeCheckIncludes.cmake")
    set_tests_properties(troupe_${name}_public_headers_stay_public PROPERTIES LABELS ${name})
  endif()
endfunction()
