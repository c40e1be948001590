"""Runtime images: the platform's own images that code submissions run on.

Participants get them too: what is installed (read once from the image, in a sandboxed
container) and the image itself (a ``docker save`` archive written once per image id),
so that ``docker load`` and ``FROM`` work off-site.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import docker
import docker.errors
import requests

from sandbox.errors import EngineError, SandboxError
from sandbox.runner import RUN_USER

_PACKAGES_SCRIPT = r"""
dpkg-query -W -f='dpkg\t${Package}\t${Version}\n' 2>/dev/null || true
for py in python3 python; do
  if command -v "$py" >/dev/null 2>&1; then
    "$py" - <<'PY' 2>/dev/null && break
import importlib.metadata as m
seen = set()
for d in m.distributions():
    name = d.metadata["Name"]
    if name and name.lower() not in seen:
        seen.add(name.lower())
        print(f"python\t{name}\t{d.version}")
PY
  fi
done
"""
_PACKAGES_TIMEOUT_SECONDS = 120
_CHUNK = 1 << 20


class RuntimeImageMissing(SandboxError):
    """The runtime image is not built on this engine: the platform's side, not the team's."""


def resolve(client: docker.DockerClient, name: str) -> str:
    """The id (``sha256:...``) of the runtime image tagged ``name`` on this engine.

    Raise :class:`RuntimeImageMissing` when no such tag exists, :class:`EngineError` when
    the engine cannot be asked.
    """
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound as exc:
        raise RuntimeImageMissing(f"The runtime image {name} is not built on this host.") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"The Docker engine failed: {exc}") from exc
    return str(image.id)


def read_packages(client: docker.DockerClient, image_id: str) -> list[dict[str, str]]:
    """Debian and Python packages installed in an image, as ``{manager, name, version}``
    rows sorted by manager and name; read in a container with no network, no
    capabilities, a read-only root and an unprivileged user. Raise :class:`EngineError`."""
    container = None
    try:
        container = client.containers.create(
            image_id,
            entrypoint=["/bin/sh", "-c", _PACKAGES_SCRIPT],
            command=[],
            network_mode="none",
            user=RUN_USER,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=512 * 2**20,
            pids_limit=64,
            labels={"podium.sandbox": "1", "podium.runtime-packages": "1"},
        )
        container.start()
        container.wait(timeout=_PACKAGES_TIMEOUT_SECONDS)
        raw: bytes = container.logs(stdout=True, stderr=False)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"Could not read the packages of {image_id}: {exc}") from exc
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
    rows = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and all(parts):
            rows.append({"manager": parts[0], "name": parts[1], "version": parts[2]})
    return sorted(rows, key=lambda row: (row["manager"], row["name"].lower()))


def save_archive(client: docker.DockerClient, name: str, dest: Path) -> int:
    """Write ``docker save NAME`` to ``dest`` (atomically: a partial file never has the
    final name) and return its size in bytes. Raise :class:`EngineError`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
    try:
        image = client.images.get(name)
        with partial.open("wb") as out:
            for chunk in image.save(chunk_size=_CHUNK, named=True):
                out.write(chunk)
        partial.replace(dest)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"Could not save {name}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return dest.stat().st_size
