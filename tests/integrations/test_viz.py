"""Kedro-Viz works offline on every domain pipeline: `kedro viz build` in a scratch project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.cli import run_kedro

SECRET = "s3cret-not-for-viz"
STEPS = ("select_workbooks", "skip_loaded", "clean_workbooks", "plan_load")
LAYERS = {
    "inbox_workbooks": "raw",
    "file_manifest": "intermediate",
    "clean_rows": "primary",
    "cleaning_summary": "primary",
    "rejects": "reporting",
    "rejects_workbooks": "reporting",
    "load_plan": "reporting",
}


def test_kedro_viz_build_shows_each_domain_with_layers_and_no_credentials(
    project_copy: Path,
) -> None:
    (project_copy / "conf/local/credentials.yml").write_text(
        f"warehouse:\n  con: postgresql://loader:{SECRET}@db.example:5432/warehouse\n",
        encoding="utf-8",
    )
    result = run_kedro(
        project_copy,
        "viz",
        "build",
        env={"WDH_DATABASE__URI": f"postgresql://loader:{SECRET}@db.example/warehouse"},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    build = project_copy / "build"
    main = json.loads((build / "api/main").read_text(encoding="utf-8"))
    nodes = {node["name"]: node for node in main["nodes"]}

    sources = project_copy / "conf/base/data_sources.yml"
    domains = yaml.safe_load(sources.read_text(encoding="utf-8"))["domains"]
    assert domains
    for domain in domains:
        for step in STEPS:
            task = next(
                (
                    n
                    for n in main["nodes"]
                    if n["type"] == "task" and n["name"] == step and domain in n["pipelines"]
                ),
                None,
            )
            assert task is not None, f"{domain}: node {step} missing from Kedro-Viz"
            detail = json.loads((build / "api/nodes" / task["id"]).read_text(encoding="utf-8"))
            assert f"def {step}(" in detail["code"], "the node's source is shown"
            if step == "plan_load":
                # No plan written in this project yet: the preview says how to make one.
                assert detail["preview"]["kind"] == "text"
                assert f"kedro run --pipelines {domain}" in detail["preview"]["content"]
        for dataset, layer in LAYERS.items():
            assert nodes[f"{domain}.{dataset}"]["layer"] == layer, dataset
        pipeline = json.loads((build / "api/pipelines" / domain).read_text(encoding="utf-8"))
        assert {n["name"] for n in pipeline["nodes"] if n["type"] == "task"} == set(STEPS)
    assert nodes["run_id"]["layer"] == "raw"
    assert main["layers"] == ["raw", "intermediate", "primary", "reporting"]

    for path in build.rglob("*"):
        if path.is_file() and path.suffix not in (".js", ".css", ".ico", ".png", ".svg"):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert SECRET not in text, f"credentials leaked into {path}"
    # `.telemetry` says consent: false, so no Heap analytics snippet is injected.
    assert "heapanalytics" not in (build / "index.html").read_text(encoding="utf-8")


def test_kedro_viz_update_check_does_not_reach_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    # The server imports its /api/version response before it loads the project's settings.
    from kedro_viz.api.rest.responses import version
    from kedro_viz.integrations import pypi

    import work_data_hub.settings  # noqa: F401  (in the server process this switches it off)
    from work_data_hub.integrations.kedro_viz import disable_kedro_viz_update_check

    monkeypatch.setattr(pypi, "get_latest_version", pypi.get_latest_version)  # restored after
    monkeypatch.setattr(version, "get_latest_version", version.get_latest_version)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"kedro-viz tried to reach the network: {args}")

    monkeypatch.setattr(requests, "get", no_network)
    assert disable_kedro_viz_update_check()
    from kedro_viz import __version__

    # `kedro viz run` before starting the server: no upgrade hint.
    assert not pypi.is_running_outdated_version(pypi.parse(__version__), pypi.get_latest_version())
    # The server's /api/version: the installed version is the newest, so the page shows no
    # "Kedro-Viz None is here!" banner.
    response = version.get_version_response()
    assert response.latest == __version__ == response.installed and not response.is_outdated


def test_the_patched_kedro_viz_attributes_still_exist() -> None:
    """Fails when a kedro-viz release moves what integrations/kedro_viz.py replaces."""
    import importlib

    from work_data_hub.integrations import kedro_viz

    for module in (kedro_viz.PYPI_MODULE, kedro_viz.VERSION_RESPONSE_MODULE):
        assert callable(importlib.import_module(module).get_latest_version), module
    from kedro_viz.integrations.pypi import is_running_outdated_version  # used by `viz run`

    assert callable(is_running_outdated_version)


def test_kedro_viz_run_hooks_are_off_by_their_distribution_name() -> None:
    """settings.DISABLE_HOOKS_FOR_PLUGINS names the distribution whose hooks write .viz/."""
    from importlib.metadata import entry_points

    from work_data_hub import settings

    hooks = [ep for ep in entry_points(group="kedro.hooks") if ep.module.startswith("kedro_viz")]
    assert hooks, "kedro-viz registers no run hooks any more: drop DISABLE_HOOKS_FOR_PLUGINS"
    assert {ep.dist.name for ep in hooks if ep.dist} <= set(settings.DISABLE_HOOKS_FOR_PLUGINS)


def test_the_plan_node_previews_the_newest_plans_summary_without_cell_values(
    tmp_path: Path,
) -> None:
    from kedro.pipeline.preview_contract import TextPreview

    from tests.reliability.support import run_domain, trustee_domain, trustee_rows, write_workbook
    from work_data_hub.integrations.kedro_viz import plan_preview
    from work_data_hub.pipelines.ingest import create_pipeline

    plan_node = next(
        node for node in create_pipeline(trustee_domain()).nodes if node.name.endswith(".plan_load")
    )
    assert isinstance(plan_node.preview(), TextPreview)

    rows = trustee_rows(3)
    rows[1][2] = "P#2"  # one reject
    write_workbook(tmp_path / "inbox" / "2024_11_受托业绩.xlsx", rows)
    run_domain(tmp_path / "inbox", tmp_path / "data/08_reporting")
    preview = plan_preview("trustee_performance", str(tmp_path / "data/08_reporting"))
    text = preview.content
    assert "table trustee_performance, mode delete_insert" in text
    assert "files: 1 (periods 2024-11)" in text
    assert "rows read 3, rejected 1, to insert 2" in text
    assert "replaces 1 refresh scope(s): report_date=2024-11-01" in text
    assert "P0001" not in text and "P#2" not in text  # no cell value
