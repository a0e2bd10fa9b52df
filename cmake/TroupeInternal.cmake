# Build settings that are troupe's own business, in one place.
#
# troupe_internal: an INTERFACE target with the warnings. Every troupe target
# links it PRIVATELY, so none of it reaches a user's project. It is never
# installed or exported: installed static libraries link it as
# $<BUILD_INTERFACE:troupe_internal>, which keeps it out of troupeTargets.cmake.
add_library(troupe_internal INTERFACE)
target_compile_options(troupe_internal INTERFACE -Wall -Wextra -Wpedantic)

# Sanitizers (TROUPE_SANITIZER). This is the one piece of directory-wide state:
# the flags must reach every object and every link in the tree (libraries,
# tests, benchmarks, samples), including targets that do not link
# troupe_internal, or the instrumented and uninstrumented code would disagree.
# The runtime announces fiber switches to the sanitizer when it sees one
# (TROUPE_ASAN / TROUPE_TSAN in troupe/runtime/detail/platform.hpp).
#
# 'fuzzer' (clang only, the `asan` preset): ASan+UBSan, plus libFuzzer's
# coverage instrumentation on every object (-fsanitize=fuzzer-no-link), so
# the library code a fuzz target drives guides the fuzzer. Only the fuzz
# targets link libFuzzer itself (-fsanitize=fuzzer, fuzz/CMakeLists.txt).
if(TROUPE_SANITIZER STREQUAL "address")
  set(_troupe_san_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(TROUPE_SANITIZER STREQUAL "thread")
  set(_troupe_san_flags -fsanitize=thread -fno-omit-frame-pointer)
elseif(TROUPE_SANITIZER STREQUAL "fuzzer")
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TROUPE_SANITIZER=fuzzer needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: "
                        "use the `asan` preset")
  endif()
  set(_troupe_san_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(-fsanitize=fuzzer-no-link)
elseif(NOT TROUPE_SANITIZER STREQUAL "")
  message(FATAL_ERROR "TROUPE_SANITIZER must be '', 'address', 'thread' or 'fuzzer', not '${TROUPE_SANITIZER}'")
endif()
if(_troupe_san_flags)
  message(STATUS "troupe: sanitizer build (${TROUPE_SANITIZER}): ${_troupe_san_flags}")
  add_compile_options(${_troupe_san_flags})
  add_link_options(${_troupe_san_flags})
endif()
