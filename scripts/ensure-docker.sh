#!/usr/bin/env bash
# Makes sure a Docker daemon answers. When it does not and we are root on Debian, installs docker.io
# and starts dockerd; otherwise says what to do and exits 1. Idempotent: with Docker up it only says so.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG=/var/log/skiff-dockerd.log
DOCKERD_PIDFILE=/var/run/docker.pid

docker_ready() { docker info >/dev/null 2>&1; }
# The engine, not just a CLI: some machines have a docker CLI at /usr/local/bin without any daemon.
have_engine() { command -v docker >/dev/null 2>&1 && { command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ]; }; }
# /proc rather than kill -0, which fails for a user who may not signal root's daemon; the name check
# skips a pid file left by a killed daemon whose pid now belongs to something else.
dockerd_running() {
  local pid
  pid="$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ]
}

INSTALL_HINT="Install Docker Engine and start it, for example on Debian or Ubuntu:
    sudo apt-get install docker.io && sudo systemctl start docker
  then check that 'docker info' works for this user."

# Says what is wrong and what the user must do, and exits 1.
cannot_fix() { die "$1
  $2"; }

start_dockerd() {
  if [ -d /run/systemd/system ]; then
    say "starting docker (systemctl start docker) ..."
    systemctl start docker
  elif dockerd_running; then
    say "waiting for the running dockerd to answer ..."
  else
    say "starting dockerd (log: $DOCKERD_LOG) ..."
    # Its own session: a Ctrl-C in the terminal that ran `npm test` must not reach the daemon.
    setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  local i
  for i in $(seq 1 60); do
    docker_ready && return 0
    sleep 0.5
  done
  tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
  die "dockerd did not answer within 30 s (see $DOCKERD_LOG)"
}

if ! docker_ready; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    cannot_fix "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'." "Start that daemon, or unset DOCKER_HOST to use the local one."
  fi
  if [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ] && dockerd_running; then
    cannot_fix "dockerd runs, but this user may not use /var/run/docker.sock." "Add the user to the 'docker' group (sudo usermod -aG docker \"\$USER\", then log in again), or run as root."
  fi
  if ! is_root || ! is_debian; then
    cannot_fix "Docker is not available (no daemon answers 'docker info')." "$INSTALL_HINT"
  fi
  if ! have_engine; then
    say "installing docker.io ..."
    apt_install docker.io
  fi
  # Installing may have started the daemon through its init script.
  docker_ready || start_dockerd
fi
say "docker ready (server $(docker version --format '{{.Server.Version}}'))"
