"""Print the requirements that wheels in a folder need on the image's Python but lack.

``pip download --python-version`` picks wheels for the target Python, but evaluates
environment markers for the Python that runs pip: on a host with Python 3.11.7, redis's
``async-timeout; python_full_version < "3.11.3"`` is skipped, and Debian bookworm's 3.11.2
then cannot install redis. This reads each wheel's metadata (``Requires-Dist``),
evaluates the markers for the target (``--python-full-version``, default 3.11.2) and prints
one requirement a line for every dependency with no wheel in the folder, so that the build
script downloads them too. Exit status 0; no output means nothing is missing.

    python missing_wheels.py WHEEL_DIR [--python-full-version 3.11.2]
"""

from __future__ import annotations

import argparse
import email.parser
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename


def _metadata(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(name).decode())
    return message.get_all("Requires-Dist") or []


def missing(wheel_dir: Path, python_full_version: str) -> list[str]:
    """Return the requirements (strings) of wheels in ``wheel_dir`` that apply on the target
    Python and that no wheel in the folder provides."""
    environment = default_environment()
    environment["python_full_version"] = python_full_version
    environment["python_version"] = ".".join(python_full_version.split(".")[:2])
    environment["extra"] = ""
    wheels = sorted(wheel_dir.glob("*.whl"))
    present = {parse_wheel_filename(wheel.name)[0] for wheel in wheels}
    needed: dict[str, str] = {}
    for wheel in wheels:
        for line in _metadata(wheel):
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            if name not in present:
                requirement.marker = None
                needed.setdefault(name, str(requirement))
    return sorted(needed.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel_dir", type=Path)
    parser.add_argument("--python-full-version", default="3.11.2")
    args = parser.parse_args()
    for requirement in missing(args.wheel_dir, args.python_full_version):
        print(requirement)


if __name__ == "__main__":
    main()
