# Shared by scripts/*.sh and .ci/run (sourced, not run): messages, checks, apt, provisioning.

SKIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { echo "skiff: $*"; }
die() {
  echo "skiff: error: $*" >&2
  exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

# apt-get's chatter goes to this log, shown only when a step fails for good.
SKIFF_APT_LOG="${TMPDIR:-/tmp}/skiff-apt.log"

# Runs apt-get without questions (no debconf prompts, keep existing config files); returns its status.
apt_quiet() {
  DEBIAN_FRONTEND=noninteractive apt-get -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >"$SKIFF_APT_LOG" 2>&1
}

# Installs Debian packages, running apt-get update first only when the install needs it: when apt does
# not know a package yet (no lists on a fresh machine), or when the install fails (stale lists).
apt_install() {
  local pkg known=true
  for pkg in "$@"; do
    apt-cache show "$pkg" >/dev/null 2>&1 || known=false
  done
  if $known && apt_quiet install "$@"; then
    return 0
  fi
  say "apt-get update ..."
  apt_quiet update || { cat "$SKIFF_APT_LOG" >&2; die "apt-get update failed"; }
  apt_quiet install "$@" || { cat "$SKIFF_APT_LOG" >&2; die "apt-get install $* failed"; }
}

# Runs npm ci when node_modules is missing or older than package-lock.json (npm writes
# node_modules/.package-lock.json on every install, so its age is the install's).
ensure_node_modules() {
  if [ ! -d "$SKIFF_ROOT/node_modules" ]; then
    say "npm ci (node_modules is missing) ..."
  elif [ "$SKIFF_ROOT/package-lock.json" -nt "$SKIFF_ROOT/node_modules/.package-lock.json" ]; then
    say "npm ci (node_modules is older than package-lock.json) ..."
  else
    return 0
  fi
  (cd "$SKIFF_ROOT" && npm ci --no-audit --no-fund)
}

# Builds the CLI bundle (dist/cli/) unless it is newer than all its sources; `skiff` starts in tens of
# milliseconds from it instead of seconds through tsx. npm ci builds it too (the prepare script).
build_cli() {
  (cd "$SKIFF_ROOT" && node scripts/build-cli.mjs --if-stale && node scripts/build-agent.mjs --if-stale)
}

# Builds the web console (dist/console/, served by the API at /console) unless it is newer than its sources.
build_console() {
  (cd "$SKIFF_ROOT" && node scripts/build-console.mjs --if-stale)
}

# The web console's browser tests drive Debian's chromium headless (playwright-core never downloads a
# browser). Installed when missing and we are root on Debian; otherwise those tests say they are skipped.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  if is_root && is_debian; then
    say "installing chromium (Debian's, for the web console's browser tests) ..."
    apt_install chromium
  else
    say "chromium is missing: the web console's browser tests will be skipped (install it: sudo apt-get install chromium)"
  fi
}

# What `npm start` and `npm test` need before they run: dependencies, the CLI and agent bundles, the web console,
# a Docker daemon, the test image; `provision test` also the browser of the console's tests.
provision() {
  ensure_node_modules
  build_cli
  build_console
  bash "$SKIFF_ROOT/scripts/ensure-docker.sh"
  bash "$SKIFF_ROOT/scripts/build-images.sh"
  if [ "${1:-}" = test ]; then
    ensure_chromium
  fi
}
