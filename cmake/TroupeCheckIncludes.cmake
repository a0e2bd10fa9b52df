# cmake -DDIR=<layer>/include -P TroupeCheckIncludes.cmake
#
# Fails if a public header includes a private one: a path through src/ or
# internal/, or one that climbs out of include/ with "../". Run as a CTest
# test by every layer (see troupe_add_layer).
if(NOT DIR)
  message(FATAL_ERROR "TroupeCheckIncludes: pass -DDIR=<include folder>")
endif()
file(GLOB_RECURSE headers "${DIR}/*.hpp" "${DIR}/*.h")
set(bad 0)
foreach(header IN LISTS headers)
  file(STRINGS "${header}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(line IN LISTS lines)
    if(line MATCHES "[<\"](([^\">]*/)?(src|internal)/|[^\">]*\\.\\./)")
      message(SEND_ERROR "${header}: public header includes a private one: ${line}")
      math(EXPR bad "${bad} + 1")
    endif()
  endforeach()
endforeach()
list(LENGTH headers count)
if(bad)
  message(FATAL_ERROR "${bad} private include(s) in public headers")
endif()
message(STATUS "${count} public headers in ${DIR}: no private includes")
