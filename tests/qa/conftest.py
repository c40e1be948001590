"""Fixtures for the qa tests: the PyTorch runtime image and the starter kit saved as a
participant saves it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTORCH_IMAGE = "podium/pytorch:1.13"


@pytest.fixture(scope="session")
def pytorch_kit_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/baseline-pytorch-qa built FROM podium/pytorch:1.13 and `docker save`d.

    This fixture is how `./podiumctl test` builds the PyTorch image: only when a test
    that needs it runs (docker/build-base-images.sh skips a tag that exists).
    """
    build = subprocess.run(
        [str(ROOT / "docker" / "build-base-images.sh"), PYTORCH_IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, f"building {PYTORCH_IMAGE} failed:\n{build.stderr[-3000:]}"
    client = docker.from_env()
    tag = "podium-test/qa-starter-kit:latest"
    client.images.build(
        path=str(ROOT / "examples" / "baseline-pytorch-qa"), tag=tag, network_mode="none", rm=True
    )
    # Uncompressed: gzip would cost more time than it saves on the local engine.
    target = tmp_path_factory.mktemp("images") / "qa-starter-kit.tar"
    with target.open("wb") as out:
        for chunk in client.images.get(tag).save(named=True):
            out.write(chunk)
    return target
