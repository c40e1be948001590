"""Compare the cost of a run through ``sandbox.run`` with a raw ``docker run``.

Run with ``python benchmarks/bench_sandbox.py [N] [--spans]``. The target is a median
ratio of at most 1.15: the sandbox's extra work (its /output file system, stats sampling,
inspect, log tail, predictions check) must stay small next to the engine's own container
start-up. The machine's load average is printed too: the figures swing with it. With
``--spans`` the median time of each phase of ``sandbox.run`` (its DEBUG log) is shown.
"""

from __future__ import annotations

import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sandbox  # noqa: E402

BASE_IMAGE = "podium/python:3.11"
TAG = "podium-bench/trivial:latest"
TARGET_RATIO = 1.15
SCRIPT = "open('/output/predictions.csv', 'w').write('id,label\\n1,0\\n')\n"


def build_image(client: docker.DockerClient, workdir: Path) -> str:
    """Build a trivial image that writes predictions, without any network."""
    context = workdir / "context"
    context.mkdir()
    (context / "job.py").write_text(SCRIPT)
    (context / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nCOPY job.py /app/job.py\nCMD ["python3", "/app/job.py"]\n'
    )
    image, _ = client.images.build(path=str(context), network_mode="none", rm=True, tag=TAG)
    return str(image.id)


def time_sandbox(
    client: docker.DockerClient, image_id: str, workdir: Path, runs: int
) -> list[float]:
    data = workdir / "data"
    (data / "train").mkdir(parents=True)
    (data / "test").mkdir()
    (data / "sample_submission.csv").write_text("id,label\n1,0\n")
    mounts = sandbox.RunMounts(data / "train", data / "test", data / "sample_submission.csv")
    limits = sandbox.Limits(memory_bytes=512 * 2**20, cpus=1, time_seconds=60)
    timings = []
    for index in range(runs):
        output = workdir / f"out-{index}"
        output.mkdir()
        started = time.perf_counter()
        result = sandbox.run(
            client,
            image_id=image_id,
            limits=limits,
            mounts=mounts,
            output_dir=output,
            labels={"podium.benchmark": "1"},
        )
        timings.append(time.perf_counter() - started)
        if result.failure is not None:
            raise SystemExit(f"sandbox run failed: {result.failure}\n{result.log_tail}")
    return timings


def time_raw(image_id: str, workdir: Path, runs: int) -> list[float]:
    output = workdir / "raw-out"
    output.mkdir()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "-v", f"{output}:/output", image_id],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        timings.append(time.perf_counter() - started)
    return timings


class SpanCollector(logging.Handler):
    """Collect the phase timings that ``sandbox.run`` logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.spans: dict[str, list[float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("sandbox run spans:"):
            for name, value in re.findall(r"(\w+)=([\d.]+)ms", message):
                self.spans.setdefault(name, []).append(float(value))


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    runs = int(args[0]) if args else 10
    collector = SpanCollector()
    if "--spans" in sys.argv:
        runner_log = logging.getLogger("sandbox.runner")
        runner_log.setLevel(logging.DEBUG)
        runner_log.addHandler(collector)
    client = sandbox.docker_client()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        workdir = Path(tmp)
        image_id = build_image(client, workdir)
        # Warm up once so the first start's page-cache misses count for neither variant.
        (workdir / "warm").mkdir()
        time_raw(image_id, workdir / "warm", 1)
        raw: list[float] = []
        boxed: list[float] = []
        # Interleave the two so drift in engine load affects both alike.
        for index in range(runs):
            run_dir = workdir / f"round-{index}"
            run_dir.mkdir()
            raw += time_raw(image_id, run_dir, 1)
            boxed += time_sandbox(client, image_id, run_dir, 1)
    raw_median = statistics.median(raw)
    boxed_median = statistics.median(boxed)
    ratio = boxed_median / raw_median
    paired = statistics.median(b - r for b, r in zip(boxed, raw, strict=True))
    print(f"runs per variant:          {runs}")
    print("load average (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(
        f"raw docker run (median):   {raw_median:.3f} s  (min {min(raw):.3f}, max {max(raw):.3f})"
    )
    print(
        f"sandbox.run (median):      {boxed_median:.3f} s  "
        f"(min {min(boxed):.3f}, max {max(boxed):.3f})"
    )
    print(f"sandbox - raw, per round:  {paired * 1000:+.0f} ms (median)")
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio sandbox/raw:         {ratio:.2f}  (target <= {TARGET_RATIO}) {verdict}")
    if collector.spans:
        phases = ", ".join(
            f"{name} {statistics.median(values):.1f}" for name, values in collector.spans.items()
        )
        print(f"sandbox.run phases (median ms): {phases}")


if __name__ == "__main__":
    main()
