#!/bin/bash
# CTest docs_tutorial: runs docs/tutorial.md as a reader would, so that it
# cannot go stale. In document order:
#   ```LANG file=NAME            the block is written to NAME (a later block
#                                of the same name replaces it, as the reader's
#                                editor would)
#   ```sh [exit=N] [contains=T] [lacks=T]
#                                the block runs in bash in the working
#                                directory; it must exit N (default 0), its
#                                output must contain each `contains` text and
#                                none of the `lacks` texts (%20 is a space)
# Other blocks (output shown to the reader) are not run. `blackout` on PATH
# is the binary under test.
#
# usage: tutorial_test.sh BLACKOUT_BIN TUTORIAL.md
set -u
bin=$(realpath "$1")
doc=$2
if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; then
  echo "SKIP: /dev/fuse is missing or not usable"
  exit 77
fi
work=$(mktemp -d /tmp/blackout-tutorial-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/tutorial"
ln -s "$bin" "$work/bin/blackout"
export PATH="$work/bin:$PATH"

in_block=0 kind="" file="" blocks=0 failures=0 lineno=0 start=0
declare -a attrs
run_block() {  # the finished block in $work/block, started on line $start
  blocks=$((blocks + 1))
  if [ "$kind" = file ]; then
    cp "$work/block" "$work/tutorial/$file"
    return
  fi
  local want=0 a out code
  local -a contains=() lacks=()
  for a in "${attrs[@]}"; do
    a=${a//%20/ }
    case $a in
      exit=*) want=${a#exit=} ;;
      contains=*) contains+=("${a#contains=}") ;;
      lacks=*) lacks+=("${a#lacks=}") ;;
    esac
  done
  out=$(cd "$work/tutorial" && bash "$work/block" 2>&1)
  code=$?
  local bad=""
  [ "$code" = "$want" ] || bad="exited $code, the tutorial says $want"
  for a in "${contains[@]}"; do
    grep -qF -- "$a" <<<"$out" || bad="${bad:+$bad; }output lacks '$a'"
  done
  for a in "${lacks[@]}"; do
    grep -qF -- "$a" <<<"$out" && bad="${bad:+$bad; }output has '$a'"
  done
  if [ -n "$bad" ]; then
    failures=$((failures + 1))
    echo "FAIL: $doc:$start: $bad"
    sed 's/^/    | /' "$work/block"
    echo "  output:"
    sed 's/^/    > /' <<<"$out"
  else
    echo "ok: $doc:$start (exit $code)"
  fi
}
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  if [ $in_block -eq 0 ]; then
    [[ $line == '```'* ]] || continue
    read -r -a attrs <<<"${line#'```'}"
    kind="" file=""
    if [ "${attrs[0]:-}" = sh ]; then
      kind=sh
    else
      for a in "${attrs[@]:1}"; do [[ $a == file=* ]] && kind=file file=${a#file=}; done
    fi
    in_block=1 start=$lineno
    : >"$work/block"
  elif [[ $line == '```' ]]; then
    in_block=0
    [ -n "$kind" ] && run_block
  elif [ -n "$kind" ]; then
    printf '%s\n' "$line" >>"$work/block"
  fi
done <"$doc"

if [ $blocks -lt 5 ]; then
  echo "FAIL: only $blocks runnable blocks found in $doc" '(```sh and ```LANG file=NAME)' 
  exit 1
fi
if [ $failures -ne 0 ]; then
  echo "$failures of the tutorial's blocks did not do what the text says; reproduce: $0 $bin $doc"
  exit 1
fi
echo "ok: $blocks blocks of $doc"
