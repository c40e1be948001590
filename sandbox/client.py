"""Create Docker clients with settings suitable for long, heavy engine calls."""

from __future__ import annotations

import docker
import docker.errors
import requests

from sandbox.errors import EngineError

# Loading a multi-gigabyte image or stopping a container with a grace period takes
# minutes on a busy worker; the SDK's default of 60 s would turn that into false failures.
DEFAULT_TIMEOUT_SECONDS = 600


def docker_client(timeout: int = DEFAULT_TIMEOUT_SECONDS) -> docker.DockerClient:
    """Return a client for the engine named by ``DOCKER_HOST`` (or the local socket).

    Negotiate the API version so the client works against older engines, and turn
    connection failures into :class:`EngineError` so callers retry instead of failing a run.
    """
    try:
        return docker.from_env(version="auto", timeout=timeout)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc
