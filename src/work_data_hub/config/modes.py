"""What a load mode IS: its name, the table privileges it needs, what a domain must declare.

Declarations only: ``data_sources.yml`` accepts a ``mode:`` declared here. The mode's statements
are registered against its declaration in :mod:`work_data_hub.load.modes`, whose import fails
while a declared mode has none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadModeDeclaration:
    """One mode: the privileges the loader role needs on an existing target, and its needs."""

    name: str
    privileges: tuple[str, ...]
    needs_unique_key: bool = False
    uses_refresh_scope: bool = False
    # It deletes or overwrites rows: the plan copies them into the table's history first, so
    # the loader role also needs INSERT on ``<table>__history``.
    keeps_history: bool = False

    @property
    def history_privileges(self) -> tuple[str, ...]:
        return ("INSERT",) if self.keeps_history else ()


LOAD_MODES: dict[str, LoadModeDeclaration] = {}


def declare_load_mode(
    name: str,
    *,
    privileges: tuple[str, ...],
    needs_unique_key: bool = False,
    uses_refresh_scope: bool = False,
    keeps_history: bool = False,
) -> LoadModeDeclaration:
    """Declare mode ``name``; a name declared twice is a programming error."""
    if name in LOAD_MODES:
        raise ValueError(f"load mode {name!r} is registered twice")
    declaration = LoadModeDeclaration(
        name, privileges, needs_unique_key, uses_refresh_scope, keeps_history
    )
    LOAD_MODES[name] = declaration
    return declaration


declare_load_mode(
    "delete_insert",
    privileges=("SELECT", "INSERT", "DELETE"),
    uses_refresh_scope=True,
    keeps_history=True,
)
declare_load_mode("append", privileges=("INSERT",))
declare_load_mode(
    "upsert", privileges=("SELECT", "INSERT", "UPDATE"), needs_unique_key=True, keeps_history=True
)
