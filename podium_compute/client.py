"""The platform's compute endpoints (``/compute/v1/``) as Python calls, over requests."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import requests

TIMEOUT = (10, 300)  # seconds: connect, read


class PlatformError(Exception):
    """The platform refused a request or could not be reached; ``status`` 0 for the latter."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


class LeaseGone(PlatformError):
    """The run is no longer ours (410): recorded, cancelled, or taken back. Stop it."""


class NotQueued(PlatformError):
    """The claim found the run not queued (409): another worker has it, or it is done."""


class PlatformClient:
    """One run's conversation with the platform; ``lease_token`` is set by :meth:`claim`."""

    def __init__(self, base_url: str, submission_id: int, host_token: str = "") -> None:
        self.base = f"{base_url.rstrip('/')}/compute/v1/runs/{submission_id}"
        self.session = requests.Session()
        if host_token:
            # Which competitions' runs this host may touch (the platform's or an organizer's).
            self.session.headers["X-Podium-Host-Token"] = host_token
        self.lease_token = ""

    def _call(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(
                method,
                f"{self.base}/{path}",
                headers={"Authorization": f"Run {token}"},
                timeout=TIMEOUT,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise PlatformError(0, f"the platform is unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = response.text[:200]
            error = {410: LeaseGone, 409: NotQueued}.get(response.status_code, PlatformError)
            raise error(response.status_code, detail)
        return response

    def claim(self, *, dispatch_token: str, worker: str) -> dict[str, Any]:
        """Take the queued run; return its spec (limits, lease times, image checksum)."""
        spec: dict[str, Any] = self._call(
            "POST", "claim", dispatch_token, json={"worker": worker}
        ).json()
        self.lease_token = spec["lease_token"]
        return spec

    def heartbeat(self) -> None:
        self._call("POST", "heartbeat", self.lease_token)

    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = self._call("GET", "inputs/", self.lease_token).json()
        return manifest

    def download(self, path: str, target: Path, *, sha256: str | None = None) -> None:
        """Stream ``path`` into ``target`` (atomically); check its checksum when given."""
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        digest = hashlib.sha256()
        try:
            response = self._call("GET", path, self.lease_token, stream=True)
            with response, partial.open("wb") as out:
                for chunk in response.iter_content(1024 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise PlatformError(0, f"{path}: checksum mismatch (got {digest.hexdigest()})")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def put_predictions(self, path: Path) -> None:
        with path.open("rb") as body:
            self._call("PUT", "predictions", self.lease_token, data=body)

    def result(self, *, usage: dict[str, Any], failure: dict[str, str] | None) -> None:
        self._call("POST", "result", self.lease_token, json={"usage": usage, "failure": failure})

    def fault(self, message: str) -> None:
        self._call("POST", "fault", self.lease_token, json={"message": message})


def host_beat(
    base_url: str,
    host_token: str,
    name: str,
    queues: list[str],
    capacity: dict[str, Any],
) -> None:
    """Tell the platform this worker is alive, what it serves and what it runs (the queue
    page shows it). Raises :class:`PlatformError` when refused or unreachable."""
    try:
        response = requests.post(
            f"{base_url.rstrip('/')}/compute/v1/hosts/beat",
            headers={"Authorization": f"Host {host_token}"},
            json={"name": name, "queues": queues, "capacity": capacity},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise PlatformError(0, f"the platform is unreachable: {exc}") from exc
    if response.status_code >= 400:
        raise PlatformError(response.status_code, response.text[:200])
