# Install rules and the package config, so that a user's project can do
#
#   find_package(troupe 0.1 CONFIG REQUIRED)   # optionally COMPONENTS runtime actors
#   target_link_libraries(app PRIVATE troupe::troupe)
#
# with the same target names as in this tree: troupe::runtime,
# troupe::actors, troupe::troupe. Only public headers (each layer's include/)
# are installed; src/ and troupe_internal never are. Nothing is written to the
# user package registry.
include(CMakePackageConfigHelpers)

set(TROUPE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/troupe"
    CACHE STRING "Where troupeConfig.cmake is installed, relative to the prefix")
mark_as_advanced(TROUPE_INSTALL_CMAKEDIR)

install(TARGETS troupe_runtime troupe_actors troupe
  EXPORT troupeTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT troupe_development
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT troupe_runtime
    NAMELINK_COMPONENT troupe_development
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT troupe_runtime
  FILE_SET HEADERS DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT troupe_development)

install(EXPORT troupeTargets
  NAMESPACE troupe::
  DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
  COMPONENT troupe_development)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/troupeConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
  INSTALL_DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
  NO_SET_AND_CHECK_MACRO)
# 0.x: every 0.y is "the same major version"; API changes before 1.0 are
# announced in the release notes.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
    "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
    "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
  DESTINATION "${TROUPE_INSTALL_CMAKEDIR}"
  COMPONENT troupe_development)
