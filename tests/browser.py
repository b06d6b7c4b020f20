"""Debian's Chromium driven by Playwright for the browser tests (Playwright's own browser
download is never used: `.ci/run` installs the `chromium` package)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# Keep Chromium off the network: without these it opens background connections that fail here.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions"]


def chromium_path() -> str:
    """The system Chromium; skipped with a reason outside CI when it is missing, an error in CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing in CI: .ci/run installs the Debian package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's Browser), closed afterwards."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
