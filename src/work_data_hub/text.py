"""Wording shared by log lines and messages."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``0 files``: the count with its noun, singular only for one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
