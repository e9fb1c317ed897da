"""Write the synthetic sample inbox under data/01_raw (no real people's or companies' data).

Run with `uv run python scripts/make_sample_inbox.py`; the workbooks it writes are committed so
that `uv run kedro run` works on a fresh clone. Same input, same bytes: reruns change nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path

from openpyxl import Workbook

FIXED_TIMESTAMP = dt.datetime(2024, 12, 1, 9, 0, 0)
TRUSTEE_HEADERS = ["年", "月", "计划 代码", "公司代码", "收益率", "净值", "规模"]


def _save(workbook: Workbook, path: Path) -> None:
    workbook.properties.creator = "WorkDataHub sample generator"
    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


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
    for row in trustee_rows(year, month, plans, seed):
        sheet.append(row)
    sheet.append([])
    for row in extra_rows or []:
        sheet.append(row)
    sheet.append(["合计", None, None, None, None, None, "—"])
    _save(workbook, path)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inbox", type=Path, default=Path("data/01_raw"))
    args = parser.parse_args()
    make_inbox(args.inbox)
    print(f"Sample inbox written under {args.inbox}")


if __name__ == "__main__":
    main()
