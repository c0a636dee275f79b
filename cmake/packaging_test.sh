#!/bin/bash
# CTest packaging_install_and_deb: `cmake --install` puts every file where
# cmake/Packaging.cmake says, the installed binary validates an installed
# scenario, the man page names every subcommand and renders without
# warnings, the bash completion completes subcommands and options, and
# `cpack -G DEB` builds a package with those files and the library
# dependencies a fresh Debian 12 needs. The .deb is checked by extracting
# it (dpkg-deb -x) into a temporary root and running the extracted binary:
# installing it with dpkg -i would change the machine the tests run on.
#
# usage: packaging_test.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
tmp=$(mktemp -d /tmp/blackout-pkg-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# 1. cmake --install into a staging prefix.
if ! cmake --install "$build" --prefix "$tmp/root/usr" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL: cmake --install $build --prefix $tmp/root/usr"
  exit 1
fi
check_tree() {  # ROOT: the installed files every install must have
  local root=$1 f
  for f in usr/bin/blackout usr/share/blackout/schema.json \
    usr/share/blackout/scenarios/schema.json \
    usr/share/blackout/scenarios/seed/lsm-wal-missing-fsync-power.json \
    usr/share/blackout/scenarios/exec/records.py \
    usr/share/man/man1/blackout.1.gz usr/share/bash-completion/completions/blackout \
    usr/share/doc/blackout/README.md usr/share/doc/blackout/tutorial.md; do
    [ -e "$root/$f" ] || fail "$root/$f is missing"
  done
  [ -x "$root/usr/bin/blackout" ] || fail "$root/usr/bin/blackout is not executable"
  if find "$root" -name '*_test' -o -name '__pycache__' | grep -q .; then
    fail "test binaries or caches installed: $(find "$root" -name '*_test' -o -name '__pycache__')"
  fi
}
check_tree "$tmp/root"
bin="$tmp/root/usr/bin/blackout"
out=$("$bin" validate "$tmp/root/usr/share/blackout/scenarios/seed" 2>&1) ||
  fail "installed blackout validate share/blackout/scenarios/seed: $out"

# 2. The man page: renders without warnings and has a section per subcommand.
man_src=$src/docs/man/blackout.1
if command -v man >/dev/null; then  # man-db: not in a minimal Debian image
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$tmp/root/usr/share/man/man1/blackout.1.gz" 2>&1 >/dev/null)
  [ -z "$warn" ] || fail "man page warnings: $warn"
fi
subs=$("$bin" --help | awk '/^Subcommands:/ { s = 1; next } /^$/ { s = 0 } s && /^  [a-z]/ { print $1 }')
[ -n "$subs" ] || fail "blackout --help lists no subcommands"
for s in $subs; do
  grep -q "^\.SS \"$s[ \"]" "$man_src" || fail "docs/man/blackout.1 has no .SS section for '$s'"
done

# 3. Bash completion, without the bash-completion package's helpers.
comp() {  # WORDS... : prints the completions of the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _blackout
           printf "%s\n" "${COMPREPLY[@]}"' _ "$tmp/root/usr/share/bash-completion/completions/blackout" "$@"
}
PATH="$tmp/root/usr/bin:$PATH"
comp blackout re | grep -qx record || fail "completion of 'blackout re' lacks record: $(comp blackout re)"
comp blackout run --j | grep -qx -- --jobs || fail "completion of 'blackout run --j' lacks --jobs"
comp blackout mount /tmp/m --model ext | grep -qx ext4-ordered ||
  fail "completion of 'blackout mount --model ext' lacks ext4-ordered"
comp blackout ctl /tmp/m power | grep -qx power-cut || fail "completion of 'blackout ctl MNT power' lacks power-cut"
if comp blackout sy | grep -qx sync-guard; then fail "the hidden sync-guard is completed"; fi

# 4. The .deb.
if ! (cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1); then
  cat "$tmp/cpack.log"
  echo "FAIL: cpack -G DEB in $build"
  exit 1
fi
deb=$(ls "$tmp"/pkg/blackout_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
  fail "cpack made no blackout_*.deb in $tmp/pkg: $(ls "$tmp/pkg")"
else
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  for d in libfuse3-3 fuse3 libc6 libstdc++6 zlib1g; do
    echo "$depends" | grep -q "\b$d\b" || fail "the .deb does not depend on $d: $depends"
  done
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ] ||
    fail "the .deb's architecture is $(dpkg-deb -f "$deb" Architecture)"
  dpkg-deb -x "$deb" "$tmp/deb-root" || fail "dpkg-deb -x $deb"
  check_tree "$tmp/deb-root"
  # Only standard locations: nothing under the build's prefix or /usr/local.
  stray=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | grep -v '^\./usr/\(bin\|share\)\(/\|$\)' | grep -v '^\./\(usr/\)\?$')
  [ -z "$stray" ] || fail "files outside /usr/bin and /usr/share: $stray"
  out=$("$tmp/deb-root/usr/bin/blackout" validate \
    "$tmp/deb-root/usr/share/blackout/scenarios/fixed" 2>&1) ||
    fail "the .deb's blackout validate share/blackout/scenarios/fixed: $out"
  # And runs: one installed exec scenario end to end, when FUSE is here.
  if [ -r /dev/fuse ] && command -v python3 >/dev/null; then
    out=$("$tmp/deb-root/usr/bin/blackout" run --quiet --out "$tmp/run-out" \
      "$tmp/deb-root/usr/share/blackout/scenarios/exec/records-fsync-file-and-dir.json" 2>&1) ||
      fail "the .deb's blackout run scenarios/exec/records-fsync-file-and-dir.json: $out"
  fi
  missing=$(ldd "$tmp/deb-root/usr/bin/blackout" | grep 'not found')
  [ -z "$missing" ] || fail "the .deb's binary lacks libraries: $missing"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s); reproduce: $0 $build $src"
  exit 1
fi
echo "ok: install tree, man page, completion and $(basename "${deb:-no.deb}")"
