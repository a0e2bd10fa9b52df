# Runs the Java reader test (CMakeLists.txt here): troupe writes a log and its
# expected figures, HdrHistogram's Java library reads the log, the two
# reports must be equal line for line.

foreach(var JAVA JAVAC JAR)
  if(NOT ${var} OR ${var} MATCHES "NOTFOUND$")
    message(FATAL_ERROR "HistogramJavaReader: ${var} not found; install default-jdk-headless and "
                        "libhdrhistogram-java (scripts/setup.sh), then reconfigure")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "HistogramJavaReader: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

run("troupe's hdr_log_writer" "${WRITER}" "${WORK}")
run("javac" "${JAVAC}" -cp "${JAR}" -d "${WORK}" "${SOURCE}")

function(compare name expected)
  run("java HdrLogReader ${ARGN}" "${JAVA}" -cp "${WORK}:${JAR}" HdrLogReader ${ARGN})
  file(WRITE "${WORK}/java_${name}.txt" "${run_output}")
  execute_process(COMMAND diff -u "${expected}" "${WORK}/java_${name}.txt"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE diff)
  if(NOT rc EQUAL 0)
    string(SUBSTRING "${diff}" 0 6000 diff)
    message(FATAL_ERROR "HistogramJavaReader: HdrHistogram's ${name} differs from troupe's "
                        "(- troupe, + Java):\n${diff}")
  endif()
  file(STRINGS "${expected}" lines)
  list(LENGTH lines n)
  message(STATUS "HistogramJavaReader: ${name}: ${n} lines equal")
endfunction()

compare(read "${WORK}/expected_read.txt" read "${WORK}/troupe.hlog")
compare(layouts "${WORK}/expected_layouts.txt" layout "${WORK}/layouts.txt")
