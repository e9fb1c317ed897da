"""Catalog flags read strictly: ``execute`` and ``diff`` are booleans, never a truthy string."""

from __future__ import annotations

from kedro.io import DatasetError


def strict_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise DatasetError(
        f"{name} must be true or false (as in --params execute=true), got {value!r} "
        f"of type {type(value).__name__}"
    )
