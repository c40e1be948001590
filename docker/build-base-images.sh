#!/usr/bin/env bash
# Build a participant runtime base image offline: a Debian root file system from
# debootstrap (Debian's package registry is the only source we reach), turned into an
# image with `docker import`. Skipped when the tag already exists, so reruns are instant.
#
#   docker/build-base-images.sh                       builds podium/python:3.11 if missing
#   docker/build-base-images.sh podium/pytorch:1.13   builds the PyTorch image if missing
#   docker/build-base-images.sh podium/platform:TAG   builds the platform's own image
#                                                     (docker/build-platform-image.sh)
#   FORCE=1 docker/build-base-images.sh [TAG]         rebuilds it
#
# Each image carries /etc/podium-packages.txt (`dpkg-query` of its Python packages at build
# time); docker/packages/<name>-<tag>.txt in the tree is the copy the pages and README show.
set -euo pipefail

TAG="${1:-${PODIUM_BASE_IMAGE:-podium/python:3.11}}"
SUITE="${PODIUM_BASE_SUITE:-bookworm}"
MIRROR="${PODIUM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
case "$TAG" in
  podium/python:3.11)
    # Debian bookworm ships Python 3.11, numpy 1.24, pandas 1.5 and scikit-learn 1.2.
    PACKAGES="python3,python3-numpy,python3-pandas,python3-sklearn,python3-scipy,ca-certificates,tini"
    ;;
  podium/platform:*)
    # The platform's own image (web, scoring, compute roles): the same Debian base, the
    # pinned requirements from wheels and the code, in docker/build-platform-image.sh.
    exec "$(dirname "$0")/build-platform-image.sh" "$TAG"
    ;;
  podium/platform-base:bookworm)
    # The platform image's base: Debian's Python 3.11 with venv (its pip installs the
    # pinned wheels), tini as PID 1, e2fsprogs for the compute role's bounded /output.
    PACKAGES="python3,python3-venv,ca-certificates,tini,e2fsprogs,mount"
    ;;
  podium/pytorch:1.13)
    # Debian bookworm ships PyTorch 1.13 (CPU build) for Python 3.11. A text model needs
    # little more: numpy and pandas for the CSV files, regex for Unicode-aware tokenising.
    # libopenblas0-pthread: without it torch's matrix products fall back to the reference
    # BLAS, about ten times slower (measured: 512x512 products at 0.75 GFLOP/s).
    PACKAGES="python3,python3-torch,python3-numpy,python3-pandas,python3-regex,libopenblas0-pthread,ca-certificates,tini"
    ;;
  *)
    echo "unknown base image $TAG (known: podium/python:3.11, podium/pytorch:1.13," \
      "podium/platform-base:bookworm, podium/platform:VERSION)" >&2
    exit 2
    ;;
esac

# One build per tag at a time: `./podiumctl test` starts the PyTorch build in the
# background and the test fixture that needs the image runs this script too; the second
# waits here for the first and then finds the tag built.
exec 9>"/var/tmp/podium-build-$(echo "$TAG" | tr '/:' '--').lock"
flock 9

if [ -z "${FORCE:-}" ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG exists; skipping (FORCE=1 to rebuild)"
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "debootstrap is missing: apt-get install -y debootstrap" >&2
  exit 1
}

work="$(mktemp -d /var/tmp/podium-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap $SUITE into $rootfs for $TAG (a few minutes) ..."
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -30 "$work/debootstrap.log" >&2
  exit 1
}

# The versions a participant builds against, recorded at build time.
chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' \
  | grep -E '^(python3|python3-(torch|numpy|pandas|scipy|sklearn|regex)|libtorch[0-9.]*|libopenblas0[-a-z]*) ' \
  >"$rootfs/etc/podium-packages.txt" || true

# Keep the image small and free of state that belongs to the build machine.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
  "$rootfs"/var/log/* "$rootfs"/tmp/*
# python3-scipy (and python3-torch) pull in pythran/a C/C++ tool chain that a run never
# uses (no pip, no compiling inside the sandbox): drop it to shrink the image.
rm -rf "$rootfs"/usr/include "$rootfs"/usr/lib/gcc "$rootfs"/usr/libexec/gcc \
  "$rootfs"/usr/lib/x86_64-linux-gnu/*.a "$rootfs"/usr/lib/x86_64-linux-gnu/lib{a,t,l,ub,hwa}san.so* \
  "$rootfs"/usr/lib/python3/dist-packages/pythran
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
: >"$rootfs/etc/resolv.conf"

echo "docker import -> $TAG"
tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
  --change 'WORKDIR /work' \
  --change 'CMD ["python3"]' \
  - "$TAG" >/dev/null
if [ "$TAG" = podium/platform-base:bookworm ]; then
  docker image inspect "$TAG" --format "built $TAG: {{.Size}} bytes"
  exit 0
fi
# The copy in the tree, shown in the README and on the qa competition's overview.
listing="$(dirname "$0")/packages/$(echo "${TAG#podium/}" | tr ':' '-').txt"
mkdir -p "$(dirname "$listing")"
cp "$rootfs/etc/podium-packages.txt" "$listing"
echo "package versions in $TAG (also in $listing):"
cat "$listing"
docker image inspect "$TAG" --format "built $TAG: {{.Size}} bytes"
