"""The headers of an annuity (规模明细) sheet as departments deliver it, defined once.

Standard library only: the sample inbox (scripts/make_sample_inbox.py) and the benchmark's
workbooks (benchmarks/workbooks.py) import it too. The full list carries aliases (计划号,
年化收益率, 机构), full-width brackets in 流失（含待遇支付）, two dropped columns (备注, id) and three
the domain does not read (机构代码 is derived from 机构名称; 集团企业客户名称 and 数据来源 are
listed as unknown); each writer takes the subset its workbooks have.
"""

from __future__ import annotations

DELIVERED_ANNUITY_HEADERS = (
    "月度",
    "业务类型",
    "计划类型",
    "计划号",
    "计划名称",
    "组合类型",
    "组合代码",
    "组合名称",
    "客户名称",
    "期初资产规模",
    "期末资产规模",
    "供款",
    "流失（含待遇支付）",
    "流失",
    "待遇支付",
    "投资收益",
    "年化收益率",
    "机构",
    "机构代码",
    "集团企业客户号",
    "集团企业客户名称",
    "备注",
    "id",
    "数据来源",
)


def annuity_headers_without(*left_out: str) -> list[str]:
    """The delivered headers, in order, without ``left_out`` (each must be one of them)."""
    unknown = set(left_out) - set(DELIVERED_ANNUITY_HEADERS)
    if unknown:
        raise ValueError(f"not delivered annuity headers: {sorted(unknown)}")
    return [header for header in DELIVERED_ANNUITY_HEADERS if header not in left_out]
