# `blackout record` / `blackout explore` (harness/record.h), included from
# harness/CMakeLists.txt.
add_library(blackout_record STATIC
  ${CMAKE_CURRENT_LIST_DIR}/record.cc ${CMAKE_CURRENT_LIST_DIR}/record_commands.cc)
target_link_libraries(blackout_record PUBLIC blackout_harness blackout_model)
target_link_libraries(blackout_cli_commands INTERFACE blackout_record)

blackout_add_test(harness_record_explore_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/e2e/record_explore_test.cc
                  LIBS nlohmann_json::nlohmann_json FUSE TIMEOUT 180)
