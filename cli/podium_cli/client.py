"""HTTP calls to the platform, with the server's own error messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from podium_cli import __version__
from podium_cli.config import Config


class ApiError(Exception):
    """Something the user should read instead of a traceback."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


def error_message(response: requests.Response) -> str:
    """The server's words: `detail`, or each field's complaints, or the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        parts = []
        for field, problems in body.items():
            text = "; ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        if parts:
            return " ".join(parts)
    if isinstance(body, list) and body:
        return "; ".join(map(str, body))
    if response.status_code >= 500:
        return (
            f"The server failed (HTTP {response.status_code}); this is not your fault. "
            "Try again later."
        )
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


class Api:
    def __init__(self, config: Config, session: requests.Session | None = None) -> None:
        self.url = config.url
        self.token = config.token
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"podium-cli/{__version__}"
        self.session.headers["Accept"] = "application/json"
        if self.token:
            self.session.headers["Authorization"] = f"Token {self.token}"

    def absolute(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.url}{path}"

    def request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        """Send a request; any status >= 400 not listed in `ok` raises ApiError."""
        kwargs.setdefault("timeout", (10, 600))
        try:
            response = self.session.request(method, self.absolute(path), **kwargs)
        except requests.ConnectionError as exc:
            raise ApiError(
                f'Cannot reach the Podium server at {self.url}: is PODIUM_URL (or "url" in '
                "~/.podium/config.json) right, and is the server up?"
            ) from exc
        except requests.Timeout as exc:
            raise ApiError(f"The server at {self.url} did not answer in time.") from exc
        if response.status_code >= 400 and response.status_code not in ok:
            message = error_message(response)
            if response.status_code == 401:
                message += (
                    ' Set PODIUM_TOKEN or "token" in ~/.podium/config.json to your API '
                    "token (GET /api/v1/account/token/ when signed in)."
                )
            try:
                body = response.json()
            except ValueError:
                body = None
            raise ApiError(message, status=response.status_code, body=body)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs).json()

    def paged(self, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following `next` links."""
        url: str | None = path
        while url:
            body = self.get(url, **kwargs)
            kwargs.pop("params", None)  # `next` already carries the query
            if isinstance(body, list):
                yield from body
                return
            yield from body["results"]
            url = body.get("next")
