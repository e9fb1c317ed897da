"""Synthetic trustee and annuity (规模明细) workbooks with the messy cells people deliver, written fast.

openpyxl's write-only mode streams rows to the file without keeping cells in memory, so a
500k-row workbook is written in well under a minute and openpyxl stays the only writer.
"""

from __future__ import annotations

import random
import sys
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook

# The one list of delivered headers lives with the tests' helpers (standard library only).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.annuity_headers import annuity_headers_without

# Headers as delivered: a space inside one, a full-width space in another.
TRUSTEE_HEADERS = ["年", "月", "计划 代码", "公司代码", "收益率", "净值", "规\u3000模"]
BAD_ROW_EVERY = 20_000  # one row in 20k carries a bad cell and must end up in the rejects
BLANK_ROW_EVERY = 50_000


def trustee_row(index: int, year: int, month: int, rng: random.Random) -> list[object]:
    """One data row; the spelling of each cell varies with the row number."""
    kind = index % 6
    number = index + 1
    plan = f"p-{number:07d}" if kind == 0 else f" P_{number:07d}" if kind == 1 else f"P{number:07d}"
    company = f"TC_{index % 40 + 1:03d}" if kind % 2 else f"tc-{index % 40 + 1:03d}"
    rate = round(rng.uniform(-0.05, 0.12), 6)
    nav = rng.uniform(0.8, 2.5)
    scale = rng.uniform(1e5, 5e8)
    return [
        year if kind in (0, 3) else f"{year}年" if kind in (1, 4) else float(year),
        float(month) if kind in (0, 3) else f"{month}月" if kind in (1, 4) else month,
        plan,
        company,
        f"{rate * 100:.4f}%" if kind in (1, 2) else None if kind == 5 else rate,
        f"¥{nav:,.4f}" if kind in (0, 1) else f"￥ {nav:.4f}" if kind == 2 else round(nav, 4),
        f"{scale:,.2f}" if kind in (1, 3) else None if kind == 4 else round(scale, 2),
    ]


def write_trustee_workbook(path: Path, rows: int, *, year: int = 2024, month: int = 11) -> int:
    """Write ``rows`` data rows (plus blank rows and a total row); returns the bad rows."""
    rng = random.Random(rows)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("受托业绩")
    sheet.append(TRUSTEE_HEADERS)
    bad = 0
    total = Decimal(0)
    for index in range(rows):
        row = trustee_row(index, year, month, rng)
        if row[6] is not None:
            total += Decimal(str(row[6]).replace(",", ""))
        if index % BAD_ROW_EVERY == BAD_ROW_EVERY - 1:
            row[5] = "n/a"
            bad += 1
        sheet.append(row)
        if index % BLANK_ROW_EVERY == BLANK_ROW_EVERY - 1:
            sheet.append([])
    # The total row agrees with the rows (the total_row check compares them).
    sheet.append(["合计", None, None, None, None, None, f"{total:.2f}"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    workbook.save(partial)
    partial.rename(path)
    return bad


# The 规模明细 sheet as departments deliver it: 23 columns (every delivered header but 数据来源).
ANNUITY_HEADERS = annuity_headers_without("数据来源")
_BUSINESS_TYPES = ["企年投资", "企年受托", "职年投资", "职年受托", "其他"]
_PLAN_TYPES = ["集合计划", "单一计划"]
_BRANCHES = ["北京", "上海", "湖北", "新疆", "广东", "未知分部", None]
_CUSTOMER_PLACEHOLDERS = ["null", "空白", "-", "无"]


def _amount(value: float, kind: int) -> object:
    """An amount spelled as people type it: a number, with separators, with a currency sign."""
    if kind == 0:
        return round(value, 4)
    if kind == 1:
        return f"{value:,.2f}"
    if kind == 2:
        return f"¥{value:,.4f}"
    if kind == 3:
        return f"￥ {value:.2f}"
    return None if kind == 4 else f"{value:.4f}"


def annuity_row(index: int, year: int, month: int, rng: random.Random) -> list[object]:
    """One 规模明细 detail row; the spelling of each cell varies with the row number."""
    kind = index % 6
    number = index + 1
    business = _BUSINESS_TYPES[index % len(_BUSINESS_TYPES)]
    plan_type = _PLAN_TYPES[(index // 5) % 2]
    month_cell: object = (
        f"{year}{month:02d}"
        if kind in (0, 3)
        else f"{year}年{month}月"
        if kind == 1
        else f"{year}-{month:02d}"
        if kind == 2
        else f"{year % 100}年{month}月"
        if kind == 4
        else int(f"{year}{month:02d}15")
    )
    plan_code = (
        "1P0290" if number % 97 == 0 else None if kind == 5 else f"p{number % 5000:04d}".upper()
    )
    portfolio = f"F{number % 9000:06d}" if kind in (0, 1) else None if kind == 5 else number % 9000
    customer = (
        _CUSTOMER_PLACEHOLDERS[index % 4] if kind == 4 else f" 客户{number % 20000:05d}有限公司 "
    )
    start = round(rng.uniform(1e4, 5e8), 2)
    flows = [round(rng.uniform(-1e6, 1e7), 2) for _ in range(5)]
    rate = round(rng.uniform(-0.05, 0.12), 6)
    # 期末 = 期初 + 供款 - 流失(含待遇支付) + 投资收益, to the cent (the identity check).
    contribution, outflow, gain = flows[1], -abs(flows[2]), round(flows[0] / 10, 2)
    closing = round(start + contribution - outflow + gain, 2)
    return [
        month_cell,
        business,
        plan_type,
        plan_code,
        f"企业年金计划{number % 5000:04d}",
        "固定收益" if kind % 2 else "权益",
        portfolio,
        f"组合{number % 9000:04d}",
        customer,
        _amount(start, kind),
        _amount(closing, (kind + 1) % 6),
        _amount(contribution, (kind + 2) % 6),
        _amount(outflow, (kind + 3) % 6),
        _amount(-abs(flows[3]), kind),
        _amount(-abs(flows[4]) / 2, (kind + 1) % 6),
        _amount(gain, (kind + 2) % 6),
        f"{rate * 100:.3f}%" if kind in (1, 2) else None if kind == 5 else rate,
        _BRANCHES[index % len(_BRANCHES)],
        f"G{index % 30:02d}",
        f"C{number % 30000:08d}" if kind != 3 else f"{number % 30000:08d}",
        f"集团{number % 3000:04d}" if kind != 2 else None,
        "备注" if kind == 0 else None,
        number,
    ]


def write_annuity_workbook(path: Path, rows: int, *, year: int = 2024, month: int = 11) -> int:
    """Write a 规模明细 sheet of ``rows`` detail rows (plus blank rows); returns the bad rows."""
    rng = random.Random(rows + 1)
    workbook = Workbook(write_only=True)
    workbook.create_sheet("说明").append(["本表为规模明细"])  # the data is not the first sheet
    sheet = workbook.create_sheet("规模明细")
    sheet.append(ANNUITY_HEADERS)
    bad = 0
    amount_column = ANNUITY_HEADERS.index("期末资产规模")
    for index in range(rows):
        row = annuity_row(index, year, month, rng)
        if index % BAD_ROW_EVERY == BAD_ROW_EVERY - 1:
            row[amount_column] = "待核实"
            bad += 1
        sheet.append(row)
        if index % BLANK_ROW_EVERY == BLANK_ROW_EVERY - 1:
            sheet.append([])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    workbook.save(partial)
    partial.rename(path)
    return bad
