"""Sending an image archive: one multipart request for small files, the server's
resumable upload protocol for large ones.

Resumable protocol (the platform's /api/v1/uploads/): POST {filename, size, competition}
-> {id, offset, chunk_size}; PATCH raw bytes with `Upload-Offset` -> {offset, complete},
or 409 {offset} when the server holds a different offset (we resume from there); GET ->
{offset, complete}. Upload ids are remembered in ~/.podium/uploads.json, keyed by server,
file path, size and modification time, so running the same `submit` again resumes.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from podium_cli.artifacts import file_sha256
from podium_cli.client import Api, ApiError
from podium_cli.config import config_dir
from podium_cli.progress import ProgressBar

# Files above this go through the resumable protocol (PODIUM_RESUMABLE_THRESHOLD moves it).
RESUMABLE_THRESHOLD = 16 * 1024 * 1024
DEFAULT_CHUNK = 8 * 1024 * 1024
RETRIES = 5
RETRY_PAUSE_SECONDS = 2.0


def _state_path() -> Path:
    return config_dir() / "uploads.json"


def _load_state() -> dict[str, Any]:
    try:
        state = json.loads(_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save_state(state: dict[str, Any]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    temp.replace(path)


def state_key(api: Api, path: Path) -> str:
    stat = path.stat()
    return f"{api.url}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def forget_upload(api: Api, path: Path) -> None:
    state = _load_state()
    if state.pop(state_key(api, path), None) is not None:
        _save_state(state)


class MultipartBody:
    """A multipart/form-data body streamed from disk, reporting progress as it is read."""

    def __init__(
        self, fields: dict[str, str], file_field: str, path: Path, progress: ProgressBar
    ) -> None:
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b""
        for name, value in fields.items():
            head += (
                (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
                + value.encode("utf-8")
                + b"\r\n"
            )
        filename = path.name.replace('"', "_")
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self._parts: list[bytes | IO[bytes]] = [
            head,
            path.open("rb"),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        self._length = len(head) + path.stat().st_size + len(self._parts[2])  # type: ignore[arg-type]
        self._sent = 0
        self._progress = progress

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        size = 1024 * 1024 if size is None or size < 0 else size
        out = b""
        while self._parts and len(out) < size:
            part = self._parts[0]
            if isinstance(part, bytes):
                take = part[: size - len(out)]
                out += take
                rest = part[len(take) :]
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
            else:
                data = part.read(size - len(out))
                if data:
                    out += data
                else:
                    part.close()
                    self._parts.pop(0)
        self._sent += len(out)
        self._progress.update(self._sent)
        return out

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1024 * 1024):
            yield chunk

    def close(self) -> None:
        for part in self._parts:
            if not isinstance(part, bytes):
                part.close()


def submit_multipart(
    api: Api,
    slug: str,
    path: Path,
    fields: dict[str, str],
    progress: ProgressBar,
    file_field: str = "image",
) -> dict[str, Any]:
    body = MultipartBody(fields, file_field, path, progress)
    progress.total = len(body)
    try:
        return api.post(
            f"/api/v1/competitions/{slug}/submissions/",
            data=body,
            headers={"Content-Type": body.content_type},
        )
    finally:
        body.close()
        progress.close()


def _server_offset(api: Api, upload_id: str) -> tuple[int, bool] | None:
    """The server's offset of an upload, or None when it no longer knows it."""
    try:
        body = api.get(f"/api/v1/uploads/{upload_id}/")
    except ApiError as exc:
        if exc.status in (400, 404, 410):
            return None
        raise
    return int(body["offset"]), bool(body.get("complete"))


def resumable_upload(api: Api, slug: str, path: Path, progress: ProgressBar) -> str:
    """Send the file through the upload protocol (resuming a known upload); return its id."""
    size = path.stat().st_size
    key = state_key(api, path)
    state = _load_state()
    entry = state.get(key)
    offset, complete, upload_id, chunk = 0, False, None, DEFAULT_CHUNK
    if isinstance(entry, dict) and entry.get("competition") == slug:
        known = _server_offset(api, str(entry["id"]))
        if known is not None:
            upload_id, chunk = str(entry["id"]), int(entry.get("chunk_size") or DEFAULT_CHUNK)
            offset, complete = known
    if upload_id is None:
        created = api.post(
            "/api/v1/uploads/", json={"filename": path.name, "size": size, "competition": slug}
        )
        upload_id, offset = str(created["id"]), int(created.get("offset", 0))
        chunk = int(created.get("chunk_size") or DEFAULT_CHUNK)
        state[key] = {"id": upload_id, "competition": slug, "chunk_size": chunk}
        _save_state(state)
    elif offset:
        progress.resume_from(offset)
    progress.total = size
    failures = 0
    with path.open("rb") as handle:
        while not complete and offset < size:
            handle.seek(offset)
            data = handle.read(chunk)
            try:
                response = api.request(
                    "PATCH",
                    f"/api/v1/uploads/{upload_id}/",
                    ok=(409,),
                    data=data,
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
            except ApiError as exc:
                transient = exc.status is None or exc.status >= 500 or exc.status == 429
                failures += 1
                if not transient or failures > RETRIES:
                    raise ApiError(
                        f"{exc.message} The upload stopped at {offset} of {size} bytes; run "
                        "the same command again to resume it.",
                        status=exc.status,
                        body=exc.body,
                    ) from exc
                time.sleep(RETRY_PAUSE_SECONDS * failures)
                known = _server_offset(api, upload_id)
                if known is None:
                    raise ApiError("The server forgot the upload; run the command again.") from exc
                offset, complete = known
                continue
            body = response.json()
            offset = int(body["offset"])
            complete = bool(body.get("complete", offset >= size))
            failures = 0
            progress.update(offset)
    return upload_id


def submit(
    api: Api,
    slug: str,
    path: Path,
    *,
    description: str = "",
    debug: bool = False,
    progress: ProgressBar,
    kind: str = "image",
    runtime_image: str = "",
) -> dict[str, Any]:
    """Create a submission from an image or code archive on disk; returns {id, status},
    with ``reused`` true when the server already kept this very file for the team (same
    SHA-256): then nothing is uploaded."""
    try:
        reused = api.post(
            f"/api/v1/competitions/{slug}/submissions/",
            json={"sha256": file_sha256(path), "description": description, "debug": debug},
        )
    except ApiError as exc:
        if not (isinstance(exc.body, dict) and exc.body.get("code") == "unknown_artifact"):
            raise
    else:
        progress.close()
        return {**reused, "reused": True}
    fields = {"description": description, "debug": "true" if debug else "false"}
    if runtime_image:
        fields["runtime_image"] = runtime_image
    threshold = os.environ.get("PODIUM_RESUMABLE_THRESHOLD", "")
    limit = int(threshold) if threshold.isdigit() else RESUMABLE_THRESHOLD
    if path.stat().st_size <= limit:
        return submit_multipart(api, slug, path, fields, progress, file_field=kind)
    try:
        upload_id = resumable_upload(api, slug, path, progress)
    finally:
        progress.close()
    result = api.post(
        f"/api/v1/competitions/{slug}/submissions/",
        json={
            "upload": upload_id,
            "description": description,
            "debug": debug,
            **({"runtime_image": runtime_image} if runtime_image else {}),
        },
    )
    forget_upload(api, path)
    return result
