"""A compute worker offers GPUs only after its engine gave a probe container one. This
machine's engine has no NVIDIA toolkit: the probe fails with the engine's own words and
the worker serves no GPU queue, and says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from docker.types import DeviceRequest

import sandbox
from sandbox.gpu_probe import probe_gpus, probe_options
from sandbox.runner import RUN_USER

ROOT = Path(__file__).resolve().parents[2]


def test_probe_options_confine_the_probe_and_ask_for_the_gpus() -> None:
    options = probe_options(["1", "3"], image="podium/python:3.11")
    assert options["network_mode"] == "none" and options["user"] == RUN_USER
    assert options["cap_drop"] == ["ALL"] and options["read_only"] is True
    assert options["security_opt"] == ["no-new-privileges"]
    [request] = options["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert (request.driver, request.device_ids) == ("nvidia", ["1", "3"])
    nodes = {"devices": ["/dev/nvidia0:/dev/nvidia0:rwm"]}
    assert "device_requests" not in probe_options(["0"], image="x", device_options=nodes)


@pytest.mark.docker
def test_without_the_toolkit_the_probe_fails_and_no_gpu_queue_is_served(tmp_path: Path) -> None:
    problem = probe_gpus(sandbox.docker_client(), ["0"], image="podium/python:3.11")
    assert problem is not None and "could not select device driver" in problem
    code = (
        "import podium_compute.celery as c; "
        "print(list(c.QUEUES), list(c.GPU_IDS)); print(c.GPU_NOTE)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
            "PODIUM_PLATFORM_URL": "http://127.0.0.1:1",
            "PODIUM_COMPUTE_WORK_DIR": str(tmp_path),
            "PODIUM_COMPUTE_QUEUES": "compute,compute-gpu",
            "PODIUM_GPU_IDS": "0",
        },
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    queues, note = completed.stdout.split("\n")[:2]
    assert queues == "['compute'] []"
    assert note.startswith("GPU probe failed, no GPU queue served:") and "nvidia" in note
