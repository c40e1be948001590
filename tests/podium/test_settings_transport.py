"""Transport settings: HTTPS hardening only in production and only when asked for; the
cache shared by web processes; a wrong cache URL fails fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import json, podium.settings as s; print(json.dumps({"
    "'secure': getattr(s, 'SESSION_COOKIE_SECURE', False), "
    "'csrf_secure': getattr(s, 'CSRF_COOKIE_SECURE', False), "
    "'redirect': getattr(s, 'SECURE_SSL_REDIRECT', False), "
    "'hsts': getattr(s, 'SECURE_HSTS_SECONDS', 0), "
    "'proxy_ssl': getattr(s, 'SECURE_PROXY_SSL_HEADER', None), "
    "'cache': s.CACHES['default']['BACKEND'], 'proxies': s.PODIUM_TRUSTED_PROXIES, "
    "'cache_location': s.CACHES['default'].get('LOCATION')}))"
)
PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k" * 50, "DJANGO_ALLOWED_HOSTS": "x"}


def load(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", ""), "PODIUM_HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def values(tmp_path: Path, **env: str) -> dict:
    result = load(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_https_hardening_in_production_when_asked(tmp_path: Path) -> None:
    on = values(tmp_path, **PRODUCTION, PODIUM_HTTPS="1")
    assert on["secure"] and on["csrf_secure"] and on["redirect"]
    assert on["hsts"] == 365 * 24 * 3600 and on["proxy_ssl"] is None
    behind = values(tmp_path, **PRODUCTION, PODIUM_HTTPS="1", PODIUM_TRUSTED_PROXIES="1")
    assert behind["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_no_https_hardening_unless_asked_or_in_development(tmp_path: Path) -> None:
    for env in (PRODUCTION, {"PODIUM_HTTPS": "1"}):
        got = values(tmp_path, **env)
        assert not (got["secure"] or got["redirect"] or got["hsts"]), env


def test_the_default_cache_is_shared_by_processes_and_configurable(tmp_path: Path) -> None:
    assert values(tmp_path)["cache"].endswith("FileBasedCache")
    assert values(tmp_path, PODIUM_CACHE_URL="locmem://")["cache"].endswith("LocMemCache")
    redis = values(tmp_path, PODIUM_CACHE_URL="redis://127.0.0.1:6379/0")["cache"]
    assert redis.endswith("RedisCache")
    assert values(tmp_path)["cache_location"] == str(tmp_path / "cache")
    elsewhere = values(tmp_path, PODIUM_CACHE_URL=f"file://{tmp_path}/elsewhere")
    assert elsewhere["cache_location"] == f"{tmp_path}/elsewhere"
    same = values(tmp_path, PODIUM_CACHE_URL=f"filecache://{tmp_path}/elsewhere")
    assert same["cache_location"] == f"{tmp_path}/elsewhere"
    wrong = load(tmp_path, PODIUM_CACHE_URL="memcache://x")
    assert wrong.returncode != 0 and "PODIUM_CACHE_URL='memcache://x'" in wrong.stderr
