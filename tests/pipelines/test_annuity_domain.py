"""annuity_performance (规模明细) end to end: files, sheet, headers, runs, and the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import URL

from tests.support.annuity import (
    ANNUITY_HEADERS,
    annuity_row,
    clean_workbook,
    project_declarations,
    run_session,
    write_annuity_workbook,
)
from tests.support.database import run_psql, table_digest
from work_data_hub.discovery import period_of

MONTH_10 = "2024-10-01"
MONTH_11 = "2024-11-01"


@pytest.mark.parametrize(
    ("name", "period"),
    [
        ("【for年金分战区经营分析】24年11月年金终稿数据1209采集.xlsx", (2024, 11)),
        ("2024年10月年金终稿数据.xlsx", (2024, 10)),
        ("2024年1月年金终稿数据.xlsx", (2024, 1)),
        ("202412年金终稿数据.xlsx", (2024, 12)),
        ("2024年11月受托业绩.xlsx", None),
        ("年金终稿数据.xlsx", None),
    ],
)
def test_file_names_give_the_period(name: str, period: tuple[int, int] | None) -> None:
    domains, _ = project_declarations()
    assert period_of(name, domains["annuity_performance"].compiled_pattern) == period


@pytest.mark.parametrize("bracket", ["流失（含待遇支付）", "流失(含待遇支付)", "流失 (含待遇支付)"])
def test_sheet_by_name_aliases_dropped_and_unknown_columns(tmp_path: Path, bracket: str) -> None:
    domains, _ = project_declarations()
    headers = [bracket if h == "流失（含待遇支付）" else h for h in ANNUITY_HEADERS] + ["数据来源"]
    row = annuity_row(**{"流失（含待遇支付）": None, "期末资产规模": 1210.5}) | {
        bracket: "77.5",
        "数据来源": "系统A",
    }
    path = write_annuity_workbook(tmp_path / "2024年11月年金终稿数据.xlsx", [row], headers)
    result = clean_workbook(path, domains["annuity_performance"])
    assert result.rejects.empty
    cleaned = result.rows.iloc[0]
    assert cleaned["流失_含待遇支付"] == "77.5"
    assert (cleaned["机构名称"], cleaned["计划代码"], cleaned["当期收益率"]) == (
        "北京",
        "P1001",
        "0.055",
    )
    # 备注 and id are dropped on purpose; other unexpected headers are reported, not loaded.
    assert result.unknown_headers == ["数据来源"]
    assert "备注" not in result.rows and "id" not in result.rows


def test_the_group_customer_name_is_kept_trimmed_and_empty_is_null(tmp_path: Path) -> None:
    domains, _ = project_declarations()
    headers = ANNUITY_HEADERS
    rows = [
        annuity_row(集团企业客户名称="  示例集团  ", id=1),
        annuity_row(集团企业客户名称="", id=2),
    ]
    path = write_annuity_workbook(tmp_path / "2024年11月年金终稿数据.xlsx", rows, headers)
    result = clean_workbook(path, domains["annuity_performance"])
    assert result.rejects.empty and result.unknown_headers == []
    names = result.rows["集团企业客户名称"].tolist()
    assert names[0] == "示例集团" and pd.isna(names[1])


def test_declared_columns_are_the_contract_table(tmp_path: Path) -> None:
    domains, _ = project_declarations()
    domain = domains["annuity_performance"]
    assert (domain.table, domain.mode, domain.refresh_scope, domain.unique_key, domain.sheet) == (
        "annuity_performance",
        "delete_insert",
        ["月度"],
        None,
        "规模明细",
    )
    types = {name: spec.type for name, spec in domain.columns.items()}
    assert types["月度"] == "date" and types["当期收益率"] == "numeric(10,6)"
    amounts = [
        "期初资产规模",
        "期末资产规模",
        "供款",
        "流失_含待遇支付",
        "流失",
        "待遇支付",
        "投资收益",
    ]
    assert {types[name] for name in amounts} == {"numeric(18,4)"}
    assert sorted(name for name, kind in types.items() if kind == "text") == sorted(
        [
            "业务类型", "计划类型", "计划名称", "组合类型", "组合名称", "机构名称", "计划代码",
            "组合代码", "客户名称", "机构代码", "产品线代码", "集团企业客户号", "年金账户号",
            "年金账户名", "集团企业客户名称",
        ]
    )  # fmt: skip
    assert domain.transform is None  # everything is said in YAML


def test_sample_inbox_plans_both_domains_with_no_rejects(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = run_session(project_copy, monkeypatch)
    assert report["status"] == "succeeded"
    assert sorted(report["domains"]) == ["annuity_performance", "trustee_performance"]
    annuity = report["domains"]["annuity_performance"]
    assert [f["period"] for f in annuity["files"]["selected"]] == ["2024-11"]
    assert [f["period"] for f in annuity["files"]["not_selected"]] == ["2024-10"]
    assert (annuity["status"], annuity["rows_rejected"], annuity["rows_planned"]) == (
        "planned",
        0,
        45,
    )
    assert annuity["unknown_columns"] == ["数据来源"]
    assert annuity["files_read"][annuity["files"]["selected"][0]["path"]]["sheet"] == "规模明细"
    assert report["domains"]["trustee_performance"]["rows_rejected"] == 0


def _month_rows(connection: Any) -> dict[str, tuple[int, set[str]]]:
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT "月度"::text, count(*), array_agg(DISTINCT "_run_id") '
            "FROM annuity_performance GROUP BY 1 ORDER BY 1"
        )
        return {month: (count, set(runs)) for month, count, runs in cursor.fetchall()}


def _correction_rows(count: int) -> list[dict[str, Any]]:
    businesses = ["企年投资", "企年受托", "职年投资", "职年受托", "其他"]
    return [
        annuity_row(
            月度="2024年11月",
            业务类型=businesses[index % 5],
            计划类型="单一计划" if index % 2 else "集合计划",
            组合代码=f"F{300000 + index}",
            id=index,
        )
        for index in range(count)
    ]


@pytest.mark.database
def test_two_months_load_and_reloading_one_leaves_the_other_intact(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch, database_url: URL, db_connection: Any
) -> None:
    run = lambda **params: run_session(  # noqa: E731
        project_copy, monkeypatch, pipelines=["annuity_performance"], database_url=database_url,
        execute=True, **params,
    )  # fmt: skip
    first = run(max_files=1)["domains"]["annuity_performance"]
    assert (first["rows_deleted"], first["rows_inserted"]) == (0, 45)
    assert {m: c for m, (c, _) in _month_rows(db_connection).items()} == {MONTH_11: 45}

    second = run(max_files=2)["domains"]["annuity_performance"]
    # November is already loaded (same sha256, says the ledger): only October is loaded.
    assert [f["period"] for f in second["files"]["already_loaded"]] == ["2024-11"]
    assert (second["rows_deleted"], second["rows_inserted"]) == (0, 40)
    after_two = _month_rows(db_connection)
    assert {m: c for m, (c, _) in after_two.items()} == {MONTH_10: 40, MONTH_11: 45}
    october = table_digest(
        db_connection, "annuity_performance", where='"月度" = %s', params=[MONTH_10]
    )

    # A corrected November delivery (V2 folder) with fewer rows replaces November only.
    write_annuity_workbook(
        project_copy / "data/01_raw/2024/11/V2/2024年11月年金终稿数据.xlsx", _correction_rows(30)
    )
    third = run(max_files=1)["domains"]["annuity_performance"]
    assert [f["path"] for f in third["files"]["selected"]] == [
        "2024/11/V2/2024年11月年金终稿数据.xlsx"
    ]
    assert (third["rows_deleted"], third["rows_inserted"]) == (45, 30)
    after_fix = _month_rows(db_connection)
    assert {m: c for m, (c, _) in after_fix.items()} == {MONTH_10: 40, MONTH_11: 30}
    assert (
        table_digest(db_connection, "annuity_performance", where='"月度" = %s', params=[MONTH_10])
        == october
    )  # _run_id included: untouched
    assert after_fix[MONTH_10][1] == after_two[MONTH_10][1]
    assert after_fix[MONTH_11][1].isdisjoint(after_two[MONTH_11][1])


@pytest.mark.database
def test_plan_applied_with_psql_and_execute_give_the_same_table(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch, database_url: URL, db_connection: Any
) -> None:
    planned = run_session(
        project_copy, monkeypatch, pipelines=["annuity_performance"], max_files=2
    )["domains"]["annuity_performance"]
    assert planned["executed"] is False and planned["rows_planned"] == 85
    applied = run_psql(planned["plan_file"], database_url)
    assert applied.returncode == 0, applied.stderr
    from_plan = table_digest(db_connection, "annuity_performance", ignoring_run_id=True)
    with db_connection.cursor() as cursor:
        # A fresh warehouse: table and ledger (which would say these files are loaded).
        cursor.execute("DROP TABLE annuity_performance, wdh_loads")

    executed = run_session(
        project_copy, monkeypatch, pipelines=["annuity_performance"], database_url=database_url,
        execute=True, max_files=2,
    )["domains"]["annuity_performance"]  # fmt: skip
    assert executed["executed"] is True and executed["rows_inserted"] == 85
    assert table_digest(db_connection, "annuity_performance", ignoring_run_id=True) == from_plan
    assert from_plan.rows == 85
