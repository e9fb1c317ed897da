"""The repository says what holds, not how it came to be, and cites only files it has.

A reader of the docs, the tests or a comment needs the guarantee or the target itself; a
reference to a ticket, or to what held before some stage of the work, tells them nothing and
goes stale. A file named in a comment or a page exists in the repository (files a
person creates, under conf/local/, excepted).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import PROJECT_ROOT

TEXT_SUFFIXES = (".md", ".py", ".yml", ".yaml", ".toml", ".ipynb", ".cfg", ".txt")
# Spelt with classes so that this file does not match itself.
HISTORY = re.compile(
    r"\b(?:[Ii]ssues? ?[0-9]|[Uu]ntil then\b|[Ss]ince (?:[Ii]ssue|[Rr]ound)|[Rr]ound [0-9])"
)
CITED_PATH = re.compile(
    r"(?<![\w/.-])((?:docs|src|conf|tests|benchmarks|scripts|notebooks)/[\w./-]*"
    r"\.(?:md|py|yml|yaml|ipynb|toml))"
)
CITED_PAGE = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")


def _tracked() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [name for name in listed if name.endswith(TEXT_SUFFIXES) and name != "uv.lock"]


def _text(name: str) -> str:
    path = PROJECT_ROOT / name
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def test_no_doc_test_or_comment_names_the_history_of_the_work() -> None:
    found = [
        f"{name}:{number}: {line.strip()}"
        for name in _tracked()
        for number, line in enumerate(_text(name).splitlines(), start=1)
        if HISTORY.search(line)
    ]
    assert not found, "name the guarantee or the target instead:\n" + "\n".join(found)


def test_every_file_a_doc_or_comment_cites_is_in_the_repository() -> None:
    tracked = _tracked()
    names = {Path(name).name for name in tracked}
    missing = []
    for name in tracked:
        text = _text(name)
        for cited in CITED_PATH.findall(text):
            if cited.startswith("conf/local/") or (PROJECT_ROOT / cited).exists():
                continue
            missing.append(f"{name}: {cited}")
        missing += [f"{name}: {page}" for page in CITED_PAGE.findall(text) if page not in names]
    assert not missing, "\n".join(missing)
