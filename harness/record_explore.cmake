# `blackout record` / `blackout explore` (harness/record.h), included from
# harness/CMakeLists.txt.
# The sync guard (harness/sync_guard.h): its own library, since exec
# workloads (blackout_harness) and record both start commands under it.
add_library(blackout_sync_guard STATIC ${CMAKE_CURRENT_LIST_DIR}/sync_guard.cc)
target_link_libraries(blackout_sync_guard
  PUBLIC nlohmann_json::nlohmann_json CLI11::CLI11 blackout_control)
target_link_libraries(blackout_harness PUBLIC blackout_sync_guard)

add_library(blackout_record STATIC
  ${CMAKE_CURRENT_LIST_DIR}/record.cc ${CMAKE_CURRENT_LIST_DIR}/record_commands.cc)
target_link_libraries(blackout_record PUBLIC blackout_harness blackout_model blackout_reports)
target_link_libraries(blackout_cli_commands INTERFACE blackout_record)

blackout_add_test(harness_record_explore_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/e2e/record_explore_test.cc
                  LIBS blackout_harness nlohmann_json::nlohmann_json FUSE TIMEOUT 180)

# sync(2)/syncfs(2) of guarded commands reach the mount; the helper is static
# because the guard must cover programs without a shared libc.
add_executable(syncfs_helper ${CMAKE_CURRENT_LIST_DIR}/e2e/syncfs_helper.c)
if(NOT BLACKOUT_SANITIZE AND NOT BLACKOUT_FUZZ)  # their runtimes do not link statically
  target_link_options(syncfs_helper PRIVATE -static)
endif()
blackout_add_test(harness_sync_guard_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/e2e/sync_guard_test.cc
                  LIBS nlohmann_json::nlohmann_json FUSE TIMEOUT 180)
add_dependencies(harness_sync_guard_test syncfs_helper blackout)
set_property(TEST harness_sync_guard_test APPEND PROPERTY ENVIRONMENT
             "SYNCFS_HELPER=$<TARGET_FILE:syncfs_helper>")
