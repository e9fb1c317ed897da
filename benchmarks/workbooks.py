"""Synthetic trustee workbooks with the messy cells people deliver, written fast.

openpyxl's write-only mode streams rows to the file without keeping cells in memory, so a
500k-row workbook is written in well under a minute and openpyxl stays the only writer.
"""

from __future__ import annotations

import random
from pathlib import Path

from openpyxl import Workbook

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
    for index in range(rows):
        row = trustee_row(index, year, month, rng)
        if index % BAD_ROW_EVERY == BAD_ROW_EVERY - 1:
            row[5] = "n/a"
            bad += 1
        sheet.append(row)
        if index % BLANK_ROW_EVERY == BLANK_ROW_EVERY - 1:
            sheet.append([])
    sheet.append(["合计", None, None, None, None, None, "—"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    workbook.save(partial)
    partial.rename(path)
    return bad
