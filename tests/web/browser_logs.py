"""What the browser said (the `browser` fixture records its console)."""

from __future__ import annotations


def csp_violations(driver: object) -> list[str]:
    """Console messages about Content-Security-Policy violations since the last call."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
        or "Content-Security-Policy" in entry["message"]
    ]
