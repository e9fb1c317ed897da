"""No room imports a room above it: the house's floors, as docs/architecture.md draws them."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "work_data_hub"

# Each room's floor, lowest first; a module may import its own floor and the floors below.
FLOORS: dict[str, int] = {
    "__init__": 0,
    "bytecode": 0,
    "rows": 0,
    "errors": 0,
    "text": 0,
    "conf_files": 0,
    "months": 0,
    "config": 1,
    "discovery": 2,
    "cleaning": 3,
    "load": 4,
    "warehouse": 5,
    "datasets": 6,
    "reports": 6,
    "pipelines": 7,
    "hooks": 7,
    "integrations": 7,
    "cli": 7,
    "settings": 7,
    "pipeline_registry": 7,
    "__main__": 7,
}


def _room(parts: tuple[str, ...]) -> str:
    return parts[0].removesuffix(".py") if parts else "__init__"


def _imported_rooms(path: Path) -> set[str]:
    """The rooms of work_data_hub a module imports, at its top or inside a function."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module == "work_data_hub":
            # `from work_data_hub import settings` imports a room; `__version__` is the package's.
            names = [f"work_data_hub.{alias.name}" for alias in node.names]
            names = [name if name.split(".")[1] in FLOORS else "work_data_hub" for name in names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "work_data_hub":
                rooms.add(_room(tuple(parts[1:2])))
    return rooms


def test_every_room_has_a_floor() -> None:
    rooms = {_room(path.relative_to(PACKAGE).parts) for path in PACKAGE.rglob("*.py")}
    assert rooms <= set(FLOORS), f"give these a floor in FLOORS: {sorted(rooms - set(FLOORS))}"


def test_no_room_imports_a_room_above_it() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = _room(path.relative_to(PACKAGE).parts)
        for imported in _imported_rooms(path):
            if FLOORS[imported] > FLOORS[room]:
                upward.append(f"{path.relative_to(PACKAGE)} ({room}) imports {imported}")
    assert upward == []
