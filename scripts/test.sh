#!/usr/bin/env bash
# `npm test`: provisions what the tests need (dependencies, Docker, the test image, chromium), then runs vitest.
# Arguments go to vitest: `npm test -- test/unit`.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
provision test
cd "$SKIFF_ROOT"
# exec: vitest's summary is the last thing printed, and its exit status is ours.
exec npx vitest run "$@"
