"""docker/platform/missing_wheels.py: the dependencies the image's Python needs that
`pip download` skipped because it evaluated the markers for the host's Python."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "platform" / "missing_wheels.py"


def _wheel(folder: Path, name: str, version: str, *requires: str) -> None:
    dist_info = f"{name}-{version}.dist-info"
    metadata = "".join(
        [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
        + [f"Requires-Dist: {line}\n" for line in requires]
    )
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{dist_info}/METADATA", metadata)


def _missing(folder: Path, version: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), str(folder), "--python-full-version", version],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.split("\n")[:-1]


def test_dependencies_the_image_python_needs_are_named(tmp_path: Path) -> None:
    _wheel(
        tmp_path,
        "redis",
        "8.1.0",
        'async-timeout>=4.0.3; python_full_version < "3.11.3"',
        'hiredis>=3; extra == "hiredis"',
        "typing-extensions",
    )
    _wheel(tmp_path, "typing_extensions", "4.16.0")
    # Bookworm's 3.11.2 needs async-timeout; a host's 3.11.7 does not, nor does any
    # Python need an extra nobody asked for or a dependency already present.
    assert _missing(tmp_path, "3.11.2") == ["async-timeout>=4.0.3"]
    assert _missing(tmp_path, "3.11.7") == []
    _wheel(tmp_path, "async_timeout", "5.0.1")
    assert _missing(tmp_path, "3.11.2") == []
