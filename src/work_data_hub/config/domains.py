"""The domain declarations in ``conf/<env>/data_sources.yml``: the only place that knows their shape.

Read once (see :mod:`work_data_hub.config.project`); the validated :class:`DomainConfig`
objects are passed on to the other rooms.
"""

from __future__ import annotations

import difflib
import importlib
import re
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from work_data_hub.config.business_checks import BusinessCheck, check_problems, parse_checks
from work_data_hub.config.calendar import DEFAULT_FUTURE_TOLERANCE, DeliveryCalendar
from work_data_hub.config.modes import LOAD_MODES
from work_data_hub.config.rules import (
    DEFAULT_RULE_FOR_TYPE,
    MAPPINGS_CONTEXT,
    RULE_DECLARATIONS,
    RULE_TAG,
    RuleOptions,
    type_kind,
)
from work_data_hub.errors import WorkDataHubError

# A mode is a name declared in work_data_hub.config.modes, which also says what it needs.
LoadMode = str
RuleName = str  # a name declared in work_data_hub.config.rules.RULE_DECLARATIONS

_TYPE_PATTERN = re.compile(r"^(date|text|integer|numeric\((\d+),(\d+)\))$")
_DOTTED_PATH = re.compile(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*")
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_run_id")
# PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN - 1) and silently drops the rest,
# so a longer name would create an object under another name than the one the load looks for.
NAME_BYTES = 63


def history_table(table: str) -> str:
    """The table holding the rows a load replaced."""
    return f"{table}__history"


def stage_table(domain: str) -> str:
    """The load's temporary table in ``pg_temp``."""
    return f"wdh_stage_{domain}"


def primary_key_name(table: str) -> str:
    return f"{table}_pk"


def scope_index_name(table: str) -> str:
    return f"{table}_scope_idx"


def _name_problem(what: str, name: str, shorten: str) -> str | None:
    size = len(name.encode("utf-8"))
    if size <= NAME_BYTES:
        return None
    return (
        f"{what} {name!r} is {size} bytes in UTF-8; PostgreSQL keeps only the first "
        f"{NAME_BYTES} bytes of a name and would cut it: shorten {shorten} by "
        f"{size - NAME_BYTES} bytes (a Chinese character is 3 bytes)"
    )


def _table_problem(settings: dict[str, Any], table: str) -> str | None:
    """The table's name, or the longest name the load derives from it, if PostgreSQL cuts it."""
    derived = [("history table", history_table(table))]
    if settings.get("unique_key"):
        derived.append(("primary key", primary_key_name(table)))
    if settings.get("refresh_scope"):
        derived.append(("refresh-scope index", scope_index_name(table)))
    what, longest = max(derived, key=lambda pair: len(pair[1].encode("utf-8")))
    own = _name_problem("the table name", table, "it")
    if own is not None:
        return own
    size = len(table.encode("utf-8"))
    return _name_problem(
        f"the table name {table!r} is {size} bytes, and its {what} name", longest, "the table name"
    )


def name_length_problems(
    settings: dict[str, Any], domain: str | None = None
) -> list[tuple[str, str]]:
    """Every name the load would give PostgreSQL that it would cut, as ``(key, message)``:
    the table, its columns, and the names derived from them (history table, primary key,
    scope index, the stage)."""
    found: list[tuple[str, str | None]] = []
    table = settings.get("table")
    if isinstance(table, str):
        found.append(("table", _table_problem(settings, table)))
    columns = settings.get("columns")
    if isinstance(columns, dict):
        found += [
            (f"columns.{column}", _name_problem("the column name", str(column), "it"))
            for column in columns
        ]
    if domain is not None:
        found.append(
            (
                "(domain)",
                _name_problem("the stage table name", stage_table(domain), "the domain name"),
            )
        )
    return [(key, message) for key, message in found if message]


# Pipeline names the project registers itself (pipelines/apply_plan, pipelines/status,
# pipelines/undo): no domain may take them.
RESERVED_NAMES = frozenset({"apply_plan", "status", "undo"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DefaultWhen(_Strict):
    """A default value used when the cleaned value is empty and every condition holds.

    ``when`` maps an output column to the values it must take (an empty ``when`` always holds).
    """

    when: dict[str, list[str]] = Field(default_factory=dict)
    value: str


# The keys every column takes, whatever its rule; any other key is an option of the rule.
COLUMN_KEYS = ("type", "source", "aliases", "rule", "required", "optional", "from", "defaults")


def _rule_of(options: Any) -> str | None:
    if isinstance(options, dict):
        tag = options.get(RULE_TAG)
        return tag if isinstance(tag, str) else None
    for name, rule in RULE_DECLARATIONS.items():
        if type(options) is rule.options:
            return name
    return None


# One options model per registered rule, chosen by the column's `rule:` (built from the
# registry at import, so a rule registered there is a rule the YAML may name).
if TYPE_CHECKING:
    RuleOptionsOf = RuleOptions
else:
    RuleOptionsOf = Annotated[
        Union[  # noqa: UP007
            tuple(Annotated[rule.options, Tag(name)] for name, rule in RULE_DECLARATIONS.items())
        ],
        Discriminator(_rule_of),
    ]


class ColumnSpec(_Strict):
    """How one output column is typed, found in the workbook and cleaned.

    In YAML a column's rule options sit beside its other keys (``rule: code``,
    ``remove: "-_ "``); they are gathered into ``options`` and validated by the rule's own
    model (see :mod:`work_data_hub.cleaning.registry`).
    """

    type: str = "text"
    source: str | list[str] | None = None
    aliases: list[str] = Field(default_factory=list)
    rule: str
    required: bool = False
    # The header may be missing from a delivery: the column is then NULL and the run warns.
    optional: bool = False
    from_column: str | None = Field(default=None, alias="from")
    defaults: list[DefaultWhen] = Field(default_factory=list)
    options: RuleOptionsOf

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "options" in data and not any(key not in (*COLUMN_KEYS, "options") for key in data):
            return data  # already gathered (a copy of a validated column)
        rule = data.get("rule")
        if rule is None:
            declared = str(data.get("type", "text")).replace(" ", "").lower()
            rule = DEFAULT_RULE_FOR_TYPE.get(type_kind(declared), "text")
        common = {key: value for key, value in data.items() if key in COLUMN_KEYS}
        options = {key: value for key, value in data.items() if key not in COLUMN_KEYS}
        return {**common, "rule": rule, "options": {RULE_TAG: rule, **options}}

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

    @field_validator("rule")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in RULE_DECLARATIONS:
            raise ValueError(
                f"unknown rule; the registered rules are {', '.join(sorted(RULE_DECLARATIONS))} (got {value!r})"
            )
        return value

    @model_validator(mode="after")
    def _rule_fits(self) -> ColumnSpec:
        rule = RULE_DECLARATIONS[self.rule]
        if rule.cells == 2 and not (isinstance(self.source, list) and len(self.source) == 2):
            raise ValueError(f"rule {self.rule} needs 'source: [<year header>, <month header>]'")
        if rule.cells == 1 and isinstance(self.source, list) and len(self.source) != 1:
            raise ValueError(f"rule {self.rule} reads one header; 'source' lists {self.source}")
        if rule.reads_column:
            if not self.from_column:
                raise ValueError(f"rule {self.rule} needs 'from: <column>'")
            given = [key for key in ("source", "aliases", "optional") if getattr(self, key)]
            if given:
                raise ValueError(
                    f"{given} do not apply to rule {self.rule}: it reads column "
                    f"{self.from_column!r}, not a header"
                )
        elif self.from_column:
            raise ValueError(f"'from' does not apply to rule {self.rule}: it reads its own header")
        if rule.types is not None and type_kind(self.type) not in rule.types:
            wanted = (
                "a numeric(precision,scale) type"
                if rule.types == {"numeric"}
                else "type " + " or ".join(sorted(rule.types))
            )
            raise ValueError(f"rule {self.rule} needs {wanted}, not {self.type}")
        if self.required and self.optional:
            raise ValueError("a column cannot be both required and optional")
        return self

    @property
    def precision_scale(self) -> tuple[int, int] | None:
        match = _TYPE_PATTERN.match(self.type)
        if match and match.group(2):
            return int(match.group(2)), int(match.group(3))
        return None

    def source_headers(self, output_name: str) -> list[str]:
        """The workbook headers this column reads, in order (its own name if none is given)."""
        if RULE_DECLARATIONS[self.rule].reads_column:
            return []
        if self.source is None:
            return [output_name]
        return [self.source] if isinstance(self.source, str) else list(self.source)


class DomainConfig(_Strict):
    """One domain: which files, which sheet, which table and how to clean and load it.

    ``unique_key`` and ``refresh_scope`` are two different things (docs/contract.md, Loading): the
    key is what no two rows may share (the table's ``PRIMARY KEY``, needed by ``upsert``); the
    scope is what a ``delete_insert`` load replaces (every target row whose scope columns equal
    a combination present in the new rows).
    """

    name: str
    description: str = ""
    pattern: str
    # a name, or a 0-based position among the sheets Excel shows (hidden ones are passed over)
    sheet: str | Annotated[int, Field(ge=0)] = 0
    header_row: Annotated[int, Field(ge=1)] = 1
    table: str
    unique_key: list[str] | None = None
    refresh_scope: list[str] = Field(default_factory=list)
    mode: LoadMode = "delete_insert"
    header_aliases: dict[str, str] = Field(default_factory=dict)
    drop_columns: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnSpec]
    transform: str | None = None
    # Business checks (config.business_checks), validated with the other keys' cross checks.
    checks: dict[str, Any] = Field(default_factory=dict)
    # When deliveries are expected (status, Dagster partitions); how far ahead a file may be.
    calendar: DeliveryCalendar | None = None
    future_tolerance: Annotated[int, Field(ge=0)] = DEFAULT_FUTURE_TOLERANCE

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

    @field_validator("mode")
    @classmethod
    def _registered_mode(cls, value: str) -> str:
        if value not in LOAD_MODES:
            names = [repr(name) for name in LOAD_MODES]
            raise ValueError(
                f"Input should be {', '.join(names[:-1])} or {names[-1]} "
                f"(the registered load modes; got {value!r})"
            )
        return value

    @field_validator("transform")
    @classmethod
    def _dotted_path(cls, value: str | None) -> str | None:
        if value is not None and not _DOTTED_PATH.fullmatch(value):
            raise ValueError(f"{value!r} is not a dotted path to a Python function")
        return value

    @model_validator(mode="after")
    def _keys_and_references(self) -> DomainConfig:
        # The same checks parse_domains makes on the raw settings, so a DomainConfig built
        # in code is held to the very rules (and messages) a data_sources.yml entry is.
        problems = cross_field_problems(
            self.model_dump(by_alias=True, exclude={"name"}), domain=self.name
        )
        if problems:
            raise ValueError("; ".join(f"key '{key}': {message}" for key, message in problems))
        return self

    @property
    def compiled_pattern(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE)

    @cached_property
    def business_checks(self) -> tuple[BusinessCheck, ...]:
        """The declared checks, validated (see :mod:`work_data_hub.config.business_checks`)."""
        return parse_checks(self.checks, self.columns, self.refresh_scope)

    @property
    def non_null_columns(self) -> list[str]:
        """Key and scope columns: a NULL there would escape the delete or the key, so rejected."""
        return list(dict.fromkeys([*(self.unique_key or []), *self.refresh_scope]))


# Keys of data_sources.yml that were replaced, with what to write instead.
_REPLACED_KEYS = {
    "pk": (
        "replaced by 'unique_key' (columns no two rows may share: the table's PRIMARY KEY) "
        "and 'refresh_scope' (the columns whose value combinations a delete_insert load "
        "replaces); write one or both instead"
    ),
    "unique_pk": (
        "replaced: declare 'unique_key: [columns]' for a unique key, or leave it out "
        "(and use 'refresh_scope') when rows may repeat"
    ),
}


def _mode_of(settings: dict[str, Any]) -> object:
    return settings.get("mode", DomainConfig.model_fields["mode"].default)


def _column_list_problems(
    key: str, value: object, declared: set[str] | None
) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []  # a wrong type is reported by the model's own field check
    if not value:
        return [(key, "needs at least one column")]
    problems = []
    repeated = sorted({str(column) for column in value if value.count(column) > 1})
    if repeated:
        problems.append((key, f"{repeated} listed more than once"))
    unknown = [column for column in value if column not in (declared or set())]
    if unknown and declared is not None:
        problems.append((key, f"{unknown} not among the declared columns {sorted(declared)}"))
    return problems


def _key_problems(settings: dict[str, Any], declared: set[str] | None) -> list[tuple[str, str]]:
    """unique_key, refresh_scope and the mode that uses them."""
    problems: list[tuple[str, str]] = []
    unique_key = settings.get("unique_key")
    refresh_scope = settings.get("refresh_scope")
    mode = LOAD_MODES.get(str(_mode_of(settings)))
    if unique_key is not None:
        problems += _column_list_problems("unique_key", unique_key, declared)
    if mode is None:
        return problems  # an unknown mode is reported by the model's own field check
    if mode.uses_refresh_scope and not refresh_scope:
        problems.append(
            (
                "refresh_scope",
                f"mode {mode.name} needs the columns whose value combinations a load "
                "replaces (e.g. refresh_scope: [report_date] replaces whole months)",
            )
        )
    elif mode.uses_refresh_scope:
        problems += _column_list_problems("refresh_scope", refresh_scope, declared)
    elif refresh_scope:
        users = [name for name, spec in LOAD_MODES.items() if spec.uses_refresh_scope]
        problems.append(
            (
                "refresh_scope",
                f"only mode {', '.join(users)} uses a refresh scope (mode is {mode.name})",
            )
        )
    if mode.needs_unique_key and not unique_key:
        problems.append(
            ("mode", f"{mode.name} needs a unique_key (the columns its ON CONFLICT matches)")
        )
    return problems


def _column_problems(
    columns: dict[str, Any], mappings: dict[str, dict[str, str]] | None
) -> list[tuple[str, str]]:
    """References between columns (from, when), mapping names and lineage names."""
    problems: list[tuple[str, str]] = []
    declared = set(columns)
    clash = sorted(declared & set(LINEAGE_COLUMNS))
    if clash:
        problems.append(("columns", f"{clash} are lineage columns the load adds itself"))
    for column, spec in columns.items():
        if not isinstance(spec, dict):
            continue
        references = [spec["from"]] if isinstance(spec.get("from"), str) else []
        for default in spec.get("defaults") or []:
            if isinstance(default, dict) and isinstance(default.get("when"), dict):
                references += [str(ref) for ref in default["when"]]
        missing = [ref for ref in references if ref not in declared]
        if missing:
            problems.append((f"columns.{column}", f"refers to undeclared columns {missing}"))
        mapping = spec.get("mapping")
        if (
            spec.get("rule") == "mapping"
            and isinstance(mapping, str)
            and mappings is not None
            and mapping not in mappings
        ):
            known = (
                f"mappings.yml has {sorted(mappings)}"
                if mappings
                else "no mappings are defined (is conf/base/mappings.yml missing or empty?)"
            )
            problems.append((f"columns.{column}.mapping", f"unknown mapping {mapping!r}; {known}"))
    return problems


def cross_field_problems(
    settings: dict[str, Any],
    mappings: dict[str, dict[str, str]] | None = None,
    *,
    domain: str | None = None,
) -> list[tuple[str, str]]:
    """The checks across keys of one domain, as ``(key, message)`` pairs.

    The one place these rules live: parse_domains runs them on the raw settings (so they are
    reported even when other keys are invalid, all in one pass) and DomainConfig's validator
    on its own values. ``mappings`` (the tables of ``mappings.yml``) lets ``mapping:`` names be
    checked too.
    """
    names = name_length_problems(settings, domain)
    columns = settings.get("columns")
    scope = settings.get("refresh_scope")
    checks = check_problems(
        settings.get("checks"),
        columns if isinstance(columns, dict) else None,
        scope if isinstance(scope, list) else (),
    )
    if not isinstance(columns, dict):
        return _key_problems(settings, None) + checks + names
    return (
        _key_problems(settings, set(columns)) + _column_problems(columns, mappings) + checks + names
    )


class DataSourcesError(WorkDataHubError, ValueError):
    """``data_sources.yml`` is invalid; the message lists every problem with domain and key.

    Args:
        message: The problems, one a line, as a person reads them.
        problems: The same problems as a list (each names its domain and key).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems is not None else [message]

    @property
    def fields(self) -> dict[str, Any]:
        return {"problems": self.problems}


def _known_keys(location: tuple[str | int, ...], rule: str | None = None) -> list[str]:
    """The keys allowed where ``location`` points: a domain, a column or a column default."""
    if len(location) >= 4 and location[0] == "columns" and location[2] == "defaults":
        keys = [field.alias or name for name, field in DefaultWhen.model_fields.items()]
    elif len(location) >= 3 and location[0] == "columns":
        keys = list(COLUMN_KEYS)
        if rule in RULE_DECLARATIONS:
            keys += list(RULE_DECLARATIONS[rule].options.model_fields)
    else:
        keys = [field.alias or name for name, field in DomainConfig.model_fields.items()]
    return sorted(key for key in keys if key != "name")


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (allowed here: {', '.join(known)})"


def _describe(problem: Any) -> str:
    """One pydantic problem as a sentence a person editing the YAML can act on."""
    location = tuple(problem["loc"])
    kind = problem["type"]
    if kind == "extra_forbidden":
        key = str(location[-1])
        if len(location) == 1 and key in _REPLACED_KEYS:
            return _REPLACED_KEYS[key]
        return _unknown_key(key, _known_keys(location))
    if kind == "missing":
        return "is required but missing"
    message = str(problem["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return message
    return f"{message} (got {problem.get('input')!r})"


def _describe_option(problem: Any) -> tuple[tuple[Any, ...], str] | None:
    """A problem inside a column's rule options, placed at the column's own YAML key.

    Pydantic locates it at ``columns.<name>.options.<rule>.<option>``; the YAML spells the
    option beside the column's other keys, so the message says ``columns.<name>.<option>``.
    """
    location = tuple(problem["loc"])
    at = location.index("options")
    column, inner = location[:at], location[at + 1 :]
    if problem["type"] in ("union_tag_invalid", "union_tag_not_found") or not inner:
        return None  # an unknown rule: reported on the column's `rule` key
    rule, option = str(inner[0]), inner[1:]
    kind = problem["type"]
    if kind == "extra_forbidden":
        key = str(option[-1])
        takes = sorted(RULE_DECLARATIONS[rule].options.model_fields)
        known = _known_keys((*column, "x"), rule)
        return (*column, key), (
            f"{_unknown_key(key, known).split(' (allowed', 1)[0]}: not an option of rule {rule} "
            f"(rule {rule} takes: {', '.join(takes) or 'no options'}; every column takes: "
            f"{', '.join(COLUMN_KEYS)})"
        )
    if kind == "missing" and option:
        return column, f"rule {rule} needs '{option[0]}:'"
    return column + option, _describe(problem)


def _format_errors(domain: str, error: ValidationError) -> list[str]:
    lines = []
    for problem in error.errors():
        if not problem["loc"] and problem["type"] == "value_error":
            continue  # cross-field checks: reported from the raw settings, see parse_domains
        location: tuple[Any, ...] = tuple(problem["loc"])
        described: str | None = None
        if "options" in location and location[:1] == ("columns",):
            placed = _describe_option(problem)
            if placed is None:
                continue
            location, described = placed
        key = ".".join(str(part) for part in location) or "(domain)"
        lines.append(f"domain '{domain}', key '{key}': {described or _describe(problem)}")
    return lines


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

    Args:
        raw: ``data_sources.yml`` as read.
        mappings: The tables of ``mappings.yml``, so that ``mapping:`` names are checked too.

    Raises:
        DataSourcesError: Every problem found, each naming its domain and key.
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
        raise DataSourcesError("Invalid data_sources.yml:\n  " + "\n  ".join(problems), problems)
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
        found = [
            f"domain '{name}', key '{key}': {message}"
            for key, message in cross_field_problems(body, mappings, domain=name)
        ]
        try:
            domain = DomainConfig.model_validate(
                {"name": name, **body}, context={MAPPINGS_CONTEXT: mappings or {}}
            )
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
            f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems),
            problems,
        )
    return domains
