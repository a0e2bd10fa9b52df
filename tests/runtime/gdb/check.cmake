# Runs gdb_target under gdb with scripts/troupe-gdb.py and checks what
# troupe-fibers shows: the three fibers blocked on the gate, each with
# wait_for_the_gate on its stack.
#   cmake -DGDB=... -DTARGET=... -DSCRIPT=... -P check.cmake
execute_process(
  COMMAND ${GDB} -q -batch -nx
          -ex "source ${SCRIPT}"
          -ex "break troupe_gdb_stop_here"
          -ex "run"
          -ex "troupe-fibers bt"
          -ex "continue"
          ${TARGET}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gdb exited with ${rc}")
endif()
string(REGEX MATCH "troupe-fibers: 0 running, 3 blocked, [0-9]+ suspended" summary "${out}")
if(NOT summary)
  message(FATAL_ERROR "troupe-fibers did not list the three blocked fibers")
endif()
string(REGEX MATCHALL "in wait_for_the_gate" frames "${out}")
list(LENGTH frames n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "expected wait_for_the_gate on 3 fiber stacks, saw ${n}")
endif()
if(NOT out MATCHES "gdb_target: 3 passed the gate")
  message(FATAL_ERROR "the program did not finish normally after inspection")
endif()
