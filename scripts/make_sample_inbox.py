"""Write the synthetic sample inbox under data/01_raw (no real people's or companies' data).

Run with `uv run python scripts/make_sample_inbox.py`; the workbooks it writes are committed
(`git add -f`: everything else under data/ is git-ignored, so real workbooks never are) so that
`uv run kedro run` works on a fresh clone. Same input, same bytes: reruns change nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import re
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook

# The one list of delivered headers lives with the tests' helpers (standard library only).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.annuity_headers import annuity_headers_without

FIXED_TIMESTAMP = dt.datetime(2024, 12, 1, 9, 0, 0)
OVERWRITE = False
TRUSTEE_HEADERS = ["年", "月", "计划 代码", "公司代码", "收益率", "净值", "规模"]


def _save(workbook: Workbook, path: Path) -> None:
    """Save with fixed timestamps (zip entries and docProps), so reruns give the same bytes.

    An existing file is left alone unless ``OVERWRITE`` is set: committed sample workbooks
    keep their bytes when the generator gains new ones.
    """
    if path.exists() and not OVERWRITE:
        return
    workbook.properties.creator = "WorkDataHub sample generator"
    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    buffer = io.BytesIO()
    workbook.save(buffer)
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
    fixed = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(fixed, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + stamp.encode() + rb"\2", data
                )
            info = zipfile.ZipInfo(entry.filename, FIXED_TIMESTAMP.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = entry.external_attr
            target.writestr(info, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fixed.getvalue())


def trustee_rows(year: int, month: int, plans: int, seed: int) -> list[list[object]]:
    """Messy but valid trustee rows: codes with dashes, `年`/`月` suffixes, `%` and `¥` cells."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for index in range(plans):
        plan = f"p-{index + 1:04d}" if index % 3 == 0 else f"P{index + 1:04d}"
        company = f"TC_{index % 4 + 1:03d}"
        rate = round(rng.uniform(-0.05, 0.12), 6)
        rows.append(
            [
                f"{year}年" if index % 2 else year,
                f"{month}月" if index % 2 else float(month),
                plan,
                company,
                f"{rate * 100:.4f}%" if index % 2 else rate,
                f"¥{rng.uniform(0.8, 2.5):,.4f}",
                f"{rng.uniform(1e5, 5e8):,.2f}",
            ]
        )
    return rows


def write_trustee(
    path: Path,
    year: int,
    month: int,
    *,
    plans: int = 12,
    seed: int = 0,
    extra_rows: list[list[object]] | None = None,
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "受托业绩"
    sheet.append(TRUSTEE_HEADERS)
    rows = trustee_rows(year, month, plans, seed)
    for row in rows:
        sheet.append(row)
    sheet.append([])
    for row in extra_rows or []:
        sheet.append(row)
    # The total row agrees with the rows (the total_row check compares them).
    sheet.append(["合计", None, None, None, None, None, _total(rows + (extra_rows or []), 6)])
    _save(workbook, path)


def _total(rows: list[list[object]], position: int) -> str:
    """The sum of one column's cells (text like ``1,234.56`` or numbers), as a cell shows it."""
    total = sum(Decimal(str(row[position]).replace(",", "")) for row in rows)
    return f"{total:,.2f}"


# The sample workbooks have every delivered header but 机构代码.
ANNUITY_HEADERS = annuity_headers_without("机构代码")
BUSINESS_TYPES = ["企年投资", "企年受托", "职年投资", "职年受托", "其他"]
BRANCHES = ["北京", "上海", "湖北", "新疆", "广东", "江苏", "西藏", None]


def _month_cell(year: int, month: int, index: int) -> object:
    """The same month in the spellings departments use (docs/contract.md, annuity_performance)."""
    spellings: list[object] = [
        dt.datetime(year, month, 1),
        f"{year}{month:02d}",
        year * 100 + month,
        f"{year}年{month}月",
        f"{year % 100}年{month}月",
        f"{year}-{month:02d}",
        f"{year}{month:02d}15",
        f"{year}年{month}月15日",
        f"{year}-{month:02d}-15",
        f"{year}{month:02d}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ]
    return spellings[index % len(spellings)]


def annuity_rows(
    year: int, month: int, count: int, seed: int, openings: list[float] | None = None
) -> list[list[object]]:
    """Synthetic 规模明细 rows exercising every rule; names are made up (示例企业NNN).

    Each row's 期末资产规模 is 期初 + 供款 - 流失(含待遇支付) + 投资收益 (the identity check);
    ``openings`` (the previous month's closings, by row) open the month where the last one
    closed (the continuity check).
    """
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for index in range(count):
        business = BUSINESS_TYPES[index % len(BUSINESS_TYPES)]
        plan_type = "集合计划" if index % 3 else "单一计划"
        plan_code: object = (
            None
            if index % 7 == 3
            else ("1P0290" if index % 11 == 0 else f"p{1000 + index % 9:04d}")
        )
        portfolio: object = (
            None if index % 6 == 2 else (100000 + index if index % 4 == 0 else f"F{200000 + index}")
        )
        customer = (
            ["null", "空白", "-", "无"][index % 4]
            if index % 10 == 9
            else f"  示例企业{index + 1:03d}有限公司 "
        )
        opening = round(rng.uniform(1e5, 5e8), 2)
        if openings is not None and index < len(openings):
            opening = openings[index]
        contribution = round(rng.uniform(0, 1e7), 2)
        outflow = round(rng.uniform(0, 5e6), 2)
        benefit = round(rng.uniform(0, outflow), 2)
        gain = round(rng.uniform(-2e6, 8e6), 2)
        rate = round(rng.uniform(-0.03, 0.08), 6)
        rows.append(
            [
                _month_cell(year, month, index),
                business,
                plan_type,
                plan_code,
                f"示例年金计划{index % 9 + 1}号",
                "含权益" if index % 2 else "固定收益",
                portfolio,
                f"示例组合{index + 1}",
                customer,
                f"{opening:,.2f}",
                round(opening + contribution - outflow + gain, 2),
                contribution,
                f"{outflow:,.2f}",
                round(outflow - benefit, 2),
                benefit,
                gain,
                f"{rate * 100:.4f}%" if index % 2 else rate,
                BRANCHES[index % len(BRANCHES)],
                f"C{600000000 + index * 37}",
                None if index % 8 == 5 else f" 示例集团{index % 4 + 1} ",
                "样例数据" if index % 5 == 0 else None,
                index + 1,
                "样例系统",
            ]
        )
    return rows


ANNUITY_CLOSING = ANNUITY_HEADERS.index("期末资产规模")


def write_annuity(
    path: Path,
    year: int,
    month: int,
    *,
    count: int = 40,
    seed: int = 0,
    openings: list[float] | None = None,
) -> list[float]:
    """A cover sheet first, then 规模明细: the detail sheet is found by name, not position.

    Returns the rows' closings (期末资产规模), which open the next month.
    """
    workbook = Workbook()
    cover = workbook.active
    cover.title = "说明"
    cover.append([f"{year}年{month}月年金终稿数据（样例，非真实数据）"])
    cover.append(["由 scripts/make_sample_inbox.py 生成"])
    detail = workbook.create_sheet("规模明细")
    detail.append(ANNUITY_HEADERS)
    rows = annuity_rows(year, month, count, seed, openings)
    for row in rows:
        detail.append(row)
    detail.append([])
    total: list[object] = ["合计", *([None] * (ANNUITY_CLOSING - 1)), _total(rows, ANNUITY_CLOSING)]
    detail.append(total)
    _save(workbook, path)
    return [float(str(row[ANNUITY_CLOSING])) for row in rows]


def make_inbox(root: Path) -> None:
    write_trustee(
        root / "2024" / "09" / "2024_09_受托业绩报告.xlsx",
        2024,
        9,
        seed=9,
        extra_rows=[[2024, 9, "P9999", "TC_001", "n/a", "1.0", "100"]],
    )
    write_trustee(root / "2024" / "10" / "2024年10月受托业绩.xlsx", 2024, 10, seed=10)
    write_trustee(root / "2024" / "11" / "V1" / "2024-11 受托业绩.xlsx", 2024, 11, seed=11)
    write_trustee(
        root / "2024" / "11" / "V2" / "2024-11 受托业绩.xlsx", 2024, 11, plans=14, seed=12
    )
    write_trustee(root / "backup" / "2024_12_受托业绩报告.xlsx", 2024, 12, seed=13)
    october = write_annuity(root / "2024" / "10" / "2024年10月年金终稿数据.xlsx", 2024, 10, seed=20)
    write_annuity(
        root / "2024" / "11" / "【for年金分战区经营分析】24年11月年金终稿数据1209采集.xlsx",
        2024,
        11,
        count=45,
        seed=21,
        openings=october,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inbox", type=Path, default=Path("data/01_raw"))
    parser.add_argument(
        "--overwrite", action="store_true", help="rewrite workbooks that already exist"
    )
    args = parser.parse_args()
    global OVERWRITE  # noqa: PLW0603  (a script-wide switch, set once from the command line)
    OVERWRITE = args.overwrite
    make_inbox(args.inbox)
    print(f"Sample inbox written under {args.inbox}")


if __name__ == "__main__":
    main()
