# links-cases.jsonl (a copy of shared/spec/links-cases.jsonl): Obsidian's
# link resolution, backlinks and unlinked mentions, replayed against the
# engine by test/cases/links_cases.c.
add_executable(links_cases ${CMAKE_CURRENT_SOURCE_DIR}/cases/links_cases.c)
target_link_libraries(links_cases PRIVATE quipu PkgConfig::JANSSON PkgConfig::CMARK)
add_test(NAME cases.links
         COMMAND ${QP_WRAP} $<TARGET_FILE:links_cases> ${CMAKE_CURRENT_SOURCE_DIR}/cases/links-cases.jsonl)
set_tests_properties(cases.links PROPERTIES LABELS cases TIMEOUT 300)
# parity-cases.jsonl: the same format, quipu's own cases for what issue 16
# found on real vaults (excluded files, code spans in links, escapes, %%
# comment blocks).
add_test(NAME cases.parity
         COMMAND ${QP_WRAP} $<TARGET_FILE:links_cases> ${CMAKE_CURRENT_SOURCE_DIR}/cases/parity-cases.jsonl)
set_tests_properties(cases.parity PROPERTIES LABELS cases TIMEOUT 300)
