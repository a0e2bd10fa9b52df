# cmake -DCXX=<compiler> -DSOURCE=<file> -DINCLUDES=<dir;dir> -DEXPECT=<regex> -P compile_fail.cmake
# Passes when compiling SOURCE fails with a diagnostic matching EXPECT.
set(args -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND args "-I${dir}")
endforeach()
execute_process(COMMAND "${CXX}" ${args} "${SOURCE}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must be refused")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE} was refused, but not with a message matching '${EXPECT}':\n${err}")
endif()
message(STATUS "refused as expected: ${EXPECT}")
