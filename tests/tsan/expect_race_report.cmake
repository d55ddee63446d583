# Runs PROGRAM (tests/tsan/data_race.cc) and passes only if ThreadSanitizer reported its race and
# the run failed because of it: a report alone, or a failure alone (e.g. a crash), does not pass.
execute_process(COMMAND ${PROGRAM} RESULT_VARIABLE exit_code OUTPUT_QUIET ERROR_VARIABLE report)
if(exit_code EQUAL 0 OR NOT report MATCHES "WARNING: ThreadSanitizer: data race"
   OR NOT report MATCHES "WriteUnguarded")
  message(FATAL_ERROR "expected a data race report on WriteUnguarded and a failing exit code, "
                      "got exit code ${exit_code} and:\n${report}")
endif()
message(STATUS "the race failed the run (exit code ${exit_code}) with a report")
