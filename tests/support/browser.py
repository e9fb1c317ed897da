"""Headless Debian chromium for tests that check what a person sees in a page we write.

CI installs the browser (``.ci/run``) and sets ``WDH_REQUIRE_CHROMIUM=1``, so there a missing
browser fails; elsewhere the page tests skip, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("WDH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Nothing may reach the network: no updates, no sync, no background fetches.
_OFFLINE = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> str:
    if not Path(CHROMIUM).is_file():
        if os.environ.get("WDH_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"WDH_REQUIRE_CHROMIUM=1 and no chromium at {CHROMIUM}")
        pytest.skip("chromium is not installed (Debian package `chromium`): the page is not viewed")
    return CHROMIUM


def _chromium(page: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    browser = require_chromium()
    with tempfile.TemporaryDirectory(prefix="wdh-chromium-") as profile:
        return subprocess.run(
            [browser, *_OFFLINE, f"--user-data-dir={profile}", *arguments, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def rendered_dom(page: Path) -> str:
    """The page's DOM as chromium rendered it (``--dump-dom``)."""
    return _chromium(page, "--dump-dom").stdout


def visible_text(page: Path) -> str:
    """The rendered page's text, one space between words (what a person reads, in order)."""
    body = re.sub(r"(?is)<(style|script|title)[^>]*>.*?</\1>", " ", rendered_dom(page))
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def screenshot(page: Path, png: Path, *, size: str = "1400,700") -> Path:
    _chromium(page, f"--screenshot={png}", f"--window-size={size}")
    return png


class _Table(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("br", "div") and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_text(dom: str) -> list[list[str]]:
    """The text of each table cell, row by row, as a reader sees it (whitespace collapsed)."""
    parser = _Table()
    parser.feed(dom)
    return parser.rows
