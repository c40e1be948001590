"""Fixtures for the sandbox tests: a real engine, real images, real containers.

Images are built from the platform base image once per session and go through
``docker save`` and :func:`sandbox.load_image`, so every run test also exercises loading.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

# pytest-django puts the project root on sys.path (it finds manage.py); without the plugin
# (`-p no:django`) nothing does, so make the sandbox importable either way.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import sandbox  # noqa: E402
from sandbox import Limits, LoadedImage, RunMounts, RunResult  # noqa: E402

BASE_IMAGE = "podium/python:3.11"
JOB_TAG = "podium-test/sandbox-job:latest"
IMAGE_DIR = Path(__file__).parent / "image"
SESSION_LABEL = "podium.test-session"


def _fail_setup(what: str) -> None:
    pytest.fail(
        f"{what}. The sandbox tests need a running Docker engine and the base image "
        f"{BASE_IMAGE}: start the engine (`dockerd --bridge=none --iptables=false "
        "--ip-masq=false &`) and build the image with `docker/build-base-images.sh`.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    try:
        engine = sandbox.docker_client()
    except sandbox.EngineError as exc:
        _fail_setup(f"No Docker engine: {exc}")
    try:
        engine.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        _fail_setup(f"The base image {BASE_IMAGE} is missing")
    return engine


@pytest.fixture(scope="session")
def session_labels(client: docker.DockerClient) -> Iterator[dict[str, str]]:
    """Label this session's containers and check at the end that none survived."""
    labels = {SESSION_LABEL: uuid.uuid4().hex}
    yield labels
    leftovers = client.containers.list(
        all=True,
        filters={"label": ["podium.sandbox=1", f"{SESSION_LABEL}={labels[SESSION_LABEL]}"]},
    )
    for container in leftovers:
        container.remove(force=True, v=True)
    assert leftovers == [], f"containers left behind: {[c.name for c in leftovers]}"


def _save_image(client: docker.DockerClient, reference: str, target: Path) -> Path:
    """Write ``docker save REFERENCE`` to ``target`` in chunks, as a participant would."""
    with target.open("wb") as handle:
        for chunk in client.images.get(reference).save(named=True):
            handle.write(chunk)
    return target


@pytest.fixture(scope="session")
def job_archive(client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the test submission image and save it as the participant's upload."""
    context = tmp_path_factory.mktemp("job-context")
    shutil.copy(IMAGE_DIR / "job.py", context / "job.py")
    (context / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nCOPY job.py /app/job.py\nUSER root\nCMD ["python3", "/app/job.py"]\n'
    )
    client.images.build(path=str(context), network_mode="none", rm=True, tag=JOB_TAG)
    return _save_image(client, JOB_TAG, tmp_path_factory.mktemp("upload") / "image.tar")


@pytest.fixture(scope="session")
def job_image(client: docker.DockerClient, job_archive: Path) -> LoadedImage:
    return sandbox.load_image(client, job_archive, max_size_bytes=4 * 2**30)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> RunMounts:
    root = tmp_path_factory.mktemp("dataset")
    (root / "train").mkdir()
    (root / "test").mkdir()
    (root / "train" / "train.csv").write_text("id,x,label\n1,0.5,1\n2,0.1,0\n3,0.9,1\n")
    (root / "test" / "test.csv").write_text("id,x\n10,0.3\n11,0.7\n")
    (root / "sample_submission.csv").write_text("id,label\n10,0\n11,0\n")
    return RunMounts(
        train_dir=root / "train",
        test_dir=root / "test",
        sample_submission=root / "sample_submission.csv",
    )


RunJob = Callable[..., RunResult]


@pytest.fixture
def run_job(
    client: docker.DockerClient,
    job_image: LoadedImage,
    dataset: RunMounts,
    session_labels: dict[str, str],
    tmp_path: Path,
) -> RunJob:
    """Run the test image in one of its modes; keyword arguments override the limits."""

    def _run(
        mode: str,
        *,
        labels: dict[str, str] | None = None,
        should_stop: Callable[[], bool] | None = None,
        **limit_overrides: float,
    ) -> RunResult:
        limits = Limits(
            **{"memory_bytes": 512 * 2**20, "cpus": 1.0, "time_seconds": 60, **limit_overrides}
        )
        output_dir = tmp_path / f"output-{mode}"
        output_dir.mkdir()
        return sandbox.run(
            client,
            image_id=job_image.image_id,
            limits=limits,
            mounts=dataset,
            output_dir=output_dir,
            labels={**session_labels, **(labels or {})},
            environment={"PODIUM_TEST_MODE": mode},
            should_stop=should_stop,
        )

    return _run


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """Return an uncompressed tar holding ``files`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_image_factory(
    client: docker.DockerClient,
) -> Iterator[Callable[..., str]]:
    """Create small imported images (no Python inside) for the archive checks.

    ``docker import`` gives images without any command unless one is passed as a change.
    """
    created: list[str] = []

    def _make(tag: str, *, cmd: list[str] | None = None, payload: bytes = b"hello") -> str:
        changes = [f"CMD {json.dumps(cmd)}"] if cmd else None
        rootfs = tar_bytes({"hello.txt": payload + uuid.uuid4().bytes})
        client.api.import_image_from_data(rootfs, repository=tag, changes=changes)
        created.append(tag)
        return tag

    yield _make
    for tag in created:
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(tag, force=True)


def _gzip_file(source: Path, target: Path) -> Path:
    with source.open("rb") as raw, gzip.open(target, "wb", compresslevel=1) as packed:
        shutil.copyfileobj(raw, packed)
    return target


def _docker_save_cli(references: list[str], target: Path) -> Path:
    """Save several images into one archive, which the SDK cannot do."""
    subprocess.run(["docker", "save", *references, "-o", str(target)], check=True)
    return target


# Helpers are handed out as fixtures, not imported: test modules cannot rely on importing
# conftest, whose module name depends on whether tests/ is a package.


@pytest.fixture(scope="session")
def save_image(client: docker.DockerClient) -> Callable[[str, Path], Path]:
    return lambda reference, target: _save_image(client, reference, target)


@pytest.fixture(scope="session")
def gzip_file() -> Callable[[Path, Path], Path]:
    return _gzip_file


@pytest.fixture(scope="session")
def docker_save_cli() -> Callable[[list[str], Path], Path]:
    return _docker_save_cli


HOSTILE_PREFIX = "podium-test/hostile-"


@pytest.fixture(scope="session")
def hostile_image(
    client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """Build one image per hostile behaviour (its CMD names the behaviour); return its id.

    The images share every layer but the last, so each build costs a fraction of a second.
    They are run by id straight from the engine; loading is covered by ``job_image``.
    """
    context = tmp_path_factory.mktemp("hostile-context")
    shutil.copy(IMAGE_DIR / "hostile.py", context / "hostile.py")
    built: dict[str, str] = {}

    def _build(mode: str) -> str:
        if mode not in built:
            (context / "Dockerfile").write_text(
                f"FROM {BASE_IMAGE}\nCOPY hostile.py /app/hostile.py\nUSER root\n"
                f'CMD ["python3", "/app/hostile.py", "{mode}"]\n'
            )
            tag = HOSTILE_PREFIX + mode.replace("_", "-")
            image, _ = client.images.build(path=str(context), network_mode="none", rm=True, tag=tag)
            built[mode] = str(image.id)
        return built[mode]

    yield _build
    for mode in built:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(HOSTILE_PREFIX + mode.replace("_", "-"))


@pytest.fixture
def run_hostile(
    client: docker.DockerClient,
    hostile_image: Callable[[str], str],
    dataset: RunMounts,
    session_labels: dict[str, str],
    tmp_path: Path,
) -> RunJob:
    """Run one hostile image; keyword arguments override the limits."""

    def _run(mode: str, *, labels: dict[str, str] | None = None, **overrides: Any) -> RunResult:
        limits = Limits(
            **{"memory_bytes": 256 * 2**20, "cpus": 1.0, "time_seconds": 30, **overrides}
        )
        output_dir = tmp_path / f"output-{mode}"
        return sandbox.run(
            client,
            image_id=hostile_image(mode),
            limits=limits,
            mounts=dataset,
            output_dir=output_dir,
            labels={**session_labels, **(labels or {})},
        )

    return _run
