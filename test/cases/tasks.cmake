# Every case of tasks-cases.jsonl (checked against the Obsidian Tasks
# plugin's own engine) through `quipu eval-tasks`; tasks_check.py compares
# each result with the case's expectation and prints the failing ids.
if(TARGET quipu-cli)
  add_test(NAME cases.tasks
           COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/cases/tasks_check.py
                   $<TARGET_FILE:quipu-cli> ${CMAKE_CURRENT_SOURCE_DIR}/cases/tasks-cases.jsonl)
  set_tests_properties(cases.tasks PROPERTIES LABELS cases TIMEOUT 600
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()
