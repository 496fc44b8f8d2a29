#!/usr/bin/env bash
# `npm start`: provisions the machine (dependencies, Docker, the image), then starts the one-machine
# cluster. Arguments go to `skiff local up`.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
provision
cd "$SKIFF_ROOT"
exec node bin/skiff.mjs local up "$@"
