#!/usr/bin/env bash
# Build the platform's own image (web, scoring and compute roles) offline: the Debian base
# of the runtime images (podium/platform-base:bookworm, debootstrap + docker import), the
# pinned requirements installed from wheels downloaded here, the application code, its
# static files collected, a non-root user and an entrypoint that runs one role
# (docker/platform/entrypoint.sh). `docker build` runs with --network none: only this
# script reaches PyPI (`pip download`), and a second build of the same requirements needs
# no network at all (the wheels are kept under PODIUM_WHEELS_DIR).
#
#   docker/build-platform-image.sh                        podium/platform:<git describe>
#   docker/build-platform-image.sh podium/platform:1.4    that tag
#   FORCE=1 docker/build-platform-image.sh [TAG]          rebuild even if up to date
#
# Cached by tag: an image of that tag built from the same sources (its label
# org.podium.source, a SHA-256 of the build context) is kept and the build skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BASE="podium/platform-base:bookworm"
version="$(git describe --always --dirty 2>/dev/null || echo dev)"
TAG="${1:-podium/platform:$version}"
WHEELS_DIR="${PODIUM_WHEELS_DIR:-/var/tmp/podium-wheels}"
# The application: what the web server, the workers and manage.py import or read. Tests,
# benchmarks, examples and the CLI (a client, installed by users) stay out.
APP_PATHS=(manage.py podium competitions uploads scoring sandbox podium_compute templates
  static docker/packages requirements.txt)

exec 9>"/var/tmp/podium-build-$(echo "$TAG" | tr '/:' '--').lock"
flock 9

started=$(date +%s)
work="$(mktemp -d /var/tmp/podium-platform.XXXXXX)"
trap 'rm -rf "$work"' EXIT
context="$work/context"
mkdir -p "$context/app"
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -c "${APP_PATHS[@]}" | tar -C "$context/app" -x
cp docker/platform/Dockerfile docker/platform/entrypoint.sh "$context/"
grep -v '^-e ' requirements.txt >"$context/requirements.txt"
# Same sources, same hash: names, contents and modes only (no times, no owners).
source_hash="$(tar -C "$context" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  -c . | sha256sum | cut -c1-64)"

previous="$(docker image inspect "$TAG" --format '{{.Id}}' 2>/dev/null || true)"
if [ -z "${FORCE:-}" ] \
  && [ "$(docker image inspect "$TAG" --format '{{index .Config.Labels "org.podium.source"}}' \
    2>/dev/null || true)" = "$source_hash" ]; then
  echo "platform image $TAG is up to date with these sources; skipping (FORCE=1 to rebuild)"
  if [ $# -eq 0 ]; then docker tag "$TAG" podium/platform:latest; fi
  exit 0
fi

# FORCE rebuilds this image, not its base (FORCE=1 docker/build-base-images.sh BASE does).
env -u FORCE "$ROOT/docker/build-base-images.sh" "$BASE"

# Wheels for the base's Python (Debian bookworm: 3.11, glibc 2.36) on this machine's
# architecture, whatever Python this host runs: binary only, so nothing is compiled here
# or in the image. Kept per requirements and target Python.
target="$(docker run --rm --network none "$BASE" python3 -c \
  'import platform; print(platform.python_version())')"
wheels="$WHEELS_DIR/$(sha256sum "$context/requirements.txt" | cut -c1-16)-py$target-$(uname -m)"
if [ ! -f "$wheels/.complete" ]; then
  echo "downloading wheels into $wheels ..."
  python=(python3)
  [ -x "$ROOT/.venv/bin/python" ] && python=("$ROOT/.venv/bin/python")
  pip=("${python[@]}" -m pip)
  platforms=()
  for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_$(uname -m)"); done
  mkdir -p "$wheels"
  download() {
    "${pip[@]}" download --quiet --disable-pip-version-check --only-binary=:all: \
      --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" \
      --platform "manylinux2014_$(uname -m)" -d "$wheels" "$@" \
      2> >(grep -v 'is ignored: it is neither' >&2)
  }
  download -r "$context/requirements.txt"
  # pip evaluated the markers for this host's Python: add what the image's Python needs.
  for _ in 1 2 3 4 5; do
    mapfile -t extra < <("${python[@]}" docker/platform/missing_wheels.py "$wheels" \
      --python-full-version "$target")
    [ "${#extra[@]}" -eq 0 ] && break
    echo "also for Python $target: ${extra[*]}"
    download "${extra[@]}"
  done
  touch "$wheels/.complete"
fi
mkdir "$context/wheels"
cp -l "$wheels"/*.whl "$context/wheels/" 2>/dev/null || cp "$wheels"/*.whl "$context/wheels/"

echo "docker build -> $TAG (no network) ..."
docker build --network none -t "$TAG" \
  --build-arg BASE="$BASE" --build-arg VERSION="$version" \
  --label "org.podium.source=$source_hash" "$context" >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  exit 1
}
# The image this tag named before (other sources): its own layers go, unless a container
# or another tag still uses it.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect "$TAG" --format '{{.Id}}')" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
# Without a tag argument the build is also podium/platform:latest, the tag the compose file
# and the systemd units start by default.
if [ $# -eq 0 ]; then
  docker tag "$TAG" podium/platform:latest
fi
docker image inspect "$TAG" \
  --format "built $TAG in $(($(date +%s) - started)) s: {{.Size}} bytes"
