"""What the browser said (the `browser` fixture records its console) and what its page says."""

from __future__ import annotations

import time


def csp_violations(driver: object) -> list[str]:
    """Console messages about Content-Security-Policy violations since the last call."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
        or "Content-Security-Policy" in entry["message"]
    ]


def page_text(b) -> str:  # type: ignore[no-untyped-def]
    """The page's text, read again when the page is replaced between finding <body> and
    reading it, or has no <body> yet (a navigation the test is waiting for)."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By

    for _ in range(100):
        try:
            return str(b.find_element(By.TAG_NAME, "body").text)
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.1)
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            time.sleep(0.1)
    return str(b.find_element(By.TAG_NAME, "body").text)
