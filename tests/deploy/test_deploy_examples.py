"""The deployment examples an operator copies (docker/deploy): each runs a role the image
has, and a compute host is never handed the platform's secrets.

Neither compose nor systemd runs here (no `docker compose`, no systemd), so these read the
files; tests/scoring/test_platform_image.py runs the roles themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docker" / "deploy"
SECRETS = ("DATABASE_URL", "DJANGO_SECRET_KEY", "POSTGRES_PASSWORD")


def _roles() -> set[str]:
    """The roles docker/platform/entrypoint.sh dispatches on (its `case` labels)."""
    script = (ROOT / "docker" / "platform" / "entrypoint.sh").read_text()
    return set(re.findall(r"^  ([a-z]+)\)$", script, flags=re.MULTILINE))


def test_the_entrypoint_has_the_roles_the_readme_names() -> None:
    assert _roles() == {"web", "scoring", "beat", "compute", "manage"}


def test_compose_runs_each_role_and_keeps_secrets_off_the_compute_host() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    platform = {name: s for name, s in services.items() if "podium/platform" in s["image"]}
    assert {name: s["command"][0] for name, s in platform.items()} == {
        "web": "web",
        "scoring": "scoring",
        "compute": "compute",
    }
    # Web and scoring share PODIUM_HOME; the compute host gets its own folder only.
    for name in ("web", "scoring"):
        assert "podium-home:/srv/podium" in platform[name]["volumes"]
        assert "DJANGO_SECRET_KEY" in platform[name]["environment"]
    compute = platform["compute"]
    assert not set(SECRETS) & compute["environment"].keys()
    assert not any(secret in str(compute) for secret in SECRETS)
    assert "env_file" not in compute
    assert compute["pid"] == "host" and compute["user"] == "root"
    assert compute["cap_add"] == ["SYS_ADMIN"] and "privileged" not in compute
    work = next(v for v in compute["volumes"] if isinstance(v, dict))
    assert work["source"] == work["target"] == compute["environment"]["PODIUM_COMPUTE_WORK_DIR"]
    assert work["bind"]["propagation"] == "rshared"


def _exec_start(unit: str) -> str:
    text = (DEPLOY / "systemd" / unit).read_text().replace("\\\n", " ")
    return next(line for line in text.splitlines() if line.startswith("ExecStart="))


def test_systemd_units_run_each_role_from_the_image() -> None:
    for unit, role in (
        ("podium-web.service", "web"),
        ("podium-scoring.service", "scoring"),
        ("podium-compute.service", "compute"),
    ):
        command = _exec_start(unit).split()
        assert command[:3] == ["ExecStart=/usr/bin/docker", "run", "--rm"], unit
        assert command[-2:] == ["${PODIUM_IMAGE}", role], unit
    compute = _exec_start("podium-compute.service")
    assert "--env-file /etc/podium/compute.env" in compute
    assert "platform.env" not in compute and not any(s in compute for s in SECRETS)
    assert "--pid host" in compute and "bind-propagation=rshared" in compute
    assert "--cap-add SYS_ADMIN" in compute and "--privileged" not in compute
    for unit in ("podium-web.service", "podium-scoring.service"):
        assert "docker.sock" not in _exec_start(unit), unit
