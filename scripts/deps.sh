# Sourced by the scripts: installs the Debian packages blackout needs to build,
# test and run, when any is missing. Nothing is downloaded from elsewhere.
BLACKOUT_PACKAGES=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3 liburing-dev libabsl-dev
  catch2 libspdlog-dev nlohmann-json3-dev libcli11-dev libtoml11-dev libbenchmark-dev zlib1g-dev
  strace sqlite3 git fio stress-ng python3
  chromium
)

blackout_install_deps() {
  local missing=()
  for p in "${BLACKOUT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "blackout: installing missing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures and builds into $BLACKOUT_BUILD (default build/); extra cmake
# arguments are passed through.
blackout_build() {
  local build=${BLACKOUT_BUILD:-build}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$build" -j"$(nproc)"
}
