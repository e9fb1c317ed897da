"""What a cleaning rule IS: its name, its options model, the types it yields, the cells it reads.

Declarations only (no polars): ``data_sources.yml`` is validated against them without importing
the rules' code. Each rule's function is registered against its declaration in
:mod:`work_data_hub.cleaning.registry`; registering an undeclared rule, or importing the
registry while a declared rule has no function, fails loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

# The key under which ColumnSpec tells the options model which rule it belongs to.
RULE_TAG = "__rule__"
# parse_domains passes the tables of mappings.yml in the validation context under this key.
MAPPINGS_CONTEXT = "mappings"


class RuleOptions(BaseModel):
    """Base of every rule's options: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_rule_tag(cls, data: Any) -> Any:
        if isinstance(data, dict) and RULE_TAG in data:
            return {key: value for key, value in data.items() if key != RULE_TAG}
        return data

    @property
    def reads_raw(self) -> bool:
        """Whether a rule reading another column wants its cells as delivered, not cleaned."""
        return False


@dataclass(frozen=True)
class RuleDeclaration:
    """One rule as configuration sees it.

    ``cells``: how many source headers it reads (0: it reads another column, named by ``from``);
    ``types``: the column type kinds it yields (``date``, ``text``, ``integer``, ``numeric``),
    or None when it yields the type of the column it reads.
    """

    name: str
    options: type[RuleOptions]
    types: frozenset[str] | None
    cells: int = 1

    @property
    def reads_column(self) -> bool:
        return self.cells == 0


RULE_DECLARATIONS: dict[str, RuleDeclaration] = {}


def declare_rule(
    name: str, *, options: type[RuleOptions], types: set[str] | None, cells: int = 1
) -> RuleDeclaration:
    """Declare rule ``name``; a name declared twice is a programming error."""
    if name in RULE_DECLARATIONS:
        raise ValueError(f"rule {name!r} is declared twice")
    declaration = RuleDeclaration(name, options, frozenset(types) if types else None, cells)
    RULE_DECLARATIONS[name] = declaration
    return declaration


# The rule a column gets when it declares a type but no rule: strict, so no cell reaches COPY
# (or a server setting such as DateStyle) unchecked.
DEFAULT_RULE_FOR_TYPE = {"text": "text", "date": "date", "integer": "integer", "numeric": "decimal"}


def type_kind(column_type: str) -> str:
    """``numeric(18,2)`` -> ``numeric``; other types are their own kind."""
    return column_type.split("(", 1)[0]


# --- the options models and the declarations ------------------------------------------------


class NoOptions(RuleOptions):
    pass


class DecimalOptions(RuleOptions):
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False


class CodeOptions(RuleOptions):
    upper: bool = True
    remove: str = ""
    strip_prefix: str | None = None
    replace: dict[str, str] = Field(default_factory=dict)
    allowed: str | None = None

    @field_validator("allowed")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            # Python's re only: config is read in every kedro command, and a process that
            # forks later (Kedro-Viz does) hangs if polars' thread pool has started.
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"'allowed' is not a valid regex: {exc}") from exc
        return value


class TextOptions(RuleOptions):
    placeholders: list[str] = Field(default_factory=list)


class MappingOptions(RuleOptions):
    mapping: str
    _table: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> MappingOptions:
        # The table itself comes from mappings.yml; an unknown name is reported by parse_domains.
        tables = (info.context or {}).get(MAPPINGS_CONTEXT) or {}
        self._table = dict(tables.get(self.mapping, {}))
        return self

    @property
    def table(self) -> dict[str, str]:
        return dict(self._table)


class CopyOptions(RuleOptions):
    raw: bool = False

    @property
    def reads_raw(self) -> bool:
        return self.raw


declare_rule("year_month", options=NoOptions, types={"date"}, cells=2)
declare_rule("month_date", options=NoOptions, types={"date"})
declare_rule("date", options=NoOptions, types={"date"})
declare_rule("integer", options=NoOptions, types={"integer"})
declare_rule("decimal", options=DecimalOptions, types={"numeric"})
declare_rule("rate", options=DecimalOptions, types={"numeric"})
declare_rule("code", options=CodeOptions, types={"text"})
declare_rule("text", options=TextOptions, types={"text"})
declare_rule("mapping", options=MappingOptions, types={"text"}, cells=0)
declare_rule("copy", options=CopyOptions, types=None, cells=0)
