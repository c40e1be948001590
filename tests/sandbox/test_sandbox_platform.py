"""The worker side of the sandbox: GPUs, another OCI runtime, orphans of a crashed worker."""

from __future__ import annotations

import contextlib
import multiprocessing
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import ContainerCollection

import sandbox
from sandbox import GpuAllocator, GpusUnavailable, Limits, RunMounts
from sandbox.output import bounded_output
from sandbox.owner import owner_token
from sandbox.runner import OWNER_LABEL, SANDBOX_LABEL

LIMITS = Limits(memory_bytes=2**27, cpus=1, time_seconds=5)


def _hold_gpu(lock_dir: str, inventory: list[str], ready: Any, release: Any, got: Any) -> None:
    with GpuAllocator(inventory, Path(lock_dir)).allocate(1) as ids:
        got.put(ids)
        ready.set()
        # Until the test is done, however long a loaded machine makes that; the bound is
        # only for a test process that died without releasing.
        release.wait(600)


def test_gpu_ids_are_parsed_from_the_setting() -> None:
    assert sandbox.parse_gpu_ids("0, 1,3") == ("0", "1", "3")
    assert sandbox.parse_gpu_ids("") is None
    assert sandbox.parse_gpu_ids(None) is None
    with pytest.raises(ValueError, match="invalid GPU id"):
        sandbox.parse_gpu_ids("0;rm -rf /")


def test_no_gpus_are_detected_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert sandbox.detect_gpu_ids() == ()


def test_a_gpu_is_never_given_to_two_processes_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ready, release, got = context.Event(), context.Event(), context.Queue()
    holder = context.Process(
        target=_hold_gpu, args=(str(tmp_path), ["0", "1"], ready, release, got)
    )
    holder.start()
    try:
        assert ready.wait(300)
        held = got.get(timeout=300)
        allocator = GpuAllocator(["0", "1"], tmp_path)
        with allocator.allocate(1) as mine:
            assert mine != held and len(mine) == 1
            with (
                pytest.raises(GpusUnavailable, match="Only 0 of this worker's 2 GPU"),
                allocator.allocate(1),
            ):
                pass
    finally:
        release.set()
        holder.join(300)
    assert not holder.is_alive()
    # The holder is gone, so its GPU is free again (the kernel dropped its lock).
    with GpuAllocator(["0", "1"], tmp_path).allocate(2) as both:
        assert both == ["0", "1"]


def test_gpu_run_asks_the_engine_for_specific_devices(
    client: docker.DockerClient,
    job_image: sandbox.LoadedImage,
    dataset: RunMounts,
    session_labels: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No GPU here: the engine refuses the request, which is checked as it was sent."""
    sent: list[dict[str, Any]] = []
    real_create = sandbox.runner._create_container

    def spy(client: docker.DockerClient, options: dict[str, Any]) -> Any:
        sent.append(options)
        return real_create(client, options)

    monkeypatch.setattr(sandbox.runner, "_create_container", spy)
    limits = Limits(
        memory_bytes=2**27,
        cpus=1,
        time_seconds=5,
        gpus=1,
        gpu_ids=("3", "5"),
        gpu_lock_dir=tmp_path / "locks",
    )
    with (
        GpuAllocator(["3"], tmp_path / "locks").allocate(1),  # another run holds GPU 3
        pytest.raises(sandbox.EngineError),
    ):
        sandbox.run(
            client,
            image_id=job_image.image_id,
            limits=limits,
            mounts=dataset,
            output_dir=tmp_path / "out",
            labels=session_labels,
        )

    (request,) = sent[0]["device_requests"]
    assert request["Driver"] == "nvidia"
    assert request["DeviceIDs"] == ["5"]
    assert request["Capabilities"] == [["gpu"]]
    assert sent[0]["environment"]["PODIUM_GPUS"] == "1"
    assert not list(tmp_path.glob("podium-run-*"))
    with GpuAllocator(["5"], tmp_path / "locks").allocate(1) as freed:
        assert freed == ["5"]


def test_gpu_run_without_gpus_is_an_engine_error(
    client: docker.DockerClient, job_image: sandbox.LoadedImage, dataset: RunMounts, tmp_path: Path
) -> None:
    with pytest.raises(GpusUnavailable, match="has 0 GPU"):
        sandbox.run(
            client,
            image_id=job_image.image_id,
            limits=Limits(memory_bytes=2**27, cpus=1, time_seconds=5, gpus=1, gpu_ids=()),
            mounts=dataset,
            output_dir=tmp_path,
        )


def test_runs_can_use_a_named_oci_runtime(run_job: Any) -> None:
    result = run_job("no_predictions", runtime="runc")

    assert result.exit_code == 0


def test_a_runtime_the_engine_lacks_is_a_platform_error(
    client: docker.DockerClient, job_image: sandbox.LoadedImage, dataset: RunMounts, tmp_path: Path
) -> None:
    with pytest.raises(sandbox.EngineError, match="runsc-not-installed"):
        sandbox.run(
            client,
            image_id=job_image.image_id,
            limits=Limits(
                memory_bytes=2**27, cpus=1, time_seconds=5, runtime="runsc-not-installed"
            ),
            mounts=dataset,
            output_dir=tmp_path / "out",
        )
    assert not list(tmp_path.glob("podium-run-*"))


def _dead_token() -> str:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    token = owner_token(child.pid)
    child.kill()
    child.wait()
    return token


def test_orphans_of_a_dead_worker_are_removed_and_live_runs_kept(
    client: docker.DockerClient, job_image: sandbox.LoadedImage, tmp_path: Path
) -> None:
    dead = _dead_token()
    marker = {"podium.test-orphan": uuid.uuid4().hex}
    orphan = client.containers.create(
        job_image.image_id,
        network_mode="none",
        labels={**marker, SANDBOX_LABEL: "1", OWNER_LABEL: dead},
    )
    live = client.containers.create(
        job_image.image_id,
        network_mode="none",
        labels={**marker, SANDBOX_LABEL: "1", OWNER_LABEL: owner_token()},
    )
    # A crashed worker's /output file system, still mounted, named after the dead owner.
    with bounded_output(tmp_path, size_bytes=8 * 2**20, inodes=64) as mine:
        mounted_orphan = tmp_path / f"podium-run-{dead}-x1"
        (mounted_orphan / "mnt").mkdir(parents=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mounted_orphan / "mnt")],
            check=True,
        )
        try:
            removed = sandbox.cleanup_orphans(client, scratch_roots=[tmp_path])

            assert f"container {orphan.short_id}" in removed
            assert not mounted_orphan.exists()
            assert mine.path.is_mount()  # the live run's file system is untouched
            remaining = {
                c.id
                for c in client.containers.list(all=True, filters={"label": "podium.test-orphan"})
            }
            assert remaining == {live.id}
        finally:
            live.remove(force=True)
            if (mounted_orphan / "mnt").is_mount():
                subprocess.run(["umount", str(mounted_orphan / "mnt")], check=False)


def test_a_container_removed_during_cleanup_is_no_engine_failure(
    client: docker.DockerClient,
    job_image: sandbox.LoadedImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another worker (or the engine) removes a sandbox container between the cleanup's
    list and its inspection of that container: the cleanup goes on with the others."""
    labels = {"podium.test-vanishing": uuid.uuid4().hex, SANDBOX_LABEL: "1"}
    vanishing = client.containers.create(
        job_image.image_id, network_mode="none", labels={**labels, OWNER_LABEL: _dead_token()}
    )
    orphan = client.containers.create(
        job_image.image_id, network_mode="none", labels={**labels, OWNER_LABEL: _dead_token()}
    )
    inspect = ContainerCollection.get

    def get_after_removal(self: ContainerCollection, container_id: str) -> Any:
        if container_id in (vanishing.id, vanishing.short_id):
            vanishing.remove(force=True)  # gone between the list and this inspection
        return inspect(self, container_id)

    monkeypatch.setattr(ContainerCollection, "get", get_after_removal)
    try:
        removed = sandbox.cleanup_orphans(client, scratch_roots=[tmp_path])
        assert f"container {orphan.short_id}" in removed
        assert f"container {vanishing.short_id}" not in removed
    finally:
        monkeypatch.undo()
        for container in client.containers.list(
            all=True, filters={"label": f"podium.test-vanishing={labels['podium.test-vanishing']}"}
        ):
            container.remove(force=True)


def test_cleanup_narrowed_by_labels_leaves_another_instances_orphans(
    client: docker.DockerClient, job_image: sandbox.LoadedImage, tmp_path: Path
) -> None:
    """Two platform instances share an engine: each sweeps only its own dead runs (the
    other's are for its own recovery to find)."""
    run = uuid.uuid4().hex
    mine, theirs = (
        client.containers.create(
            job_image.image_id,
            network_mode="none",
            labels={
                SANDBOX_LABEL: "1",
                OWNER_LABEL: _dead_token(),
                "podium.instance": instance,
                "podium.test-instances": run,
            },
        )
        for instance in (f"mine-{run}", f"theirs-{run}")
    )
    try:
        removed = sandbox.cleanup_orphans(
            client, scratch_roots=[tmp_path], labels={"podium.instance": f"mine-{run}"}
        )
        assert f"container {mine.short_id}" in removed
        assert f"container {theirs.short_id}" not in removed
        left = client.containers.list(
            all=True, filters={"label": f"podium.test-instances={run}"}, ignore_removed=True
        )
        assert [c.id for c in left] == [theirs.id]
    finally:
        for container in (mine, theirs):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
