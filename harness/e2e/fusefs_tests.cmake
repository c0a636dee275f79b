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

# The POSIX tests again with every mount served through /dev/fuse
# (`blackout mount --dev-fuse`): the default is FUSE's io_uring transport
# where the kernel has it, and tests that ask for --io-uring keep it.
add_test(NAME fusefs_posix_dev_fuse_test COMMAND fusefs_posix_test)
set_tests_properties(fusefs_posix_dev_fuse_test PROPERTIES LABELS fuse SKIP_RETURN_CODE 77
  TIMEOUT 300
  ENVIRONMENT "BLACKOUT_BIN=$<TARGET_FILE:blackout>;BLACKOUT_SOURCE_DIR=${PROJECT_SOURCE_DIR};BLACKOUT_SHARED_DIR=${BLACKOUT_SHARED_DIR};BLACKOUT_E2E_MOUNT_ARGS=--dev-fuse")
