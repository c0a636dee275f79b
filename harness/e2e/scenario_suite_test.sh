#!/usr/bin/env bash
# The product's main promise as a test: every scenario in scenarios/ (seed
# findings, fixed twins, holes, exploration, faults, exec programs) comes out
# as its `expect` block says, and validates first. Needs /dev/fuse.
#   scenario_suite_test.sh BLACKOUT_BIN SOURCE_DIR OUT_DIR
set -u
bin=$1 src=$2 out=$3
if [ ! -e /dev/fuse ]; then
  echo "skipped: /dev/fuse is missing, the suite mounts blackoutfs"
  exit 77
fi
"$bin" validate "$src/scenarios" >/dev/null || { echo "scenarios/ does not validate"; exit 1; }
rm -rf "$out"
"$bin" run "$src/scenarios" --out "$out" --jobs 2 --quiet --no-color
rc=$?
if [ $rc -ne 0 ]; then
  echo "scenario suite exit $rc; report: $out/report.md"
  echo "reproduce: $bin run $src/scenarios --out $out"
  sed -n '1,40p' "$out/report.md" 2>/dev/null
fi
exit $rc
