"""Fixtures for the scoring pipeline tests: a real engine and real submission images."""

from __future__ import annotations

import contextlib
import gzip
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from testimages import SESSION, SESSION_LABEL, session_tag

import sandbox

BASE_IMAGE = "podium/python:3.11"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The local Docker engine with the base image; a missing one fails, never skips."""
    try:
        client = sandbox.docker_client()
        client.images.get(BASE_IMAGE)
    except (sandbox.EngineError, docker.errors.ImageNotFound) as exc:
        pytest.fail(
            f"{exc}. Start the Docker engine and build {BASE_IMAGE} with "
            "docker/build-base-images.sh (./podiumctl test does both).",
            pytrace=False,
        )
    return client


def _save(client: docker.DockerClient, tag: str, target: Path, *, compress: bool) -> Path:
    # Level 1, as `gzip -1`: the default level 9 takes a minute on a 570 MB image.
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(target.open("wb"))
        out = (
            stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1))
            if compress
            else raw
        )
        for chunk in client.images.get(tag).save(named=True):
            out.write(chunk)
    return target


@pytest.fixture(scope="session")
def baseline_archive(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/baseline-sklearn built and saved as a participant would: gzip'ed docker save."""
    tag = "podium-test/digits-baseline:latest"
    engine.images.build(
        path=str(ROOT / "examples" / "baseline-sklearn"), tag=tag, network_mode="none", rm=True
    )
    target = tmp_path_factory.mktemp("images") / "digits-baseline.tar.gz"
    return _save(engine, tag, target, compress=True)


@pytest.fixture(scope="session")
def script_archive(
    engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], Path]]:
    """Build an image FROM the base image whose entrypoint is the given Python script, under
    this session's tag (tests/testimages.py); the tags are removed at the end."""
    cache: dict[str, Path] = {}

    def build(name: str, script: str) -> Path:
        if name in cache:
            return cache[name]
        context = tmp_path_factory.mktemp(f"ctx-{name}")
        (context / "main.py").write_text(textwrap.dedent(script))
        (context / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\n"
            f"LABEL {SESSION_LABEL}={SESSION}\n"
            "COPY main.py /app/main.py\n"
            'ENTRYPOINT ["python3", "/app/main.py"]\n'
        )
        tag = session_tag(name)
        engine.images.build(path=str(context), tag=tag, network_mode="none", rm=True)
        target = tmp_path_factory.mktemp("images") / f"{name}.tar"
        cache[name] = _save(engine, tag, target, compress=False)
        return cache[name]

    yield build
    for name in cache:
        # Already gone where a test untagged it; still in use where a run left it behind.
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            engine.images.remove(session_tag(name))
