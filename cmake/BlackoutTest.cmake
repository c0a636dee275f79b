# blackout_add_test(NAME SOURCES a_test.cc ... LIBS lib ... [FUSE] [TIMEOUT s])
#
# Adds a Catch2 (v2) test binary beside the code it tests and registers it with
# CTest. FUSE marks an end-to-end test that mounts a filesystem: it carries the
# label `fuse`, and exit code 77 (no /dev/fuse) is reported as "skipped".
function(blackout_add_test name)
  cmake_parse_arguments(T "FUSE" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE blackout_catch_main ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  set(labels unit)
  if(T_FUSE)
    set(labels fuse)
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "BLACKOUT_BIN=$<TARGET_FILE:blackout>;BLACKOUT_SOURCE_DIR=${PROJECT_SOURCE_DIR};BLACKOUT_SHARED_DIR=${BLACKOUT_SHARED_DIR}")
endfunction()
