"""Where PYTHONDONTWRITEBYTECODE is set, a process keeps the bytecode of what it imported, and an
edited module is never run from its old bytecode."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support.cli import run_kedro

PROBE = "wdh_bytecode_probe"


def _import_probe(folder: Path) -> subprocess.CompletedProcess[str]:
    """Import the probe in a child that may not write bytecode (``-v``: where its code came
    from), then keep its bytecode as a process of this project does at its end."""
    code = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); import {PROBE}; "
        "from work_data_hub.bytecode import write_missing_bytecode; "
        f"print({PROBE}.VALUE, len(write_missing_bytecode([{str(folder)!r}])))"
    )
    return subprocess.run(
        [sys.executable, "-v", "-c", code],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _loaded_from_bytecode(result: subprocess.CompletedProcess[str], source: Path) -> bool:
    bytecode = importlib.util.cache_from_source(str(source))
    lines = result.stderr.splitlines()
    if f"# code object from '{bytecode}'" in lines:
        return True
    assert f"# code object from {source}" in lines, result.stderr[-2000:]
    return False


def test_the_bytecode_is_written_once_and_an_edit_is_compiled_afresh(tmp_path: Path) -> None:
    source = tmp_path / f"{PROBE}.py"
    source.write_text("VALUE = 1\n", encoding="utf-8")

    first = _import_probe(tmp_path)
    assert not _loaded_from_bytecode(first, source)
    assert first.stdout.split() == ["1", "1"]  # compiled from source; its bytecode written
    second = _import_probe(tmp_path)
    assert _loaded_from_bytecode(second, source)
    assert second.stdout.split() == ["1", "0"]  # nothing left to write

    source.write_text("VALUE = 22\n", encoding="utf-8")  # another size
    edited = _import_probe(tmp_path)
    assert not _loaded_from_bytecode(edited, source)
    assert edited.stdout.split() == ["22", "1"]

    # The same size, a later modification time: still not the old bytecode.
    source.write_text("VALUE = 33\n", encoding="utf-8")
    stamp = source.stat().st_mtime + 5
    os.utime(source, (stamp, stamp))
    same_size = _import_probe(tmp_path)
    assert not _loaded_from_bytecode(same_size, source)
    assert same_size.stdout.split() == ["33", "1"]
    assert _loaded_from_bytecode(_import_probe(tmp_path), source)


def test_a_kedro_command_keeps_the_bytecode_of_this_environment_and_package(
    project_copy: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "pycache"  # where Python reads and writes bytecode, for this test only
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(cache)}

    assert run_kedro(project_copy, "--version", env=env).returncode == 0
    written = {path.relative_to(cache) for path in cache.rglob("*.pyc")}
    package = project_copy / "src" / "work_data_hub"
    site_packages = Path(sysconfig.get_paths()["purelib"])
    kedro = site_packages / "kedro" / "__init__.py"
    for module in (package / "__init__.py", package / "hooks" / "cli.py", kedro):
        # A source's bytecode under the prefix: its own folder, then the file.
        name = f"{module.stem}.{sys.implementation.cache_tag}.pyc"
        assert module.parent.relative_to("/") / name in written, module
    # None outside them (the standard library's, say).
    outside = [
        path
        for path in written
        if not any(Path("/", path).is_relative_to(root) for root in (package, site_packages))
    ]
    assert outside == []

    stamps = {path: (cache / path).stat().st_mtime_ns for path in written}
    assert run_kedro(project_copy, "--version", env=env).returncode == 0
    assert {path: (cache / path).stat().st_mtime_ns for path in written} == stamps
