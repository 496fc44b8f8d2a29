#!/usr/bin/env bash
# Start-up of the `skiff` command: `skiff --help`, and `skiff get tasks` when a local cluster runs
# from this folder (`npm start`, or `npx skiff local up --hosts 2` in another terminal). Prints
# hyperfine's figures (wall and CPU time) next to bare `node -e 0`, and each command's peak RSS.
# Builds the CLI bundle first if it is stale. Usage: bash bench/cli-start.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-20}"
command -v hyperfine >/dev/null || { echo "bench/cli-start.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
node scripts/build-cli.mjs --if-stale
cmds=(-n 'node -e 0 (floor)' 'node -e 0' -n 'skiff --help' 'node bin/skiff.mjs --help')
measured=('node -e 0' 'node bin/skiff.mjs --help')
if node bin/skiff.mjs get hosts >/dev/null 2>&1; then
  cmds+=(-n 'skiff get tasks' 'node bin/skiff.mjs get tasks')
  measured+=('node bin/skiff.mjs get tasks')
else
  echo "(no API answers here: start a local cluster to measure skiff get tasks)"
fi
hyperfine -N --warmup 3 --runs "$runs" "${cmds[@]}"
rss="$(mktemp)"
trap 'rm -f "$rss"' EXIT
for c in "${measured[@]}"; do
  # shellcheck disable=SC2086 # the command's words are meant to split
  /usr/bin/time -f '%M' -o "$rss" $c >/dev/null 2>&1
  echo "peak RSS of $c: $(cat "$rss") KB"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
