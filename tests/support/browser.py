"""Headless Chromium for tests that assert on what a person sees in a page.

CI installs Debian's ``chromium`` (``.ci/run``) and sets ``WDH_REQUIRE_CHROMIUM=1``, so there a
missing browser fails; elsewhere it skips those tests with a named reason. Chromium runs with no network features and a fresh profile; the page is
opened from disk, and the DOM after rendering (``--dump-dom``) is what the tests read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html import unescape
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("WDH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """The browser's path, or the test is skipped saying why."""
    if not Path(CHROMIUM).is_file():
        if os.environ.get("WDH_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"WDH_REQUIRE_CHROMIUM=1 and no Chromium at {CHROMIUM}")
        pytest.skip(
            f"no headless Chromium at {CHROMIUM} (apt-get install chromium, or set WDH_CHROMIUM)"
        )
    return CHROMIUM


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="wdh_chromium_") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def rendered_dom(page: Path) -> str:
    """The page's DOM once Chromium has rendered it."""
    return _run(page, "--dump-dom").stdout


def visible_text(page: Path) -> str:
    """The rendered page's text, one space between words (what a person reads, in order)."""
    dom = rendered_dom(page)
    body = re.sub(r"(?is)<(style|script|title)[^>]*>.*?</\1>", " ", dom)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def screenshot(page: Path, target: Path, *, width: int = 1280, height: int = 1600) -> Path:
    """A PNG of the rendered page."""
    _run(page, f"--screenshot={target.resolve()}", f"--window-size={width},{height}")
    return target
