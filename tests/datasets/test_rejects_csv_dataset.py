"""The rejects file: UTF-8 with BOM for Excel, owner-only, and read back through the catalog
with every value exactly as written (``n/a`` stays ``n/a``, nothing becomes NaN)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from tests.conftest import PROJECT_ROOT
from work_data_hub.datasets.rejects_csv_dataset import RejectsCSVDataset
from work_data_hub.datasets.results import ReportsFile

REJECTS = pd.DataFrame(
    {
        "file": ["2024_11_受托业绩.xlsx", "2024_11_受托业绩.xlsx"],
        "row": [3, 7],
        "column": ["收益率", "计划代码"],
        "value": ["n/a", ""],
        "reason": ["not a number", "required value missing"],
    }
)


def _project_catalog(version: str) -> DataCatalog:
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="base",
        env="base",
        config_patterns={"globals": ["globals*", "globals*/**"]},
    )
    entries = {
        name: entry for name, entry in loader["catalog"].items() if name.endswith(".rejects")
    }
    return DataCatalog.from_config(entries, save_version=version)


def test_the_catalog_rejects_file_has_a_bom_and_reads_back_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the catalog's paths are relative: data/08_reporting/...
    os.umask(0o022)
    catalog = _project_catalog("2024-12-01T09.00.00.000Z")
    catalog.save("trustee_performance.rejects", REJECTS)
    dataset = catalog.get("trustee_performance.rejects")
    assert isinstance(dataset, RejectsCSVDataset) and isinstance(dataset, ReportsFile)
    assert dataset.last_written is not None
    written = Path(dataset.last_written.path).resolve()
    assert written.is_relative_to(tmp_path / "data/08_reporting/rejects")
    raw = written.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "受托业绩".encode() in raw
    assert oct(written.stat().st_mode & 0o777) == oct(0o600)

    back = catalog.load("trustee_performance.rejects")
    assert back.to_dict("list") == REJECTS.astype(str).to_dict("list")
    assert back.loc[0, "value"] == "n/a" and back.loc[1, "value"] == ""
    assert set(back.dtypes.astype(str)) <= {"object", "str", "string"}
    preview = dataset.preview(nrows=1)  # what Kedro-Viz shows
    assert preview["data"] == [["2024_11_受托业绩.xlsx", "3", "收益率", "n/a", "not a number"]]


def test_an_empty_rejects_frame_is_a_header_only_file(tmp_path: Path) -> None:
    dataset = RejectsCSVDataset(filepath=str(tmp_path / "rejects.csv"))
    dataset.save(REJECTS.iloc[0:0])
    assert (tmp_path / "rejects.csv").read_bytes() == b"\xef\xbb\xbffile,row,column,value,reason\n"
    assert dataset.load().empty
    assert dataset._describe() == {"filepath": str(tmp_path / "rejects.csv"), "version": None}


def test_a_polars_frame_reads_back_as_the_pandas_one_does(tmp_path: Path) -> None:
    """A run saves polars; notebooks and tests may save pandas: the file reads back the same
    (polars writes an empty text as ``""``, pandas as nothing; both read back as empty)."""
    awkward = REJECTS.assign(value=["a,b", 'say "hi"\nthen'], reason=["", "required value missing"])
    loaded = {}
    for kind, frame in (("pandas", awkward), ("polars", pl.from_pandas(awkward))):
        dataset = RejectsCSVDataset(filepath=str(tmp_path / f"{kind}.csv"))
        dataset.save(frame)
        assert (tmp_path / f"{kind}.csv").read_bytes().startswith(b"\xef\xbb\xbffile,row,")
        loaded[kind] = dataset.load().to_dict("list")
    assert loaded["polars"] == loaded["pandas"] == awkward.astype(str).to_dict("list")
