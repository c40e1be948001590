"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from examples.digits.make_bundle import make_bundle


@pytest.fixture(scope="session", autouse=True)
def _fresh_podium_home() -> Iterator[None]:
    """Start every test session with empty media, work and broker folders."""
    home = Path(settings.PODIUM_HOME)
    for name in ("media", "work", "broker/queue", "broker/processed"):
        shutil.rmtree(home / name, ignore_errors=True)
        (home / name).mkdir(parents=True, exist_ok=True)
    yield


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo competition's bundle, made from scikit-learn's digits."""
    return make_bundle(tmp_path_factory.mktemp("bundle") / "digits")


@pytest.fixture
def digits(db: None, digits_bundle: Path) -> Competition:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    return competition
