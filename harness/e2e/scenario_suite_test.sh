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
  exit $rc
fi
# A report reads the same in every run: the recoveries' messages name the
# crash state's files relative to it, not under a temporary directory.
for f in report.json report.md junit.xml report.html; do
  if grep -q "blackout-run-\|/blackout-state/" "$out/$f"; then
    echo "$out/$f names a temporary directory of the run:"
    grep -o ".\{60\}\(blackout-run-\|/blackout-state/\).\{40\}" "$out/$f" | head -3
    exit 1
  fi
done
exit 0
