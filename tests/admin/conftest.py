"""Fixtures of the admin and publication tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from adminworld import World, make_world


@pytest.fixture
def world(db: None, digits_bundle: Path) -> World:
    return make_world(digits_bundle)
