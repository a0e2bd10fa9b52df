# The CTest test of one failure-story sample (troupe_add_sample): runs it in
# quick mode with --json, then sample_headline_check on what it wrote. The
# test asserts the headline's direction (and CHECK_ARGS), never a timing.
#   cmake -DSAMPLE=<exe> -DCHECK=<sample_headline_check> -DJSON=<file>
#         "-DARGS=<extra sample args>" "-DCHECK_ARGS=<checker args>" -P run_sample.cmake
file(REMOVE "${JSON}")
execute_process(COMMAND "${SAMPLE}" --quick --json "${JSON}" ${ARGS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SAMPLE} --quick exited with ${rc}")
endif()
execute_process(COMMAND "${CHECK}" "${JSON}" ${CHECK_ARGS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the headline check failed (${rc})")
endif()
