"""Runs of a real container: limits, isolation and failure messages a participant reads."""

from __future__ import annotations

import errno
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

import sandbox
from sandbox import Limits, RunMounts, RunResult

RunJob = Callable[..., RunResult]

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def probe(
    client: docker.DockerClient,
    job_image: sandbox.LoadedImage,
    dataset: RunMounts,
    session_labels: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Run the probe mode once; several tests read its report."""
    result = sandbox.run(
        client,
        image_id=job_image.image_id,
        limits=Limits(memory_bytes=256 * 2**20, cpus=1.5, time_seconds=60),
        mounts=dataset,
        output_dir=tmp_path_factory.mktemp("probe-output"),
        labels=session_labels,
        environment={"PODIUM_TEST_MODE": "probe"},
    )
    assert result.exit_code == 0, result.log_tail
    line = next(x for x in result.log_tail.splitlines() if x.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def test_successful_run_reads_data_and_writes_predictions(run_job: RunJob) -> None:
    result = run_job("predict")

    assert result.exit_code == 0, result.log_tail
    assert result.failure is None
    assert not result.oom_killed and not result.timed_out
    assert result.predictions_path is not None
    assert result.predictions_path.read_text() == "id,label\n10,1\n11,1\n"
    assert "predicted 2 rows" in result.log_tail
    assert result.duration_seconds >= 2.5
    assert result.cpu_seconds is not None and result.cpu_seconds > 0  # sampled, load-free
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes > 2**20


def test_memory_bomb_fails_with_memory_limit(run_job: RunJob) -> None:
    result = run_job("memory_bomb", memory_bytes=128 * 2**20)

    assert result.oom_killed
    assert result.failure is not None
    assert result.failure.kind == "memory_limit"
    assert "memory limit (128 MB)" in result.failure.message
    assert result.predictions_path is None


def test_endless_run_is_stopped_at_time_limit(run_job: RunJob) -> None:
    # The job ignores SIGTERM, so this also checks the SIGKILL after the grace period.
    result = run_job("sleep_forever", time_seconds=3, stop_grace_seconds=1)

    assert result.timed_out
    assert result.failure is not None
    assert result.failure.kind == "time_limit"
    assert "time limit (3 s)" in result.failure.message
    assert "sleeping" in result.log_tail
    assert result.duration_seconds >= 3
    assert result.exit_code == 137  # SIGKILL after the grace: it never ran to its own end


def test_should_stop_stops_the_run_early(run_job: RunJob, client: docker.DockerClient) -> None:
    # The job ignores SIGTERM, so this also checks the SIGKILL after the grace period.
    started = time.monotonic()
    calls = []

    def should_stop() -> bool:
        calls.append(time.monotonic())
        return time.monotonic() - started > 2

    marker = {"podium.test-cancel": uuid.uuid4().hex}
    result = run_job(
        "sleep_forever",
        time_seconds=60,
        stop_grace_seconds=1,
        should_stop=should_stop,
        labels=marker,
    )

    assert result.cancelled
    assert result.failure is None
    assert result.predictions_path is None
    assert not result.timed_out
    assert result.duration_seconds >= 2  # cancelled, not timed out: stopped before 60 s
    assert "sleeping" in result.log_tail
    assert len(calls) >= 2  # polled while the run waited, not once
    label = next(iter(marker.items()))
    assert client.containers.list(all=True, filters={"label": "=".join(label)}) == []


def test_slow_should_stop_near_the_time_limit_still_times_out(run_job: RunJob) -> None:
    # The callback eats the last of the time: the next wait must not ask for a 0 s timeout.
    def should_stop() -> bool:
        time.sleep(1.5)
        return False

    result = run_job("sleep_forever", time_seconds=2, stop_grace_seconds=1, should_stop=should_stop)

    assert result.timed_out and not result.cancelled
    assert result.failure is not None and result.failure.kind == "time_limit"


def test_should_stop_errors_are_ignored(run_job: RunJob) -> None:
    def should_stop() -> bool:
        raise RuntimeError("database unreachable")

    result = run_job("fail", should_stop=should_stop)

    assert not result.cancelled
    assert result.failure is not None
    assert result.failure.kind == "runtime_error"


def test_nonzero_exit_is_runtime_error_with_log_tail(run_job: RunJob) -> None:
    result = run_job("fail")

    assert result.exit_code == 3
    assert result.failure is not None
    assert result.failure.kind == "runtime_error"
    assert "exit code 3" in result.failure.message
    assert "submission page" in result.failure.message
    assert "about to fail: marker-7f3a" in result.log_tail
    assert "traceback-ish line on stderr" in result.log_tail


def test_log_tail_is_bounded(run_job: RunJob) -> None:
    result = run_job("fail", log_tail_bytes=40)

    assert len(result.log_tail.encode()) <= 40
    assert result.log_tail.endswith("traceback-ish line on stderr\n")


def test_missing_predictions_is_no_predictions(run_job: RunJob) -> None:
    result = run_job("no_predictions")

    assert result.exit_code == 0
    assert result.failure is not None
    assert result.failure.kind == "no_predictions"
    assert "/output/predictions.csv" in result.failure.message
    assert result.predictions_path is None


def test_symlinked_predictions_are_not_followed(run_job: RunJob) -> None:
    result = run_job("symlink")

    assert result.exit_code == 0
    assert result.failure is not None
    assert result.failure.kind == "no_predictions"
    assert "symbolic link" in result.failure.message
    assert result.predictions_path is None


def test_oversized_predictions_fail_with_disk_limit(run_job: RunJob) -> None:
    result = run_job("big_predictions", predictions_max_bytes=1024)

    assert result.failure is not None
    assert result.failure.kind == "disk_limit"
    assert "limit of 1 KB" in result.failure.message
    assert result.predictions_path is None


def test_run_has_no_network_interface_but_loopback(probe: dict[str, Any]) -> None:
    assert probe["interfaces"] == ["lo"]


def test_run_uses_unprivileged_user_whatever_the_image_says(probe: dict[str, Any]) -> None:
    # The test image declares USER root.
    assert (probe["uid"], probe["gid"]) == (65534, 65534)


def test_data_and_root_fs_are_read_only(probe: dict[str, Any]) -> None:
    erofs = "OSError:30"
    assert probe["write_train"] == erofs
    assert probe["write_sample"] == erofs
    assert probe["write_rootfs"] == erofs
    assert probe["write_etc"] == erofs


def test_output_and_tmp_are_writable(probe: dict[str, Any]) -> None:
    assert probe["write_output"] == "ok"
    assert probe["write_tmp"] == "ok"


def test_limits_are_published_in_the_environment(probe: dict[str, Any]) -> None:
    assert probe["env"]["PODIUM_MEMORY_LIMIT_BYTES"] == str(256 * 2**20)
    assert probe["env"]["PODIUM_CPUS"] == "1.5"
    assert probe["env"]["PODIUM_TIME_LIMIT_SECONDS"] == "60"
    assert probe["env"]["PODIUM_GPUS"] == "0"
    assert probe["env"]["OMP_NUM_THREADS"] == "1"
    assert probe["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert probe["env"]["MKL_NUM_THREADS"] == "1"
    assert probe["data"] == ["sample_submission.csv", "test", "train"]


def test_process_count_and_tmp_size_are_bounded(run_job: RunJob) -> None:
    result = run_job("exhaust", pids=32, tmp_bytes=8 * 2**20)

    line = next(x for x in result.log_tail.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    assert report["fork_error"] == errno.EAGAIN
    assert report["forks"] < 32
    assert report["tmp_error"] == errno.ENOSPC


def test_missing_image_is_an_engine_error(
    client: docker.DockerClient, dataset: RunMounts, tmp_path: Path
) -> None:
    with pytest.raises(sandbox.EngineError):
        sandbox.run(
            client,
            image_id="sha256:" + "0" * 64,
            limits=Limits(memory_bytes=2**27, cpus=1, time_seconds=5),
            mounts=dataset,
            output_dir=tmp_path,
        )


def test_unreachable_engine_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(sandbox.EngineError, match="Cannot reach the Docker engine"):
        sandbox.docker_client()
