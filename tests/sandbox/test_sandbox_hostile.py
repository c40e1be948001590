"""Hostile submissions on the real engine: each is contained and told what went wrong.

Every test builds (from the shared hostile script) one image whose CMD is the attack, runs
it through :func:`sandbox.run` and checks the failure kind, the participant's message, that
nothing is left behind and, for the heavy attacks, that a run beside it is unaffected.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest

from sandbox import RunMounts, RunResult

RunJob = Callable[..., RunResult]

pytestmark = pytest.mark.docker
MB = 2**20


def _report(result: RunResult) -> dict[str, Any]:
    line = next(x for x in result.log_tail.splitlines() if x.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def _digest(mounts: RunMounts) -> str:
    digest = hashlib.sha256()
    for root in (mounts.train_dir, mounts.test_dir):
        for path in sorted(Path(root).rglob("*")):
            digest.update(str(path).encode() + path.read_bytes())
    digest.update(Path(mounts.sample_submission).read_bytes())
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def nothing_left_behind(tmp_path: Path, dataset: RunMounts) -> Iterator[None]:
    """After each attack: no scratch file system mounted or on disk, inputs unchanged."""
    before = _digest(dataset)
    yield
    assert not list(tmp_path.glob("podium-run-*")), "scratch directory left behind"
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
    assert _digest(dataset) == before


@pytest.fixture
def beside(run_job: RunJob) -> Iterator[Callable[[], Future[RunResult]]]:
    """Start an honest run in the background; the test checks it after its attack."""
    pool = ThreadPoolExecutor(max_workers=1)
    yield lambda: pool.submit(run_job, "predict")
    pool.shutdown(wait=True)


def _assert_honest_run_ok(future: Future[RunResult]) -> None:
    result = future.result(timeout=120)
    assert result.failure is None, (result.failure, result.log_tail)
    assert result.predictions_path is not None
    assert result.predictions_path.read_text() == "id,label\n10,1\n11,1\n"


def test_fork_bomb_is_held_by_the_pids_limit(
    run_hostile: RunJob, beside: Callable[[], Future[RunResult]]
) -> None:
    honest = beside()
    result = run_hostile("fork_bomb", pids=64, time_seconds=5, stop_grace_seconds=1)

    assert result.failure is not None and result.failure.kind == "time_limit"
    assert "time limit (5 s)" in result.failure.message
    assert f"errno {errno.EAGAIN}" in result.log_tail
    _assert_honest_run_ok(honest)
    assert os.fork  # the host can still fork: this test process is alive and running


def test_memory_bomb_fails_with_memory_limit(
    run_hostile: RunJob, beside: Callable[[], Future[RunResult]]
) -> None:
    honest = beside()
    result = run_hostile("memory_bomb", memory_bytes=128 * MB)

    assert result.oom_killed
    assert result.failure is not None and result.failure.kind == "memory_limit"
    assert "memory limit (128 MB)" in result.failure.message
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes <= 129 * MB
    _assert_honest_run_ok(honest)


def test_filling_tmp_fails_with_disk_limit(run_hostile: RunJob) -> None:
    result = run_hostile("fill_tmp", tmp_bytes=16 * MB)

    assert result.failure is not None and result.failure.kind == "disk_limit"
    assert "/tmp holds at most 16 MB" in result.failure.message
    assert "No space left on device" in result.log_tail


def test_filling_output_fails_with_disk_limit(run_hostile: RunJob) -> None:
    result = run_hostile("fill_output", output_bytes=16 * MB)

    assert result.failure is not None and result.failure.kind == "disk_limit"
    assert "filled /output" in result.failure.message
    assert "16 MB" in result.failure.message


@pytest.mark.parametrize(
    ("mode", "limit", "message"),
    [
        ("many_files_tmp", {"tmp_inodes": 2000}, "2000 files"),
        ("many_files_output", {"output_inodes": 2000}, "number of files limit"),
    ],
)
def test_a_million_tiny_files_hit_the_inode_limit(
    run_hostile: RunJob, mode: str, limit: dict[str, int], message: str
) -> None:
    result = run_hostile(mode, **limit)

    assert result.failure is not None and result.failure.kind == "disk_limit"
    assert message in result.failure.message


def test_log_flood_is_capped_on_the_host(
    client: docker.DockerClient,
    run_hostile: RunJob,
    session_labels: dict[str, str],
) -> None:
    """Several GB of log: the engine's json-file cap holds it to a few MB on the host."""
    marker = {"podium.test-flood": os.urandom(4).hex()}
    largest = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            for container in client.containers.list(
                filters={"label": [f"{k}={v}" for k, v in marker.items()]}
            ):
                path = Path(container.attrs["LogPath"])
                sizes = [p.stat().st_size for p in path.parent.glob(path.name + "*")]
                largest[0] = max(largest[0], sum(sizes))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run_hostile("log_flood", labels=marker, time_seconds=8, log_tail_bytes=4096)
    finally:
        done.set()
        watcher.join()

    assert result.failure is None or result.failure.kind == "time_limit", result.failure
    assert len(result.log_tail.encode()) <= 4096
    assert 0 < largest[0] <= 2 * 10 * MB + MB  # max-size 10m, max-file 2


def test_sleeping_forever_is_stopped_by_sigterm(run_hostile: RunJob) -> None:
    result = run_hostile("sleep_forever", time_seconds=2, stop_grace_seconds=10)

    assert result.timed_out
    assert result.failure is not None and result.failure.kind == "time_limit"
    assert "time limit (2 s)" in result.failure.message
    assert "got SIGTERM, leaving" in result.log_tail
    assert result.exit_code == 0


def test_a_sigkill_the_platform_did_not_send_is_judged_a_memory_kill(
    run_hostile: RunJob,
) -> None:
    """The engine can miss the kernel's OOM event (it saw the exit first, on a loaded host):
    exit 137 without the platform's own kill (time limit, cancel) is then the OOM killer's,
    reported at the limit, not a runtime error with a peak below it. A run that kills
    itself so is judged the same: its own fault either way."""
    result = run_hostile("sigkill_self", memory_bytes=128 * MB)

    assert result.exit_code == 137 and not result.timed_out
    assert result.oom_killed
    assert result.failure is not None and result.failure.kind == "memory_limit"
    assert "memory limit (128 MB)" in result.failure.message
    assert result.peak_memory_bytes == 128 * MB


def test_ignoring_sigterm_gets_sigkill_after_the_grace_period(run_hostile: RunJob) -> None:
    result = run_hostile("ignore_sigterm", time_seconds=2, stop_grace_seconds=1)

    assert result.timed_out
    assert result.failure is not None and result.failure.kind == "time_limit"
    assert "deaf to SIGTERM" in result.log_tail
    assert result.exit_code == 137


def test_busy_loop_on_all_cores_is_throttled_to_the_cpu_limit(
    client: docker.DockerClient,
    run_hostile: RunJob,
    beside: Callable[[], Future[RunResult]],
) -> None:
    """The limit is read where the kernel enforces it (the engine's configuration and the
    run's CFS quota in its cgroup), never from CPU time consumed, which depends on load."""
    marker = {"podium.test-cpu": os.urandom(4).hex()}
    seen: dict[str, Any] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05) and "quota" not in seen:
            for container in client.containers.list(
                filters={"label": [f"{k}={v}" for k, v in marker.items()]}
            ):
                seen["nano_cpus"] = container.attrs["HostConfig"]["NanoCpus"]
                cgroup = Path("/sys/fs/cgroup/cpu/docker") / container.id
                try:
                    seen["period"] = int((cgroup / "cpu.cfs_period_us").read_text())
                    seen["quota"] = int((cgroup / "cpu.cfs_quota_us").read_text())
                except OSError:
                    continue  # not created yet, or gone

    honest = beside()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run_hostile("cpu_hog", cpus=0.5, labels=marker)
    finally:
        done.set()
        watcher.join()

    assert result.failure is None, result.log_tail
    assert seen["nano_cpus"] == 500_000_000
    assert seen["quota"] / seen["period"] == pytest.approx(0.5)
    # A ceiling holds on any machine: four spinning processes never get more than it.
    assert result.cpu_seconds is not None
    assert result.cpu_seconds <= 0.5 * result.duration_seconds * 1.15 + 0.2
    _assert_honest_run_ok(honest)


def test_network_attempts_fail_without_an_interface(run_hostile: RunJob) -> None:
    result = run_hostile("network")

    report = _report(result)
    assert report["interfaces"] == ["lo"]
    assert report["tcp"] == errno.ENETUNREACH
    assert report["loopback_host"] == errno.ENETUNREACH
    assert report["udp"] == errno.ENETUNREACH
    assert report["dns"] == "gaierror"


def test_snooping_finds_no_labels_secrets_sockets_or_other_data(
    run_hostile: RunJob, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "s3cret-" + os.urandom(6).hex()
    label_value = "label-" + os.urandom(6).hex()
    monkeypatch.setenv("PODIUM_TEST_WORKER_SECRET", secret)

    result = run_hostile("snoop", labels={"podium.submission": label_value}, log_tail_bytes=1 * MB)

    report = _report(result)
    dumped = json.dumps(report)
    assert secret not in dumped
    assert label_value not in dumped
    assert "podium.sandbox" not in dumped
    assert report["sockets"] == []
    assert "docker.sock" not in dumped
    assert report["data"] == ["sample_submission.csv", "test", "train"]
    # Only the run's own pids are visible: init and the job.
    assert len(report["pids"]) <= 3
    writable_or_data = {m for m in report["mounts"] if m.startswith(("/data", "/output", "/tmp"))}
    assert writable_or_data == {
        "/data/train",
        "/data/test",
        "/data/sample_submission.csv",
        "/output",
        "/tmp",
    }
    assert report["texts"]["hostname"].strip() == "podium-run"


def test_writes_to_root_fs_and_data_fail(run_hostile: RunJob) -> None:
    result = run_hostile("vandal")

    report = _report(result)
    for attempt in ("rootfs", "etc", "usr", "train_new", "train_overwrite", "test_overwrite"):
        assert report[attempt] == errno.EROFS, attempt
    assert report["sample"] == errno.EROFS
    assert report["remove"] == errno.EROFS
    assert report["rename"] == errno.EROFS
    assert report["chmod"] == errno.EROFS
    # The autouse fixture checks the inputs' checksum after the run.


def test_setuid_mount_and_ptrace_are_refused(run_hostile: RunJob) -> None:
    result = run_hostile("escalate", time_seconds=10)

    report = _report(result)
    assert report["uid"] == 65534
    assert report["setuid"] == errno.EPERM
    assert report["setgid"] == errno.EPERM
    assert report["mount"] == errno.EPERM
    # ptrace reaches nothing outside the run: other pids do not exist in its namespace
    # (its own init runs as the same user, so the default profile may allow seizing it).
    assert report["ptrace_outside"] == errno.ESRCH
    assert report["ptrace_init"] in (0, errno.EPERM)
    assert report["chown"] == errno.EPERM
    assert report["mknod"] == errno.EPERM
    assert report["cap_eff"] == "0000000000000000"
    assert report["no_new_privs"] == "1"
    assert report["seccomp"] == "2"  # the engine's default seccomp profile is applied
    assert report["core"] == [0, 0]


def test_predictions_symlinked_to_a_host_file_are_not_read(run_hostile: RunJob) -> None:
    result = run_hostile("symlink_out")

    assert result.failure is not None and result.failure.kind == "no_predictions"
    assert "symbolic link" in result.failure.message
    assert result.predictions_path is None
    # A hard link to the data cannot cross into /output's own file system.
    assert f"errno {errno.EXDEV}" in result.log_tail


def test_5_gb_predictions_file_is_refused_before_reading(run_hostile: RunJob) -> None:
    # A sparse file: the run writes almost nothing, the size cap must still hold.
    result = run_hostile("huge_predictions", output_bytes=6 * 2**30)

    assert result.failure is not None and result.failure.kind == "disk_limit"
    assert "5 GB, over the limit of 1 GB" in result.failure.message
    assert result.predictions_path is None


def test_host_wide_counters_are_masked(run_hostile: RunJob) -> None:
    """A scored run that writes N MB or forks N times moves host-wide counters; a later run
    of the same team (a debug run, whose log is shown) must not be able to read them."""
    host = Path("/proc/diskstats").read_text()
    assert host.strip(), "the host has disk counters: the test can see a leak"
    run_hostile("fill_tmp", tmp_bytes=32 * MB)  # moves the counters of its loop device
    result = run_hostile("counters", log_tail_bytes=1 * MB)
    report = _report(result)
    # Empty, or unreadable ("<errno>"): nothing an earlier run moved.
    leaked = {
        path: text
        for path, text in report["files"].items()
        if text.strip() and not (text.startswith("<") and text.endswith(">"))
    }
    assert leaked == {}, leaked
    assert all(entries in ([], "<2>") for entries in report["folders"].values()), report
    assert report["cpus"] >= 1  # ordinary programs still see the CPUs
