# bash completion for blackout (installed as
# share/bash-completion/completions/blackout; or `source` this file).
#
# Subcommands and their options are read from the binary's own --help, so
# the completion always matches the blackout it completes; only the values
# of a few options (models, crash-state generators, ctl commands, engines)
# are listed here.

_blackout_help_subcommands() {
  "$1" --help 2>/dev/null | awk '/^Subcommands:/ { s = 1; next } /^$/ { s = 0 } s && /^  [a-z]/ { print $1 }'
}

_blackout_help_options() {
  "$1" "$2" --help 2>/dev/null |
    awk '/^Options:/ { o = 1; next } /^[A-Za-z]/ { o = 0 }
         o && /^  -/ { n = split($1, a, ","); for (k = 1; k <= n; k++) print a[k] }'
}

_blackout_files() {
  if declare -F _filedir >/dev/null; then
    _filedir "$@"
  elif [[ $1 == -d ]]; then
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}

_blackout() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
  fi
  local bin=${words[0]} sub="" i j nargs=0
  for ((i = 1; i < cword; i++)); do
    [[ ${words[i]} == -* ]] || { sub=${words[i]}; break; }
  done
  if [[ -z $sub ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_blackout_help_subcommands "$bin") --help" -- "$cur")
    return
  fi
  # record -- COMMAND...: complete the command like the shell would.
  for ((j = i + 1; j < cword; j++)); do
    if [[ ${words[j]} == -- ]]; then
      if declare -F _command_offset >/dev/null; then
        _command_offset $((j + 1))
      else
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
      fi
      return
    fi
    [[ ${words[j]} == -* || ${words[j - 1]} == --* ]] || ((nargs++))
  done
  case $prev in
    --model)
      mapfile -t COMPREPLY < <(compgen -W "posix-strict ext4-ordered ext4-writeback btrfs xfs" -- "$cur")
      return ;;
    --states | --state)
      mapfile -t COMPREPLY < <(compgen -W "drop-all keep-all prefix reorder:1 torn random:10" -- "$cur")
      return ;;
    --view)
      mapfile -t COMPREPLY < <(compgen -W "durable volatile" -- "$cur")
      return ;;
    --recovery)
      mapfile -t COMPREPLY < <(compgen -W "auto in-memory child" -- "$cur")
      return ;;
    --out | --dir | --ctl | --lazyfs-fifo | --lazyfs-config)
      _blackout_files
      return ;;
    --spill-dir)
      _blackout_files -d
      return ;;
    --*)
      # an option that takes a value we cannot guess (--seed, --jobs, ...)
      [[ $prev == --help || $prev == --foreground || $prev == --keep-going || $prev == --quiet ||
         $prev == --verbose || $prev == --dump || $prev == --writeback-cache ||
         $prev == --io-uring || $prev == --dev-fuse || $prev == --cached-writes ||
         $prev == --no-spill || $prev == --no-trace ]] || return ;;
  esac
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_blackout_help_options "$bin" "$sub")" -- "$cur")
    return
  fi
  case $sub in
    mount | umount)
      _blackout_files -d ;;
    ctl)
      if ((nargs == 0)); then
        _blackout_files -d
      elif ((nargs == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "status seq sync power-cut unsynced snapshot trace load
          fail clear-faults crash-after faults saved-points" -- "$cur")
      elif ((nargs == 2)) && [[ ${words[cword-1]} == trace ]]; then
        mapfile -t COMPREPLY < <(compgen -W "start stop save" -- "$cur")
      else
        _blackout_files
      fi ;;
    engine)
      mapfile -t COMPREPLY < <(compgen -W "wal bitcask btree lsm eventstore" -- "$cur") ;;
    *)
      _blackout_files ;;
  esac
}

complete -F _blackout blackout
