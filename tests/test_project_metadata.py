""".kedro.yml mirrors [tool.kedro] in pyproject.toml, which Kedro >= 0.17 reads."""

from __future__ import annotations

import tomllib

import yaml

from tests.conftest import PROJECT_ROOT

KEDRO_YML = PROJECT_ROOT / ".kedro.yml"


def _tool_kedro() -> dict[str, object]:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["tool"]["kedro"]  # type: ignore[no-any-return]


def test_kedro_yml_holds_the_same_metadata_as_pyproject() -> None:
    mirrored = yaml.safe_load(KEDRO_YML.read_text(encoding="utf-8"))
    tool_kedro = _tool_kedro()
    assert mirrored, ".kedro.yml is empty"
    for key, value in mirrored.items():
        assert key in tool_kedro, f".kedro.yml has {key!r}, which [tool.kedro] lacks"
        assert str(tool_kedro[key]) == str(value), f"{key}: {value!r} != {tool_kedro[key]!r}"
    for key in ("package_name", "project_name", "kedro_init_version", "source_dir"):
        assert key in mirrored, f"[tool.kedro] {key!r} is not mirrored in .kedro.yml"


def test_kedro_yml_says_where_kedro_reads_its_metadata() -> None:
    comments = [
        line for line in KEDRO_YML.read_text(encoding="utf-8").splitlines() if line.startswith("#")
    ]
    assert len(comments) == 1
    assert "0.17" in comments[0] and "pyproject.toml" in comments[0]


def test_metadata_names_the_project_and_package() -> None:
    tool_kedro = _tool_kedro()
    assert tool_kedro["project_name"] == "WorkDataHub"
    assert tool_kedro["package_name"] == "work_data_hub"
    assert (PROJECT_ROOT / str(tool_kedro["source_dir"]) / "work_data_hub").is_dir()
    import kedro

    assert str(tool_kedro["kedro_init_version"]).split(".")[0] == kedro.__version__.split(".")[0]
