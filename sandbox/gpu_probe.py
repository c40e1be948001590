"""Check at a compute worker's start that its engine can really give a container a GPU.

Without the NVIDIA container toolkit an engine refuses a device request only when a
container starts ("could not select device driver "nvidia" with capabilities: [[gpu]]"):
a worker that offered GPUs anyway would fail every GPU run. The probe starts a tiny,
confined container given the GPUs exactly as a run would get them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import docker
import docker.errors
import requests
from docker.types import DeviceRequest

from sandbox.errors import EngineError
from sandbox.owner import owner_token
from sandbox.runner import OWNER_LABEL, RUN_USER, SANDBOX_LABEL

PROBE_COMMAND = ["sh", "-c", "test -e /dev/nvidiactl"]


def probe_options(
    gpu_ids: Sequence[str], *, image: str, device_options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``containers.create`` options of the probe: device request (toolkit) or, with
    ``device_options`` (sandbox.gpus.device_node_options), the device-node mode."""
    options: dict[str, Any] = {
        "image": image,
        "command": PROBE_COMMAND,
        "detach": True,
        "network_mode": "none",
        "user": RUN_USER,
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "labels": {SANDBOX_LABEL: "1", OWNER_LABEL: owner_token()},
    }
    if device_options is not None:
        options.update(device_options)
    else:
        options["device_requests"] = [
            DeviceRequest(driver="nvidia", device_ids=list(gpu_ids), capabilities=[["gpu"]])
        ]
    return options


def probe_gpus(
    client: docker.DockerClient,
    gpu_ids: Sequence[str],
    *,
    image: str,
    device_options: Mapping[str, Any] | None = None,
) -> str | None:
    """None when a container given ``gpu_ids`` started and saw /dev/nvidiactl; else why not
    (the engine's words). Raise :class:`EngineError` only when the engine is unreachable."""
    container = None
    try:
        container = client.containers.create(
            **probe_options(gpu_ids, image=image, device_options=device_options)
        )
        container.start()
        code = int(container.wait(timeout=120).get("StatusCode", -1))
        return None if code == 0 else f"the probe container saw no GPU (exit status {code})"
    except requests.exceptions.ConnectionError as exc:
        raise EngineError(f"The Docker engine is unreachable: {exc}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return str(exc)[:250]
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
