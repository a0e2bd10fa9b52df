# Findxxhash: xxHash (Debian: libxxhash-dev), which ships no CMake package.
#
# Defines
#   xxhash_FOUND, xxhash_INCLUDE_DIR, xxhash_LIBRARY
#   xxhash::headers  the header only, for XXH_INLINE_ALL use (no link dependency)
#   xxhash::xxhash   the library and its header, when the library was found
#
# troupe's patterns layer uses xxhash::headers with XXH_INLINE_ALL inside one
# source file, linked as $<BUILD_INTERFACE:...>: the hash is compiled into
# libtroupe_patterns, so an installed troupe needs no xxHash at all.
find_path(xxhash_INCLUDE_DIR NAMES xxhash.h)
find_library(xxhash_LIBRARY NAMES xxhash)
if(xxhash_INCLUDE_DIR AND EXISTS "${xxhash_INCLUDE_DIR}/xxhash.h")
  file(STRINGS "${xxhash_INCLUDE_DIR}/xxhash.h" _xxh_lines REGEX "^#define XXH_VERSION_(MAJOR|MINOR|RELEASE) ")
  foreach(_part MAJOR MINOR RELEASE)
    string(REGEX REPLACE ".*XXH_VERSION_${_part} +([0-9]+).*" "\\1" _xxh_${_part} "${_xxh_lines}")
  endforeach()
  set(xxhash_VERSION "${_xxh_MAJOR}.${_xxh_MINOR}.${_xxh_RELEASE}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(xxhash
  REQUIRED_VARS xxhash_INCLUDE_DIR
  VERSION_VAR xxhash_VERSION)
mark_as_advanced(xxhash_INCLUDE_DIR xxhash_LIBRARY)

if(xxhash_FOUND AND NOT TARGET xxhash::headers)
  add_library(xxhash::headers INTERFACE IMPORTED)
  set_target_properties(xxhash::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${xxhash_INCLUDE_DIR}")
endif()
if(xxhash_FOUND AND xxhash_LIBRARY AND NOT TARGET xxhash::xxhash)
  add_library(xxhash::xxhash UNKNOWN IMPORTED)
  set_target_properties(xxhash::xxhash PROPERTIES
    IMPORTED_LOCATION "${xxhash_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${xxhash_INCLUDE_DIR}")
endif()
