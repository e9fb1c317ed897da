"""Helpers for the annuity and declarative-domain tests: declarations, workbooks, sessions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from openpyxl import Workbook

from tests.support.annuity_headers import annuity_headers_without
from tests.support.frames import Cleaned, pandas_view
from tests.support.paths import PROJECT_ROOT
from work_data_hub.cleaning.engine import clean_sheet
from work_data_hub.cleaning.reading import headers_read_by, read_sheet
from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.datasets.excel_workbook_dataset import ExcelWorkbookDataset

TODAY = dt.date(2024, 12, 31)

# The tests' workbooks: the delivered headers without the two extra columns.
ANNUITY_HEADERS = annuity_headers_without("机构代码", "数据来源")


def project_declarations(
    project: Path = PROJECT_ROOT,
) -> tuple[dict[str, DomainConfig], dict[str, dict[str, str]]]:
    """The project's domains and mappings, parsed from conf/base as the registry does."""
    raw = yaml.safe_load((project / "conf/base/data_sources.yml").read_text(encoding="utf-8"))
    mappings_raw = yaml.safe_load((project / "conf/base/mappings.yml").read_text(encoding="utf-8"))
    mappings = {
        str(name): {str(k): str(v) for k, v in table.items()}
        for name, table in (mappings_raw or {}).items()
    }
    return parse_domains(raw, mappings), mappings


def write_workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook with the given sheets, in order (the first one replaces openpyxl's default)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def annuity_row(**cells: Any) -> dict[str, Any]:
    """A valid detail row keyed by header; keyword arguments replace single cells."""
    row: dict[str, Any] = {
        "月度": "202411",
        "业务类型": "企年投资",
        "计划类型": "集合计划",
        "计划号": "P1001",
        "计划名称": "示例计划",
        "组合类型": "固定收益",
        "组合代码": "200001",
        "组合名称": "示例组合",
        "客户名称": "示例企业有限公司",
        "期初资产规模": "1,000.50",
        "期末资产规模": 1187.75,  # = 期初 + 供款 - 流失(含待遇支付) + 投资收益
        "供款": 300,
        "流失（含待遇支付）": 100.25,
        "流失": 60,
        "待遇支付": 40.25,
        "投资收益": -12.5,
        "年化收益率": "5.5%",
        "机构": "北京",
        "集团企业客户号": "C600000001",
        "集团企业客户名称": "示例集团有限公司",
        "备注": "备注文字",
        "id": 1,
    }
    row.update(cells)
    return row


def annuity_sheet_rows(
    rows: list[dict[str, Any]], headers: list[str] | None = None
) -> list[list[Any]]:
    chosen = headers or (list(rows[0]) if rows else ANNUITY_HEADERS)
    return [chosen, *[[row.get(header) for header in chosen] for row in rows]]


def write_annuity_workbook(
    path: Path, rows: list[dict[str, Any]], headers: list[str] | None = None
) -> Path:
    """A cover sheet first, then 规模明细 with ``rows``."""
    return write_workbook(
        path,
        {"说明": [["样例数据，非真实数据"]], "规模明细": annuity_sheet_rows(rows, headers)},
    )


def clean_workbook(path: Path, domain: DomainConfig) -> Cleaned:
    """Read the domain's sheet from ``path`` and clean it as a run would (rows as pandas)."""
    workbook = ExcelWorkbookDataset(filepath=str(path)).load()
    sheet = read_sheet(workbook, domain.sheet, domain.header_row, reads=headers_read_by(domain))
    return pandas_view(clean_sheet(sheet, domain, TODAY))


def clean_annuity(tmp_path: Path, rows: list[dict[str, Any]]) -> Cleaned:
    domains, _ = project_declarations()
    path = write_annuity_workbook(tmp_path / "2024年11月年金终稿数据.xlsx", rows)
    return clean_workbook(path, domains["annuity_performance"])


def run_session(
    project: Path,
    monkeypatch: Any,
    *,
    pipelines: list[str] | None = None,
    database_url: Any = None,
    **params: Any,
) -> dict[str, Any]:
    """``kedro run`` in this process (a KedroSession), returning the run report it wrote."""
    monkeypatch.chdir(project)
    for name in ("URI", "HOST", "PORT", "USER", "PASSWORD", "DB"):
        monkeypatch.delenv(f"WDH_DATABASE__{name}", raising=False)
    if database_url is not None:
        monkeypatch.setenv("WDH_DATABASE__URI", database_url.render_as_string(hide_password=False))
    reports = project / "data/08_reporting/run_reports"
    before = set(reports.glob("*.json")) if reports.is_dir() else set()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=pipelines)
    (report,) = set(reports.glob("*.json")) - before
    return dict(json.loads(report.read_text(encoding="utf-8")))
