"""The domain declarations in ``conf/<env>/data_sources.yml``: the only place that knows their shape.

Read once (see :mod:`work_data_hub.config.project`); the validated :class:`DomainConfig`
objects are passed on to the other rooms.
"""

from __future__ import annotations

import difflib
import importlib
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from work_data_hub.errors import WorkDataHubError

LoadMode = Literal["delete_insert", "append", "upsert"]
RuleName = Literal["year_month", "month_date", "code", "decimal", "rate", "text", "mapping", "copy"]

_TYPE_PATTERN = re.compile(r"^(date|text|integer|numeric\((\d+),(\d+)\))$")
_DOTTED_PATH = re.compile(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*")
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_run_id")
# Pipeline names the project registers itself (pipelines/apply_plan): no domain may take them.
RESERVED_NAMES = frozenset({"apply_plan"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DefaultWhen(_Strict):
    """A default value used when the cleaned value is empty and every condition holds.

    ``when`` maps an output column to the values it must take (an empty ``when`` always holds).
    """

    when: dict[str, list[str]] = Field(default_factory=dict)
    value: str


class ColumnSpec(_Strict):
    """How one output column is typed, found in the workbook and cleaned."""

    type: str = "text"
    source: str | list[str] | None = None
    aliases: list[str] = Field(default_factory=list)
    rule: RuleName = "text"
    required: bool = False
    # decimal / rate
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    # code
    remove: str = ""
    allowed: str | None = None
    upper: bool = True
    strip_prefix: str | None = None
    replace: dict[str, str] = Field(default_factory=dict)
    # text
    placeholders: list[str] = Field(default_factory=list)
    # mapping / copy
    from_column: str | None = Field(default=None, alias="from")
    mapping: str | None = None
    raw: bool = False
    # any rule
    defaults: list[DefaultWhen] = Field(default_factory=list)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        normalised = value.replace(" ", "").lower()
        match = _TYPE_PATTERN.match(normalised)
        if not match:
            raise ValueError(
                f"unknown type {value!r}; use date, text, integer or numeric(precision,scale)"
            )
        if match.group(2) and int(match.group(3)) > int(match.group(2)):
            raise ValueError(f"numeric scale exceeds precision in {value!r}")
        return normalised

    @field_validator("allowed")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"'allowed' is not a valid regex: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _rule_needs(self) -> ColumnSpec:
        if self.rule == "year_month" and not (
            isinstance(self.source, list) and len(self.source) == 2
        ):
            raise ValueError("rule year_month needs 'source: [<year header>, <month header>]'")
        if self.rule in ("mapping", "copy") and not self.from_column:
            raise ValueError(f"rule {self.rule} needs 'from: <column>'")
        if self.rule == "mapping" and not self.mapping:
            raise ValueError("rule mapping needs 'mapping: <name of a mapping in mappings.yml>'")
        if self.rule in ("decimal", "rate") and not self.type.startswith("numeric"):
            raise ValueError(f"rule {self.rule} needs a numeric(precision,scale) type")
        if self.rule in ("year_month", "month_date") and self.type != "date":
            raise ValueError(f"rule {self.rule} needs type date")
        return self

    @property
    def precision_scale(self) -> tuple[int, int] | None:
        match = _TYPE_PATTERN.match(self.type)
        if match and match.group(2):
            return int(match.group(2)), int(match.group(3))
        return None

    def source_headers(self, output_name: str) -> list[str]:
        """The workbook headers this column reads, in order (its own name if none is given)."""
        if self.rule in ("mapping", "copy"):
            return []
        if self.source is None:
            return [output_name]
        return [self.source] if isinstance(self.source, str) else list(self.source)


class DomainConfig(_Strict):
    """One domain: which files, which sheet, which table and how to clean and load it."""

    name: str
    description: str = ""
    pattern: str
    sheet: str | int = 0
    header_row: Annotated[int, Field(ge=1)] = 1
    table: str
    pk: list[str]
    unique_pk: bool = False
    mode: LoadMode = "delete_insert"
    header_aliases: dict[str, str] = Field(default_factory=dict)
    drop_columns: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnSpec]
    transform: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_has_period(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from exc
        missing = {"year", "month"} - set(compiled.groupindex)
        if missing:
            raise ValueError(
                f"needs the named groups (?P<year>...) and (?P<month>...); missing {sorted(missing)}"
            )
        return value

    @field_validator("transform")
    @classmethod
    def _dotted_path(cls, value: str | None) -> str | None:
        if value is not None and not _DOTTED_PATH.fullmatch(value):
            raise ValueError(f"{value!r} is not a dotted path to a Python function")
        return value

    @model_validator(mode="after")
    def _pk_and_references(self) -> DomainConfig:
        if not self.pk:
            raise ValueError("pk: needs at least one column")
        unknown = [column for column in self.pk if column not in self.columns]
        if unknown:
            raise ValueError(f"pk: {unknown} not among the declared columns")
        if self.mode == "upsert" and not self.unique_pk:
            raise ValueError("mode: upsert needs a unique pk (set unique_pk: true)")
        for name, spec in self.columns.items():
            references = [spec.from_column] if spec.from_column else []
            references += [column for default in spec.defaults for column in default.when]
            missing = [ref for ref in references if ref not in self.columns]
            if missing:
                raise ValueError(f"columns.{name}: refers to undeclared columns {missing}")
        lineage_clash = [column for column in LINEAGE_COLUMNS if column in self.columns]
        if lineage_clash:
            raise ValueError(f"columns: {lineage_clash} are lineage columns the load adds itself")
        return self

    @property
    def compiled_pattern(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE)

    # The two roles `pk` plays today, named as the contract names them (DOMAINS.md, Loading).
    @property
    def unique_key(self) -> list[str] | None:
        """Columns no two rows of a delivery may share (the table's PRIMARY KEY), or None."""
        return list(self.pk) if self.unique_pk else None

    @property
    def refresh_scope(self) -> list[str]:
        """Columns whose value combinations present in the new rows are replaced."""
        return list(self.pk)


class DataSourcesError(WorkDataHubError, ValueError):
    """``data_sources.yml`` is invalid; the message lists every problem with domain and key."""


def _known_keys(location: tuple[str | int, ...]) -> list[str]:
    """The keys allowed where ``location`` points: a domain, a column or a column default."""
    model: type[BaseModel] = DomainConfig
    if len(location) >= 4 and location[0] == "columns" and location[2] == "defaults":
        model = DefaultWhen
    elif len(location) >= 3 and location[0] == "columns":
        model = ColumnSpec
    keys = [field.alias or name for name, field in model.model_fields.items()]
    return sorted(key for key in keys if key != "name")


def _describe(problem: Any) -> str:
    """One pydantic problem as a sentence a person editing the YAML can act on."""
    location = tuple(problem["loc"])
    kind = problem["type"]
    if kind == "extra_forbidden":
        key = str(location[-1])
        known = _known_keys(location)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} (allowed here: {', '.join(known)})"
    if kind == "missing":
        return "is required but missing"
    message = str(problem["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return message
    return f"{message} (got {problem.get('input')!r})"


def _format_errors(domain: str, error: ValidationError) -> list[str]:
    lines = []
    for problem in error.errors():
        if not problem["loc"] and problem["type"] == "value_error":
            continue  # cross-references: reported from the raw settings by _reference_problems
        key = ".".join(str(part) for part in problem["loc"]) or "(domain)"
        lines.append(f"domain '{domain}', key '{key}': {_describe(problem)}")
    return lines


def _reference_problems(
    name: str, body: dict[str, Any], mappings: dict[str, dict[str, str]] | None
) -> list[str]:
    """Checks across keys (pk, from, when, mapping, mode), made on the raw settings.

    They run even when other keys of the domain are invalid, so one pass reports everything.
    """
    problems: list[str] = []
    columns = body.get("columns")
    declared = set(columns) if isinstance(columns, dict) else set()
    pk = body.get("pk")
    if isinstance(pk, list):
        if not pk:
            problems.append(f"domain '{name}', key 'pk': needs at least one column")
        unknown = [column for column in pk if column not in declared]
        if unknown and isinstance(columns, dict):
            problems.append(
                f"domain '{name}', key 'pk': {unknown} not among the declared columns "
                f"{sorted(declared)}"
            )
    if body.get("mode") == "upsert" and body.get("unique_pk") is not True:
        problems.append(f"domain '{name}', key 'mode': upsert needs a unique pk (unique_pk: true)")
    clash = sorted(declared & set(LINEAGE_COLUMNS))
    if clash:
        problems.append(
            f"domain '{name}', key 'columns': {clash} are lineage columns the load adds itself"
        )
    for column, spec in (columns or {}).items() if isinstance(columns, dict) else ():
        if not isinstance(spec, dict):
            continue
        references = [spec["from"]] if isinstance(spec.get("from"), str) else []
        for default in spec.get("defaults") or []:
            if isinstance(default, dict) and isinstance(default.get("when"), dict):
                references += [str(ref) for ref in default["when"]]
        missing = [ref for ref in references if ref not in declared]
        if missing:
            problems.append(
                f"domain '{name}', key 'columns.{column}': refers to undeclared columns {missing}"
            )
        mapping = spec.get("mapping")
        if isinstance(mapping, str) and mappings is not None and mapping not in mappings:
            known = (
                f"mappings.yml has {sorted(mappings)}"
                if mappings
                else "no mappings are defined (is conf/base/mappings.yml missing or empty?)"
            )
            problems.append(
                f"domain '{name}', key 'columns.{column}.mapping': unknown mapping "
                f"{mapping!r}; {known}"
            )
    return problems


def _transform_problem(name: str, dotted: str) -> str | None:
    """A transform must name an importable function; say why when it does not."""
    module_name, _, function_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the module is the project's own code: any failure is reported
        return (
            f"domain '{name}', key 'transform': cannot import module {module_name!r} "
            f"({type(exc).__name__}: {exc})"
        )
    if not callable(getattr(module, function_name, None)):
        return (
            f"domain '{name}', key 'transform': module {module_name!r} has no function "
            f"{function_name!r}"
        )
    return None


def parse_domains(
    raw: dict[str, Any], mappings: dict[str, dict[str, str]] | None = None
) -> dict[str, DomainConfig]:
    """Validate the ``domains`` section of ``data_sources.yml``; report all problems at once.

    ``mappings`` (the tables of ``mappings.yml``) lets ``mapping:`` names be checked too.
    """
    domains_raw = raw.get("domains")
    problems: list[str] = []
    unknown_top = sorted(set(raw) - {"domains"})
    if unknown_top:
        problems.append(
            f"data_sources.yml: unknown top-level keys {unknown_top}; expected 'domains'"
        )
    if not isinstance(domains_raw, dict) or not domains_raw:
        problems.append("data_sources.yml: 'domains' must map each domain name to its settings")
        raise DataSourcesError("Invalid data_sources.yml:\n  " + "\n  ".join(problems))
    domains: dict[str, DomainConfig] = {}
    for name, body in domains_raw.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            problems.append(
                f"domain '{name}': a domain name must be lower_snake_case (it names a pipeline)"
            )
            continue
        if name in RESERVED_NAMES:
            problems.append(
                f"domain '{name}': the name is reserved for the pipeline "
                f"`kedro run --pipelines {name}`; rename the domain"
            )
            continue
        if not isinstance(body, dict):
            problems.append(f"domain '{name}': expected a mapping of settings")
            continue
        found = _reference_problems(name, body, mappings)
        try:
            domain = DomainConfig.model_validate({"name": name, **body})
        except ValidationError as exc:
            found = _format_errors(name, exc) + found
        else:
            domains[name] = domain
        transform = body.get("transform")
        if isinstance(transform, str) and _DOTTED_PATH.fullmatch(transform):
            problem = _transform_problem(name, transform)
            found += [problem] if problem else []
        problems.extend(found)
    if problems:
        raise DataSourcesError(
            f"Invalid data_sources.yml ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems)
        )
    return domains
