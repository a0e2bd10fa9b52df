# Install rules and the package config, so that a user's project can do
#
#   find_package(troupe 0.1 CONFIG REQUIRED [COMPONENTS runtime actors ...])
#   target_link_libraries(app PRIVATE troupe::troupe)
#
# with the same target names as in this tree. Every layer of troupe_add_layer
# is a component with its own export file (troupe_<layer>Targets.cmake), so
# an optional layer's external dependencies are looked for only when that
# component is asked for. Only public headers (each layer's include/) are
# installed; src/ and troupe_internal never are. Nothing is written to the
# user package registry.
include(CMakePackageConfigHelpers)

set(TROUPE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/troupe"
    CACHE STRING "Where troupeConfig.cmake is installed, relative to the prefix")
mark_as_advanced(TROUPE_INSTALL_CMAKEDIR)

get_property(_troupe_layers GLOBAL PROPERTY TROUPE_LAYERS)
set(TROUPE_PACKAGE_LAYERS "")
set(TROUPE_PACKAGE_LAYER_DEPS "")
foreach(_layer IN LISTS _troupe_layers)
  install(TARGETS troupe_${_layer}
    EXPORT troupe_${_layer}Targets
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT troupe_development
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT troupe_runtime
      NAMELINK_COMPONENT troupe_development
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT troupe_runtime
    FILE_SET HEADERS DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT troupe_development)
  install(EXPORT troupe_${_layer}Targets
    NAMESPACE troupe::
    DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
    COMPONENT troupe_development)
  # For the config: the layer, the layers it needs, and its packages.
  get_property(_deps GLOBAL PROPERTY TROUPE_LAYER_${_layer}_DEPS)
  get_property(_packages GLOBAL PROPERTY TROUPE_LAYER_${_layer}_PACKAGES)
  string(APPEND TROUPE_PACKAGE_LAYERS "set(_troupe_layer_deps_${_layer} \"${_deps}\")\n")
  string(APPEND TROUPE_PACKAGE_LAYERS "set(_troupe_layer_packages_${_layer} \"${_packages}\")\n")
  list(APPEND TROUPE_PACKAGE_LAYER_NAMES ${_layer})
endforeach()

install(TARGETS troupe EXPORT troupe_umbrellaTargets
  FILE_SET HEADERS DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT troupe_development)
install(EXPORT troupe_umbrellaTargets
  NAMESPACE troupe::
  DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
  COMPONENT troupe_development)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/troupeConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
  INSTALL_DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
  NO_SET_AND_CHECK_MACRO)
# 0.x: every 0.y is "the same major version"; API changes before 1.0 are
# announced in CHANGELOG.md.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
    "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
    "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
  DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
  COMPONENT troupe_development)

# pkg-config: troupe-<layer>.pc per layer, and troupe.pc for the core layers
# (what troupe::troupe links). Paths are relative to the .pc file, so an
# install moved with --prefix still works. C++20 is the user's to ask for
# (-std=c++20), as with any C++20 library.
set(_troupe_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
file(RELATIVE_PATH _troupe_pc_to_prefix "/prefix/${_troupe_pc_dir}" "/prefix")
foreach(_layer IN LISTS _troupe_layers)
  get_property(_deps GLOBAL PROPERTY TROUPE_LAYER_${_layer}_DEPS)
  get_property(_pc_libs GLOBAL PROPERTY TROUPE_LAYER_${_layer}_PKGCONFIG_LIBS)
  get_property(_header_only GLOBAL PROPERTY TROUPE_LAYER_${_layer}_HEADER_ONLY)
  get_property(_pc_requires GLOBAL PROPERTY TROUPE_LAYER_${_layer}_PKGCONFIG_REQUIRES)
  list(TRANSFORM _deps PREPEND "troupe-")
  list(APPEND _deps ${_pc_requires})
  list(JOIN _deps ", " _requires)
  set(_libs "")
  if(NOT _header_only)
    set(_libs "-L\${libdir} -ltroupe_${_layer}")
  endif()
  list(JOIN _pc_libs " " _pc_libs)
  # The runtime's public definitions must reach every consumer (the other
  # layers require troupe-runtime, so they inherit it).
  set(_cflags "-I\${includedir}")
  if(_layer STREQUAL "runtime")
    if(TROUPE_TRACE_HOOKS)
      string(APPEND _cflags " -DTROUPE_TRACE_HOOKS=1")
    else()
      string(APPEND _cflags " -DTROUPE_TRACE_HOOKS=0")
    endif()
  endif()
  file(GENERATE OUTPUT "${PROJECT_BINARY_DIR}/pkgconfig/troupe-${_layer}.pc" CONTENT
"prefix=\${pcfiledir}/${_troupe_pc_to_prefix}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: troupe-${_layer}
Description: troupe's ${_layer} layer (find_package(troupe COMPONENTS ${_layer}) for CMake)
Version: ${PROJECT_VERSION}
Requires: ${_requires}
Cflags: ${_cflags}
Libs: ${_libs} ${_pc_libs} -pthread
")
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/troupe-${_layer}.pc"
    DESTINATION "${_troupe_pc_dir}" COMPONENT troupe_development)
endforeach()
set(_troupe_core_pc ${TROUPE_CORE_LAYERS})
list(TRANSFORM _troupe_core_pc PREPEND "troupe-")
list(JOIN _troupe_core_pc ", " _troupe_core_pc)
file(GENERATE OUTPUT "${PROJECT_BINARY_DIR}/pkgconfig/troupe.pc" CONTENT
"Name: troupe
Description: an embedded actor runtime for one multicore machine (core layers: ${TROUPE_CORE_LAYERS})
Version: ${PROJECT_VERSION}
Requires: ${_troupe_core_pc}
")
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/troupe.pc"
  DESTINATION "${_troupe_pc_dir}" COMPONENT troupe_development)
