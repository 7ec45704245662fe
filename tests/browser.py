"""Headless Chromium for tests that look at a page as a user does: Playwright driving Debian's chromium.

Playwright's own browser downloads are never used: the browser is CHROMIUM (default
/usr/bin/chromium, `make chromium` installs it). Without it a test is skipped, with the
reason, on a developer's machine, and fails under CI (CI=true), where a silent skip would
hide a missing dependency.

Use the fixtures by importing them into a test module:

    from browser import chromium, visit  # noqa: F401  (pytest fixtures)

    def test_home_page_links_to_the_query_page(served_store, visit):
        visit.page.goto(f"{served_store}/")
        visit.page.click("text=Query")
        assert visit.page.url.endswith("/query")
        visit.screenshot("home-page")                     # tests/artifacts/home-page.png
        assert visit.foreign_requests(served_store) == []  # nothing fetched from elsewhere
        assert visit.errors == []                          # no script errors, no failed loads

`chromium` is one browser for the whole session; `visit` is a fresh browser context (no
cookies, no cache) per test that records every request the page makes, loads that failed
(HTTP 4xx/5xx), console errors and uncaught exceptions. Outside pytest, `browser_session()`
and `Visit.open(browser)` are the same things as context managers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# How long a step may wait for the page (milliseconds): generous, as CI machines are slow.
TIMEOUT_MS = 15_000


def require_chromium() -> None:
    """Skip (developer machine) or fail (CI) when there is no Chromium to drive."""
    if CHROMIUM.exists():
        return
    message = f"no Chromium at {CHROMIUM}: run `make chromium` (apt-get install chromium) or set CHROMIUM"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(message + " (CI is set, so the browser tests may not be skipped)")
    pytest.skip(message)


@contextlib.contextmanager
def browser_session() -> Iterator[Browser]:
    """Chromium launched headless with the project's flags, closed when the block ends."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """One browser context and its page, with what the page did: requests, console errors, exceptions."""

    page: Page
    requests: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def open(cls, browser: Browser, **context_options: object) -> Iterator[Visit]:
        """A fresh context (options as for Playwright's `new_context`, e.g. viewport) and its recorded page."""
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        visit = cls(page)
        page.on("request", lambda request: visit.requests.append(request.url))
        page.on("response", visit._record_failure)
        page.on("console", visit._record_console)
        page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
        try:
            yield visit
        finally:
            context.close()

    def _record_failure(self, response: Response) -> None:
        """A load that got an error status, e.g. '404 http://127.0.0.1:8000/static/missing.js' (the icon included)."""
        if response.status >= 400:
            self.failed_loads.append(f"{response.status} {response.url}")

    def _record_console(self, message: ConsoleMessage) -> None:
        """Console errors, without the browser's own 'Failed to load resource' (see failed_loads)."""
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    @property
    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and failed loads: the signs of a broken page."""
        return self.page_errors + self.console_errors + self.failed_loads

    def foreign_requests(self, origin: str) -> list[str]:
        """The requests made to anywhere but `origin` (scheme://host:port); data: and blob: URLs are local."""
        allowed = urlsplit(origin)
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob", "about")
            and (urlsplit(url).scheme, urlsplit(url).netloc) != (allowed.scheme, allowed.netloc)
        ]

    def screenshot(self, name: str) -> Path:
        """Save the full page as tests/artifacts/NAME.png, for people to look at when a test fails."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the session (skipped or failed as `require_chromium` says)."""
    with browser_session() as browser:
        yield browser


@pytest.fixture
def visit(chromium: Browser) -> Iterator[Visit]:
    """A fresh browser context and page for one test, recording what the page requests."""
    with Visit.open(chromium) as opened:
        yield opened
