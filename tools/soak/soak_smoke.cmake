# Runs troupe-soak for a few seconds: it must exit 0 (every invariant held),
# and its JSON summary must show that it did inject faults, handle messages,
# complete asks and check invariants (a run that did nothing proves nothing).
execute_process(COMMAND ${SOAK} --seconds 5 --seed 42 --progress-seconds 1 --stall-seconds 30 --late-bound-ms 2000
                        --json ${JSON}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "troupe-soak exited with ${rc}")
endif()
file(READ ${JSON} summary)
foreach(field messages handled faults_injected invariant_checks)
  string(JSON value GET "${summary}" ${field})
  if(value LESS_EQUAL 0)
    message(FATAL_ERROR "troupe-soak summary: ${field} is ${value}")
  endif()
endforeach()
string(JSON asks GET "${summary}" asks completed)
string(JSON trips GET "${summary}" system restarts)
if(asks LESS_EQUAL 0 OR trips LESS_EQUAL 0)
  message(FATAL_ERROR "troupe-soak summary: ${asks} asks completed, ${trips} restarts")
endif()
string(JSON violations GET "${summary}" violations_total)
if(NOT violations EQUAL 0)
  message(FATAL_ERROR "troupe-soak summary: ${violations} violations")
endif()
