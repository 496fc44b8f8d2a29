#!/usr/bin/env bash
# Builds skiff/busybox:latest from images/busybox and Debian's static busybox, with no registry.
# Skips the build when the image was built from this very busybox binary and Dockerfile (labels on it).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE=skiff/busybox:latest
BUSYBOX=/bin/busybox
DOCKERFILE="$SKIFF_ROOT/images/busybox/Dockerfile"

# Debian's `busybox` package also installs /bin/busybox, but dynamically linked: it would not run in an
# image with no libc. Only busybox-static's binary will do.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  if is_root && is_debian; then
    say "installing busybox-static ..."
    apt_install busybox-static
  else
    die "building $IMAGE needs Debian's static busybox at $BUSYBOX: run 'sudo apt-get install busybox-static'"
  fi
fi

busybox_sha="$(sha256sum "$BUSYBOX" | cut -d' ' -f1)"
dockerfile_sha="$(sha256sum "$DOCKERFILE" | cut -d' ' -f1)"
built="$(docker image inspect --format '{{ index .Config.Labels "skiff.busybox-sha256" }} {{ index .Config.Labels "skiff.dockerfile-sha256" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$built" = "$busybox_sha $dockerfile_sha" ]; then
  say "image $IMAGE is up to date"
  exit 0
fi
old_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$BUSYBOX" "$context/busybox"
cp "$DOCKERFILE" "$context/Dockerfile"

say "building $IMAGE from $BUSYBOX ($("$BUSYBOX" | head -n 1 | cut -d' ' -f1-2)) ..."
# The classic builder: it needs no buildx plugin and, FROM scratch, nothing from any registry.
if ! DOCKER_BUILDKIT=0 docker build -q \
  --label "skiff.busybox-sha256=$busybox_sha" --label "skiff.dockerfile-sha256=$dockerfile_sha" \
  -t "$IMAGE" "$context" >"$context/build.log" 2>&1; then
  cat "$context/build.log" >&2
  die "docker build of $IMAGE failed"
fi
say "built $IMAGE"

# The previous build is now untagged; drop it unless containers still use it.
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  docker image rm "$old_id" >/dev/null 2>&1 && say "removed the previous build of $IMAGE" || true
fi
