# End-to-end tests of blackoutfs through real syscalls on a real mount.
# Included from fusefs/control/CMakeLists.txt (these files belong to the
# filesystem's owners; harness/e2e/ also holds the harness's own e2e tests).
set(_e2e ${PROJECT_SOURCE_DIR}/harness/e2e)
foreach(_t crash_table posix programs bad_input)
  blackout_add_test(fusefs_${_t}_test SOURCES ${_e2e}/fusefs_${_t}_test.cc
    LIBS nlohmann_json::nlohmann_json FUSE TIMEOUT 300)
  # The tests drive build/blackout; build it with them.
  add_dependencies(fusefs_${_t}_test blackout)
endforeach()
