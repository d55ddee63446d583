# Writes llorch-pool's manual page: `cmake -DPROGRAM=<llorch-pool> -DOUTPUT=<file> -P this`.
# The page comes from the command tree (`llorch-pool __man`, client/man_page.h).
execute_process(COMMAND ${PROGRAM} __man OUTPUT_FILE ${OUTPUT}.tmp RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} __man failed: ${result}")
endif()
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
