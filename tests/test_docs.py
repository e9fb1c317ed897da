"""The docs stay true: links stay inside the repository, and the contract names what the code knows.

README.md and docs/*.md link only to files of this repository (a clone has nothing else), every
relative link resolves (file and heading), and docs/contract.md names every runtime parameter,
every domain of data_sources.yml and every cleaning rule.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import typing
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from tests.support.paths import PROJECT_ROOT
from work_data_hub.config.params import RunParameters

DOCS = sorted([PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")])
CONTRACT = PROJECT_ROOT / "docs" / "contract.md"
# [text](target) and [text]: target, outside code blocks and code spans.
_INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_EXTERNAL = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)


def _prose(path: Path) -> str:
    return _CODE_SPAN.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))


def _links(path: Path) -> list[str]:
    text = _prose(path)
    return _INLINE_LINK.findall(text) + _REFERENCE_LINK.findall(text)


def _anchors(path: Path) -> set[str]:
    """Heading anchors as GitHub renders them (lower case, punctuation dropped, - for spaces)."""
    anchors = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def _section(path: Path, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of the same level."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{path.relative_to(PROJECT_ROOT)} has no '## {heading}' section"
    return match.group(1)


def _named(name: str, text: str) -> bool:
    return f"`{name}`" in text


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_links_stay_inside_the_repository_and_resolve(doc: Path) -> None:
    problems = []
    for target in _links(doc):
        if _EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        if target.startswith(("/", "file:")) or re.match(r"^[a-z][a-z0-9+.-]*:", file_part):
            problems.append(f"{target}: not a relative link into the repository")
            continue
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        if not resolved.is_relative_to(PROJECT_ROOT):
            problems.append(f"{target}: points outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not problems, f"{doc.relative_to(PROJECT_ROOT)}:\n  " + "\n  ".join(problems)


def test_no_doc_mentions_a_path_outside_the_repository() -> None:
    """Not even in code: a clone holds only the repository."""
    found = [
        f"{doc.relative_to(PROJECT_ROOT)}: {match.group(0)}"
        for doc in DOCS
        for match in re.finditer(r"\.\./shared\S*|/work/\S+", doc.read_text(encoding="utf-8"))
    ]
    assert not found, found


def test_every_runtime_parameter_is_in_the_contract() -> None:
    section = _section(CONTRACT, "Runtime parameters")
    missing = [name for name in RunParameters.model_fields if not _named(name, section)]
    assert not missing, f"docs/contract.md, Runtime parameters: document {missing}"


def test_every_domain_has_its_section_in_the_contract() -> None:
    raw = yaml.safe_load((PROJECT_ROOT / "conf/base/data_sources.yml").read_text(encoding="utf-8"))
    headings = _anchors(CONTRACT)
    missing = [name for name in raw["domains"] if f"domain-{name}" not in headings]
    assert not missing, f"docs/contract.md: add a '## Domain: <name>' section for {missing}"


def _rule_names() -> list[str]:
    """The registry's rule names when cleaning/registry.py exists, else config's rule names."""
    if importlib.util.find_spec("work_data_hub.cleaning.registry") is not None:
        registry = importlib.import_module("work_data_hub.cleaning.registry")
        rules = getattr(registry, "RULES", None)
        assert isinstance(rules, Mapping) and rules, "cleaning/registry.py: RULES is not filled"
        return [str(name) for name in rules]
    from work_data_hub.config import domains

    return list(typing.get_args(domains.RuleName))


def test_every_cleaning_rule_is_in_the_contract() -> None:
    section = _section(CONTRACT, "Cleaning rules")
    names = _rule_names()
    assert names
    missing = [name for name in names if not _named(name, section)]
    assert not missing, f"docs/contract.md, Cleaning rules: document the rules {missing}"
