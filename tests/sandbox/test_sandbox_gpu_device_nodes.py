"""Device-node GPU mode (hosts without the NVIDIA container toolkit): the options sent to
the engine. No GPU on this machine: nvidia-smi and the driver's /proc files are faked at
their boundary; the options are checked as a whole against the toolkit mode's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from docker.types import Mount

from sandbox.errors import EngineError
from sandbox.gpus import device_node_options, gpu_minor_numbers, proc_bus_id
from sandbox.limits import Limits, RunMounts
from sandbox.runner import create_options

LIMITS = Limits(memory_bytes=2**30, cpus=2, time_seconds=60, gpus=1, gpu_mode="device-nodes")


def _options(tmp_path: Path, **kwargs: object) -> dict:
    return create_options(
        image_id="sha256:abc",
        limits=LIMITS,
        mounts=RunMounts(tmp_path, tmp_path, tmp_path / "sample.csv"),
        output_path=tmp_path / "out",
        labels={},
        environment=None,
        gpu_ids=["1"],
        **kwargs,  # type: ignore[arg-type]
    )


def test_device_nodes_by_minor_and_the_driver_read_only_keep_every_confinement(
    tmp_path: Path,
) -> None:
    nodes = device_node_options(
        [3],
        driver_dirs=[Path("/usr/lib/x86_64-linux-gnu/nvidia"), Path("/opt/nvidia/lib")],
        image_library_path="/opt/conda/lib",
    )
    toolkit = _options(tmp_path)
    options = _options(tmp_path, gpu_device_nodes=nodes)

    assert options["devices"] == [
        "/dev/nvidia3:/dev/nvidia3:rw",
        "/dev/nvidiactl:/dev/nvidiactl:rw",
        "/dev/nvidia-uvm:/dev/nvidia-uvm:rw",
        "/dev/nvidia-uvm-tools:/dev/nvidia-uvm-tools:rw",
    ]
    assert "device_requests" not in options and "device_requests" in toolkit
    driver = [m for m in options["mounts"] if m["Target"].startswith("/usr/local/podium-nvidia")]
    assert [(m["Target"], m["Source"], m["ReadOnly"]) for m in driver] == [
        ("/usr/local/podium-nvidia/lib0", "/usr/lib/x86_64-linux-gnu/nvidia", True),
        ("/usr/local/podium-nvidia/lib1", "/opt/nvidia/lib", True),
    ]
    assert options["environment"]["LD_LIBRARY_PATH"] == (
        "/opt/conda/lib:/usr/local/podium-nvidia/lib0:/usr/local/podium-nvidia/lib1"
    )
    assert options["environment"]["PODIUM_GPUS"] == "1"
    # Everything else is the toolkit mode's options, confinement included.
    for key in set(toolkit) | set(options):
        if key not in ("devices", "device_requests", "mounts", "environment"):
            assert options.get(key) == toolkit.get(key), key
    assert options["mounts"][: len(toolkit["mounts"])] == toolkit["mounts"]
    assert options["cap_drop"] == ["ALL"] and options["read_only"] is True
    assert options["security_opt"] == ["no-new-privileges"] and options["network_mode"] == "none"
    assert "privileged" not in options and "cap_add" not in options
    assert all(isinstance(m, Mount) for m in options["mounts"])


def test_an_image_without_a_library_path_gets_the_driver_folders_alone() -> None:
    nodes = device_node_options([0], driver_dirs=[Path("/drv")])
    assert nodes["environment"] == {"LD_LIBRARY_PATH": "/usr/local/podium-nvidia/lib0"}


def test_minor_numbers_come_from_the_driver_not_from_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(
        "#!/bin/sh\necho '0, GPU-aaaa, 00000000:3B:00.0'\necho '1, GPU-bbbb, 00000000:86:00.0'\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    proc = tmp_path / "proc"
    for bus, minor in (("0000:3b:00.0", 2), ("0000:86:00.0", 0)):
        (proc / bus).mkdir(parents=True)
        (proc / bus / "information").write_text(f"Model: X\nDevice Minor: \t {minor}\n")
    minors = gpu_minor_numbers(["0", "GPU-bbbb"], proc_root=proc)
    assert (minors["0"], minors["GPU-bbbb"], minors["1"]) == (2, 0, 0)
    with pytest.raises(EngineError, match="does not know the GPU"):
        gpu_minor_numbers(["7"], proc_root=proc)
    assert proc_bus_id("00000000:3B:00.0") == "0000:3b:00.0"


def test_an_unknown_gpu_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="gpu_mode"):
        Limits(memory_bytes=2**30, cpus=1, time_seconds=1, gpu_mode="cuda")
