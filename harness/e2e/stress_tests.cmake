# The short stress test (issue 10 item 1); scripts/stress runs the long one.
# Included from fuzz/CMakeLists.txt.
blackout_add_test(stress_test SOURCES ${PROJECT_SOURCE_DIR}/harness/e2e/stress_test.cc
  LIBS nlohmann_json::nlohmann_json FUSE TIMEOUT 120)
add_dependencies(stress_test blackout)

# Faults in the harness itself (issue 10 item 4).
blackout_add_test(reliability_test SOURCES ${PROJECT_SOURCE_DIR}/harness/e2e/reliability_test.cc
  LIBS nlohmann_json::nlohmann_json FUSE TIMEOUT 300)
add_dependencies(reliability_test blackout)
