# troupe-soak --inject-hang: one handler waits forever. The watchdog must
# name the actor and dump the fibers (one blocked with no deadline), and the
# run must exit 1 (a violation), not hang and not pass.
execute_process(COMMAND ${SOAK} --seconds 8 --seed 3 --inject-hang 1 --stall-seconds 3 --late-bound-ms 2000
                        --rate 2000
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
set(all "${out}\n${err}")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "troupe-soak --inject-hang exited with ${rc}, expected 1\n${all}")
endif()
string(REGEX MATCH "inject-hang: (worker#[0-9]+) will wait forever" injected "${all}")
set(victim "${CMAKE_MATCH_1}")
string(REGEX MATCH "${victim}: in one handler for [0-9.]+ s \\(begun on fiber ([0-9]+)\\)" named "${all}")
set(fiber "${CMAKE_MATCH_1}")
string(REGEX MATCH "\nfiber ${fiber}: blocked \\(no deadline\\)" dumped "${all}")
if(NOT injected OR NOT named OR NOT dumped)
  message(FATAL_ERROR "the watchdog did not name the hung actor or dump its fiber\n${all}")
endif()
