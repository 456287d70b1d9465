# The 1.0 caller (old_caller, built against the frozen header) must print the same records as
# probex-audit --json of this build for the same bundle and models, timings aside.
#   cmake -DOLD_CALLER=... -DAUDIT=... -DBUNDLE=... -DMODELS="a;b;c" -P compare_old_caller.cmake
execute_process(COMMAND ${OLD_CALLER} ${BUNDLE} ${MODELS} OUTPUT_VARIABLE old RESULT_VARIABLE old_code ERROR_VARIABLE old_err)
if(NOT old_code EQUAL 0)
  message(FATAL_ERROR "old_caller failed (${old_code}): ${old_err}")
endif()
execute_process(COMMAND ${AUDIT} ${BUNDLE} ${MODELS} --json OUTPUT_VARIABLE current ERROR_QUIET)
string(REGEX REPLACE ",\"seconds\":({[^}]*}|null)" "" old "${old}")
string(REGEX REPLACE ",\"seconds\":({[^}]*}|null)" "" current "${current}")
# Fields a 1.0 caller's result cannot hold (1.3: the routing band and the layer's rounding) are null in its
# records; its route_outcome is its tree's.
string(REGEX REPLACE "\"route_band\":(\\[[^]]*\\]|null),\"layer_rounding\":[^,]*," "\"route_band\":null,\"layer_rounding\":null," current "${current}")
if(NOT old STREQUAL current)
  message(FATAL_ERROR "the 1.0 caller's records differ from probex-audit --json:\n--- 1.0 caller\n${old}--- probex-audit\n${current}")
endif()
string(REGEX MATCHALL "\n" lines "${old}")
list(LENGTH lines n)
message(STATUS "${old_err}the 1.0 caller's ${n} records equal probex-audit --json")
