# Installation and the Debian package (included at the end of the top-level
# CMakeLists.txt).
#
#   cmake --install BUILD [--prefix /usr/local]
#     bin/blackout
#     share/blackout/schema.json             the scenario format (JSON Schema)
#     share/blackout/scenarios/...           the suite; its files refer to ../schema.json
#     share/man/man1/blackout.1.gz
#     share/bash-completion/completions/blackout
#     share/doc/blackout/                    README.md, tutorial.md, lazyfs.md, ci.md
#   cpack -G DEB   (from BUILD) -> blackout_VERSION_ARCH.deb
include(GNUInstallDirs)

# `cmake --install` and cpack install what is built; without this their
# preinstall step would first build every target (all the tests and
# benchmarks), which takes longer than the packaging test may.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(BLACKOUT_VERSION 0.1.0)

install(TARGETS blackout RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/scenarios/schema.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/blackout)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/scenarios/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/blackout/scenarios
        PATTERN "__pycache__" EXCLUDE
        PATTERN "*.pyc" EXCLUDE)

# Debian wants man pages compressed (policy 12.1); gzip runs at install time
# so that nothing has to be built for it. -n keeps the archive identical from
# build to build (no name or time stamp inside).
set(BLACKOUT_MAN_DIR ${CMAKE_INSTALL_MANDIR}/man1)
install(CODE "
  set(man_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${BLACKOUT_MAN_DIR}\")
  file(MAKE_DIRECTORY \"\${man_dir}\")
  message(STATUS \"Installing: \${man_dir}/blackout.1.gz\")
  execute_process(COMMAND gzip -9n -c \"${PROJECT_SOURCE_DIR}/docs/man/blackout.1\"
                  OUTPUT_FILE \"\${man_dir}/blackout.1.gz\" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR \"gzip of docs/man/blackout.1 failed\")
  endif()")

install(FILES ${PROJECT_SOURCE_DIR}/docs/completion/blackout.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME blackout)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/tutorial.md
        ${PROJECT_SOURCE_DIR}/docs/lazyfs.md ${PROJECT_SOURCE_DIR}/docs/ci.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The .deb. Library dependencies come from dpkg-shlibdeps on the installed
# binary (libfuse3-3, libspdlog, libfmt, zlib, libstdc++, libc); fuse3 is
# added by hand because the mount needs its fusermount3, which no library
# link reveals.
set(CPACK_PACKAGE_NAME blackout)
set(CPACK_PACKAGE_VERSION ${BLACKOUT_VERSION})
set(CPACK_PACKAGE_CONTACT "blackout developers <blackout@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "crash-consistency test harness: a FUSE filesystem that loses power like a real disk")
set(CPACK_PACKAGE_DESCRIPTION
    "blackout runs a storage engine or any program on blackoutfs, a FUSE filesystem that keeps \
un-synced writes and directory entries as volatile state, cuts power (or kills the process), \
recovers, checks the program's durability contract and reports which missing fsync lost data.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
# exec scenarios in share/blackout/scenarios run Python and SQLite.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3, sqlite3")
set(CPACK_GENERATOR DEB)
include(CPack)

add_test(NAME packaging_install_and_deb
  COMMAND ${PROJECT_SOURCE_DIR}/cmake/packaging_test.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(packaging_install_and_deb PROPERTIES LABELS packaging TIMEOUT 300)

# docs/tutorial.md runs as its reader would run it (docs/tutorial_test.sh).
add_test(NAME docs_tutorial
  COMMAND ${PROJECT_SOURCE_DIR}/docs/tutorial_test.sh $<TARGET_FILE:blackout>
          ${PROJECT_SOURCE_DIR}/docs/tutorial.md)
set_tests_properties(docs_tutorial PROPERTIES LABELS fuse SKIP_RETURN_CODE 77 TIMEOUT 300)
