"""A domain declared in data_sources.yml alone is a pipeline: planned, executed, no Python added."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy.engine import URL

from tests.support.annuity import PROJECT_ROOT, clean_workbook, project_declarations, write_workbook
from tests.support.cli import run_kedro
from work_data_hub.cleaning.engine import MissingColumnError
from work_data_hub.config import DomainConfig, parse_domains
from work_data_hub.discovery import period_of

NEW_DOMAIN = """
  branch_headcount:
    description: 机构人数 (declared by a test, no Python added)
    pattern: '(?P<year>20\\d{2})(?P<month>1[0-2]|0[1-9])_机构人数'
    sheet: 人数
    header_row: 2
    table: branch_headcount
    unique_key: [月份, 机构名称]
    mode: upsert
    header_aliases: {机构: 机构名称}
    drop_columns: [说明]
    columns:
      月份: {type: date, rule: month_date, required: true}
      机构名称: {type: text, rule: text, required: true}
      机构代码:
        type: text
        rule: mapping
        from: 机构名称
        mapping: branch_codes
        defaults: [{value: G00}]
      人数: {type: 'numeric(12,2)', rule: decimal, source: 在岗人数, aliases: [人数], min: 0}
      负责人代码: {type: text, rule: code, remove: '-', allowed: '^[A-Z0-9]+$'}
      备注名称: {type: text, rule: text, placeholders: [无]}
"""

HEADCOUNT_ROWS: list[list[Any]] = [
    ["2024年11月各机构人数（样例）"],
    ["月份", "机构", "人数", "负责人代码", "备注名称", "说明"],
    [dt.datetime(2024, 11, 1), "北京", 120, "ab-01", "总部", "x"],
    ["2024年11月", "上海", "1,050.5", "CD02", "无", None],
    ["202411", "西藏", 7, None, None, None],
    ["合计", None, 1177.5, None, None, None],
]


@pytest.mark.database
def test_a_domain_added_to_data_sources_only_plans_and_executes(
    project_copy: Path, database_url: URL, db_connection: Any
) -> None:
    sources = project_copy / "conf/base/data_sources.yml"
    sources.write_text(sources.read_text(encoding="utf-8") + NEW_DOMAIN, encoding="utf-8")
    write_workbook(
        project_copy / "data/01_raw/hr/202411_机构人数.xlsx",
        {"封面": [["样例"]], "人数": HEADCOUNT_ROWS},
    )

    planned = run_kedro(project_copy, "run", "--pipelines", "branch_headcount")
    assert planned.returncode == 0, planned.stderr + planned.stdout
    (plan,) = (project_copy / "data/08_reporting/plans/branch_headcount.sql").rglob("*.sql")
    script = plan.read_text(encoding="utf-8")
    assert 'CREATE TABLE "branch_headcount"' in script  # run only if the table is missing
    assert "ON CONFLICT" in script and "-- rows to insert: 3;" in script

    executed = run_kedro(
        project_copy,
        "run",
        "--pipelines",
        "branch_headcount",
        "--params",
        "execute=true",
        database_url=database_url,
    )
    assert executed.returncode == 0, executed.stderr + executed.stdout
    with db_connection.cursor() as cursor:
        cursor.execute(
            'SELECT "月份"::text, "机构名称", "机构代码", "人数"::text, "负责人代码", "备注名称", '
            '"_source_row" FROM branch_headcount ORDER BY "_source_row"'
        )
        rows = cursor.fetchall()
    assert rows == [
        ("2024-11-01", "北京", "G01", "120.00", "AB01", "总部", 3),
        ("2024-11-01", "上海", "G02", "1050.50", "CD02", None, 4),
        ("2024-11-01", "西藏", "G00", "7.00", None, None, 5),
    ]


# --- a transform named by dotted path -------------------------------------------------------


def split_period_and_branch(frame: pd.DataFrame, domain: DomainConfig) -> pd.DataFrame:
    """'2024-11 / 北京' in one column -> 月份 and 机构名称 (vectorised, used by the test below)."""
    parts = frame["期间机构"].str.split("/", n=1, expand=True)
    return frame.assign(月份=parts[0].str.strip(), 机构名称=parts[1].str.strip())


def _domain(**overrides: Any) -> DomainConfig:
    body: dict[str, Any] = {
        "pattern": r"(?P<year>20\d{2})(?P<month>\d{2})_x",
        "sheet": "数据",
        "table": "t",
        "refresh_scope": ["月份"],
        "columns": {
            "月份": {"type": "date", "rule": "month_date"},
            "机构名称": {"type": "text"},
        },
    }
    body.update(overrides)
    mappings = {"branch_codes": {"北京": "G01"}}
    return parse_domains({"domains": {"demo": body}}, mappings)["demo"]


def test_a_transform_named_by_dotted_path_runs_before_the_rules(tmp_path: Path) -> None:
    domain = _domain(
        transform="tests.pipelines.test_declarative_domain.split_period_and_branch",
        drop_columns=["期间机构"],
    )
    path = write_workbook(
        tmp_path / "202411_x.xlsx", {"数据": [["期间机构"], ["2024-11 / 北京"], ["2024-10/上海"]]}
    )
    result = clean_workbook(path, domain)
    assert result.rows[["月份", "机构名称"]].values.tolist() == [
        ["2024-11-01", "北京"],
        ["2024-10-01", "上海"],
    ]
    assert result.unknown_headers == []


def test_a_raw_copy_may_be_declared_before_its_origin(tmp_path: Path) -> None:
    domain = _domain(
        columns={
            "原始名称": {"rule": "copy", "from": "名称", "raw": True},
            "月份": {"type": "date", "rule": "month_date"},
            "名称": {"rule": "text", "placeholders": ["-"]},
        }
    )
    path = write_workbook(tmp_path / "202411_x.xlsx", {"数据": [["月份", "名称"], ["202411", "-"]]})
    result = clean_workbook(path, domain)
    assert result.rows["原始名称"].iloc[0] == "-"
    assert pd.isna(result.rows["名称"].iloc[0])


def test_aliases_of_a_column_and_optional_columns_missing_from_the_sheet(tmp_path: Path) -> None:
    domain = _domain(
        columns={
            "月份": {"type": "date", "rule": "month_date", "aliases": ["统计月份"]},
            # A declared header may be missing only from an optional column.
            "机构名称": {"type": "text", "optional": True},
            "机构代码": {
                "rule": "mapping", "from": "机构名称", "mapping": "branch_codes",
                "defaults": [{"value": "G00"}],
            },
        }
    )  # fmt: skip
    path = write_workbook(tmp_path / "202411_x.xlsx", {"数据": [["统计月份"], ["2024年11月"]]})
    result = clean_workbook(path, domain)
    assert result.rows[["月份", "机构代码"]].iloc[0].tolist() == ["2024-11-01", "G00"]
    assert pd.isna(result.rows["机构名称"].iloc[0])


def test_a_required_column_missing_from_the_sheet_names_file_sheet_and_header(
    tmp_path: Path,
) -> None:
    domain = _domain()
    path = write_workbook(tmp_path / "202411_x.xlsx", {"数据": [["机构名称"], ["北京"]]})
    with pytest.raises(MissingColumnError, match=r"202411_x\.xlsx, sheet '数据'.*'月份'"):
        clean_workbook(path, domain)


def test_the_documented_example_domain_is_valid_and_cleans_a_workbook(tmp_path: Path) -> None:
    contract = (PROJECT_ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    section = contract.split("## Declarative domains", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    _, mappings = project_declarations()
    domain = parse_domains(yaml.safe_load(example), mappings)["branch_headcount"]
    assert period_of("2024年11月机构人数.xlsx", domain.compiled_pattern) == (2024, 11)
    path = write_workbook(
        tmp_path / "2024年11月机构人数.xlsx",
        {
            "人数": [
                ["标题"],
                ["统计月份", "机构", "在职人数", "负责人代码", "备注名称", "备注"],
                ["2024年11月", "北京", "12", None, " 无 ", "x"],
                ["2024-11", "西藏", "3", "ab-1", "总部", None],
            ]
        },
    )
    result = clean_workbook(path, domain)
    assert result.rejects.empty and result.unknown_headers == []
    frame = result.rows.drop(columns=["_source_file"])
    assert [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)] == [
        ["2024-11-01", "北京", "G01", "12", "HQ", None, " 无 ", 3],
        ["2024-11-01", "西藏", "G00", "3", "AB1", "总部", "总部", 4],
    ]
