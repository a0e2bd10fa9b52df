# Misuse that must not compile (docs/misuse.md): each source is compiled
# with the project's compiler and must fail with a diagnostic matching its
# pattern, the constraint a user should see (same text for g++ and clang).
set(_troupe_compile_fail_cases
  "send_unhandled|handles<"
  "ask_unhandled|handles<"
  "monitor_without_down|handles<.*down"
  "periodic_move_only|is_copy_constructible"
  "spawn_non_actor|is_base_of")
foreach(_case IN LISTS _troupe_compile_fail_cases)
  string(REPLACE "|" ";" _parts "${_case}")
  list(GET _parts 0 _name)
  list(GET _parts 1 _expect)
  add_test(NAME actors_misuse_compile_fail_${_name}
           COMMAND ${CMAKE_COMMAND} -DCXX=${CMAKE_CXX_COMPILER}
                   -DSOURCE=${CMAKE_CURRENT_LIST_DIR}/${_name}.cpp
                   "-DINCLUDES=${PROJECT_SOURCE_DIR}/runtime/include;${PROJECT_SOURCE_DIR}/actors/include"
                   "-DEXPECT=${_expect}"
                   -P ${CMAKE_CURRENT_LIST_DIR}/compile_fail.cmake)
  set_tests_properties(actors_misuse_compile_fail_${_name} PROPERTIES LABELS actors)
endforeach()
