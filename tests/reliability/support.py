"""Helpers for the reliability suite: workbooks that go wrong, in-process runs, a loaded baseline.

A run here calls the project's own nodes and datasets in the order Kedro does (select, clean,
save rejects, plan, save the plan and, with ``execute``, load it), so a fault costs
milliseconds instead of a ``kedro run`` child process. The CLI is used only where the exit code
or the console is the point.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from kedro.io import Version
from openpyxl import Workbook
from sqlalchemy.engine import URL

from tests.support.database import TableDigest, table_digest
from tests.support.frames import as_pandas
from tests.support.paths import PROJECT_ROOT
from tests.support.workbooks import TRUSTEE_HEADERS, inbox_workbooks
from tests.support.workbooks import write_workbook as write_rows
from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.datasets.postgres_load_dataset import LoadResult, PostgresLoadDataset
from work_data_hub.load.steps import Step
from work_data_hub.pipelines.ingest import nodes
from work_data_hub.warehouse import client as client_module

TABLE = "trustee_performance"


def project_domains() -> dict[str, DomainConfig]:
    """The project's own domains, read the way the registry validates them (no Kedro session)."""
    raw = yaml.safe_load((PROJECT_ROOT / "conf/base/data_sources.yml").read_text(encoding="utf-8"))
    mappings = yaml.safe_load((PROJECT_ROOT / "conf/base/mappings.yml").read_text(encoding="utf-8"))
    return parse_domains(raw, mappings or {})


def trustee_domain() -> DomainConfig:
    return project_domains()["trustee_performance"]


def trustee_rows(count: int = 5, *, year: int = 2024, month: int = 11) -> list[list[Any]]:
    """Valid rows: plan P0001.., company TC001, a rate, a net asset value and a scale."""
    return [
        [year, month, f"P{index:04d}", "TC001", "5.5%", "1.2345", f"{1000 + index}.50"]
        for index in range(1, count + 1)
    ]


def write_workbook(
    path: Path,
    rows: list[list[Any]],
    *,
    headers: list[str] | None = None,
    sheet: str = "受托业绩",
) -> Path:
    """A trustee workbook: ``headers`` (default the trustee ones), then ``rows``."""
    return write_rows(path, [headers or TRUSTEE_HEADERS, *rows], sheet=sheet)


def workbook_bytes(rows: list[list[Any]], *, headers: list[str] | None = None) -> bytes:
    buffer = io.BytesIO()
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.append(headers or TRUSTEE_HEADERS)
    for row in rows:
        worksheet.append(row)
    workbook.save(buffer)
    return buffer.getvalue()


def append_empty_formatted_rows(path: Path, count: int) -> None:
    """Rewrite the first sheet's XML with ``count`` styled, value-less rows after the data.

    This is what a sheet looks like after someone formats whole columns down to row 1,000,000:
    every row and two of its cells carry a style, and the sheet's dimension claims them all.
    Written as text into the zip, so a million rows take a second, not openpyxl's minutes.
    """
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    sheet_xml = source.read("xl/worksheets/sheet1.xml").decode("utf-8")
    last = max(int(number) for number in re.findall(r'<row r="(\d+)"', sheet_xml))
    styled = "".join(
        f'<row r="{row}" s="1" customFormat="1"><c r="A{row}" s="1"/><c r="G{row}" s="1"/></row>'
        for row in range(last + 1, last + 1 + count)
    )
    sheet_xml = sheet_xml.replace("</sheetData>", styled + "</sheetData>")
    sheet_xml = re.sub(
        r'<dimension ref="[^"]+"\s*/>', f'<dimension ref="A1:G{last + count}"/>', sheet_xml
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode("utf-8")
            target.writestr(item, data)


def replace_cell_text(path: Path, marker: str, text: str) -> None:
    """Put ``text`` where the cell ``marker`` is, past openpyxl's 32,767-character cut-off."""
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith(".xml") and marker.encode() in data:
                data = data.replace(marker.encode(), text.encode("utf-8"))
            target.writestr(item, data)


def stopping_before(step: Step, stop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Call ``stop(cursor)`` when the load is about to run its ``step`` statement."""
    real_execute = client_module._Transaction.execute

    def execute(self: Any, statement: Any) -> None:
        if statement.purpose == step:
            stop(self._cursor)
        real_execute(self, statement)

    monkeypatch.setattr(client_module._Transaction, "execute", execute)


@dataclass
class RunOutcome:
    rows: pd.DataFrame
    rejects: pd.DataFrame
    summary: dict[str, Any]
    plan_text: str
    plan_path: Path
    rejects_path: Path
    load: LoadResult | None


def run_domain(
    inbox: Path,
    reporting: Path,
    *,
    domain: DomainConfig | None = None,
    database_url: URL | None = None,
    execute: bool = False,
    max_files: int = 1,
    max_reject_ratio: float = 0.0,
    run_id: str | None = None,
    statement_timeout_ms: int = 0,
    reload: bool = False,
    diff: bool = False,
    diff_rows: Path | None = None,
    mark_rejects: bool = False,
    # These tests load a few rows a month after a 5-row baseline month: the volume check
    # (tests/pipelines/test_business_checks.py) would refuse that, and is accepted here.
    accept_checks: tuple[str, ...] = ("volume",),
) -> RunOutcome:
    """One domain end to end, in-process, through the project's catalog dataset types
    (with ``mark_rejects``, the marked rejects workbooks too, as the catalog names them)."""
    from work_data_hub.datasets.load_ledger_dataset import LoadLedgerDataset
    from work_data_hub.datasets.rejects_csv_dataset import RejectsCSVDataset
    from work_data_hub.datasets.rejects_workbook_dataset import RejectsWorkbookDataset

    domain = domain or trustee_domain()
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%S.%fZ")
    version = Version(None, run_id)
    workbooks = inbox_workbooks(inbox)
    credentials = (
        {"con": database_url.render_as_string(hide_password=False)} if database_url else {}
    )
    selected = nodes.select_workbooks(workbooks, str(inbox), max_files, domain=domain)
    ledger = LoadLedgerDataset(execute=execute, credentials=credentials).load()
    manifest = nodes.skip_loaded(selected, ledger, reload, domain=domain)
    rows, rejects, summary, to_mark = nodes.clean_workbooks(workbooks, manifest, domain=domain)
    rejects_dataset = RejectsCSVDataset(
        filepath=str(reporting / "rejects" / f"{domain.name}.csv"), version=version
    )
    rejects_dataset.save(rejects)
    if mark_rejects:
        marked = reporting / "rejects" / f"{domain.name}_marked"
        RejectsWorkbookDataset(filepath=str(marked), version=version).save(to_mark)
    plan = nodes.plan_load(
        rows, summary, manifest, run_id, max_reject_ratio, accept_checks, domain=domain
    )
    plan_dataset = PostgresLoadDataset(
        filepath=str(reporting / "plans" / f"{domain.name}.sql"),
        execute=execute,
        diff=diff,
        credentials=credentials,
        statement_timeout_ms=statement_timeout_ms,
        version=version,
    )
    plan_dataset.write_diff_rows_to(diff_rows)  # as the run-report hook does in a kedro run
    plan_path = reporting / "plans" / f"{domain.name}.sql" / run_id / f"{domain.name}.sql"
    rejects_path = reporting / "rejects" / f"{domain.name}.csv" / run_id / f"{domain.name}.csv"
    plan_dataset.save(plan)
    return RunOutcome(
        rows=as_pandas(rows),
        rejects=as_pandas(rejects),
        summary=summary.report(),
        plan_text=plan_path.read_text(encoding="utf-8"),
        plan_path=plan_path,
        rejects_path=rejects_path,
        load=plan_dataset.last_result,
    )


def load_baseline(
    tmp_path: Path, database_url: URL, connection: Any, *, count: int = 5
) -> tuple[TableDigest, Path]:
    """A good October workbook loaded with execute=true; returns (digest, reporting folder)."""
    inbox = tmp_path / "baseline_inbox"
    write_workbook(inbox / "2024_10_受托业绩.xlsx", trustee_rows(count, month=10))
    reporting = tmp_path / "reporting"
    outcome = run_domain(
        inbox, reporting, database_url=database_url, execute=True, run_id="baseline"
    )
    assert outcome.load is not None and outcome.load.rows_inserted == count
    digest = table_digest(connection, TABLE)
    assert digest is not None and digest.rows == count
    return digest, reporting
