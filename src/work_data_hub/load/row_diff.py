"""The row-level difference of a plan against its table: which rows it adds, removes, changes.

Pure: the statements and how to read their answers. The warehouse client stages the plan's
rows in a temporary table (COPY of the same text the load sends, so values are compared
exactly as they would be stored), makes the transaction read-only, and copies out every row
that differs, one line of JSON each, in kind and key order, in one pass (PostgreSQL builds
the lines); then it rolls back: nothing but the temporary table is ever written. The lines go
through :class:`DiffRows`, which counts them, keeps the first
:data:`~work_data_hub.load.summary.ROWS_LISTED` of each kind for the plan's summary and writes
every one to a file when it is given one (the run report's companion, ``rows_file``).

A delivered row is paired with a table row by the domain's ``unique_key``. Without one, rows
equal in every column are the same row (however they moved), and what is left is paired by
refresh scope and source row (``_source_row``): a row whose cells changed in place is
"changed", the others are added or removed.

What the table holds that a plan replaces: in ``delete_insert``, the rows of the delivered
refresh scopes; in ``upsert``, the rows with a delivered key (nothing is removed); in
``append``, nothing (every row is added).

Each line is one :class:`~work_data_hub.load.summary.RowChange` as the run report holds it,
with its kind: ``{"kind": "changed", "key": {...}, "source": "<file> row 7", "cells":
[{"column", "before", "after", "address"}]}``; values as text, as the table would store them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO

from work_data_hub.config import DomainConfig
from work_data_hub.config.rules import type_kind
from work_data_hub.load.sql import literal, quote
from work_data_hub.load.summary import (
    ROW_KINDS,
    ROWS_LISTED,
    PlanDiff,
    PlannedFile,
    RowChange,
)

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
STAGE = "wdh_review_rows"
_LINEAGE = {SOURCE_FILE: "text", SOURCE_ROW: "bigint"}
_WHOLE = "_wdh_whole"
_COPY = "_wdh_copy"
_KIND = "_wdh_kind"
_LINE = "_wdh_line"
_PRESENT = "_wdh_present"
# A line's kind is its tenth byte: {"kind":"removed" / "changed" / "added".
_KIND_AT = len('{"kind":"')
_KINDS_BY_BYTE = {ord(kind[0]): kind for kind in ROW_KINDS}


class DiffRows:
    """Where the COPY of the differing rows goes: psycopg2 calls :meth:`write` once per line.

    Counts the rows of each kind, keeps the first :data:`ROWS_LISTED` of each (the lines come
    in kind and key order) and passes every row on to ``target``, if any, as it arrives: the
    rows are never all in memory.
    """

    def __init__(self, target: IO[bytes] | None = None) -> None:
        self._target = target
        self.counts = dict.fromkeys(ROW_KINDS, 0)
        self.listed: dict[str, list[bytes]] = {kind: [] for kind in ROW_KINDS}

    def write(self, line: bytes) -> None:
        kind = _KINDS_BY_BYTE[line[_KIND_AT]]
        if self.counts[kind] < ROWS_LISTED:
            self.listed[kind].append(line)
        self.counts[kind] += 1
        if self._target is not None:
            self._target.write(line)


@dataclass(frozen=True)
class RowDiffQuery:
    """The statements of a row-level diff for one domain (see the module doc)."""

    table: str
    create_stage: str
    copy_stage: str
    analyze_stage: str
    copy_columns: tuple[str, ...]
    matched_by: tuple[str, ...]
    data_columns: tuple[str, ...]
    # Every declared column's type, and the lineage columns', by name.
    types: Mapping[str, str] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    upsert: bool = False

    @property
    def keyed(self) -> bool:
        return bool(self.key)

    @property
    def replaces_scope(self) -> bool:
        return bool(self.scope)

    @property
    def columns_query(self) -> str:
        """The table's columns and their types (``name``, ``type``), to read each one directly."""
        return (
            "SELECT attname::text, pg_catalog.format_type(atttypid, atttypmod) "
            "FROM pg_catalog.pg_attribute "
            f"WHERE attrelid = pg_catalog.to_regclass({literal(quote(self.table))}) "
            "AND attnum > 0 AND NOT attisdropped"
        )

    def rows_copy(self, files: Sequence[PlannedFile], table_columns: Mapping[str, str]) -> str:
        """The ``COPY ... TO STDOUT`` of every differing row as a line of JSON (module doc);
        ``table_columns`` (name -> type) are the table's (:attr:`columns_query`).

        CSV with control characters as quote and delimiter, so that each line is the JSON
        itself: JSON never holds them unescaped, and the text format would double every
        backslash of its escapes.
        """
        return (
            f"COPY ({self._query(files, table_columns)}) TO STDOUT "
            "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
        )

    def totals_query(self, table_columns: Mapping[str, str]) -> str:
        """The rows the plan replaces or may overwrite, and the rows it delivers (one row)."""
        stage = f"pg_temp.{quote(STAGE)}"
        return (
            f"SELECT (SELECT pg_catalog.count(*) FROM ({self._old_rows(stage, table_columns)}) "
            f"AS o), (SELECT pg_catalog.count(*) FROM {stage})"
        )

    def plan_diff(self, rows: DiffRows, totals: tuple[int, int], rows_to_insert: int) -> PlanDiff:
        """The whole :class:`PlanDiff` from the copied rows and the :meth:`totals_query`'s
        answer: the key counts of ``diff=true`` follow from the rows it pairs (a key not in
        the table is new, and so on)."""
        listed = {
            kind: tuple(RowChange.from_dict(json.loads(line)) for line in rows.listed[kind])
            for kind in ROW_KINDS
        }
        old_rows, new_rows = (int(total) for total in totals)
        counts = PlanDiff(old_rows if self.replaces_scope else 0, rows_to_insert)
        if self.keyed:
            counts = replace(
                counts,
                keys_new=rows.counts["added"],
                keys_changed=rows.counts["changed"],
                keys_unchanged=new_rows - rows.counts["added"] - rows.counts["changed"],
                keys_disappearing=rows.counts["removed"],
            )
        return replace(
            counts,
            matched_by=self.matched_by,
            rows_removed=rows.counts["removed"],
            rows_changed=rows.counts["changed"],
            rows_added=rows.counts["added"],
            removed=listed["removed"],
            changed=listed["changed"],
            added=listed["added"],
        )

    def _query(self, files: Sequence[PlannedFile], table_columns: Mapping[str, str]) -> str:
        data, stage = list(self.data_columns), f"pg_temp.{quote(STAGE)}"
        old = self._old_rows(stage, table_columns)
        removed = self._line("removed", "o", [self._cell(c, "o", None, files) for c in data])
        added = self._line("added", "n", [self._cell(c, None, "n", files) for c in data])
        if self.key:
            # One hash full join pairs the table's rows with the delivered ones by key.
            same = " AND ".join(f"o.{quote(c)} = n.{quote(c)}" for c in self.key)
            compared = [c for c in data if c not in self.key]
            differs = (
                f"ROW({', '.join(f'n.{quote(c)}' for c in compared)}) IS DISTINCT FROM "
                f"ROW({', '.join(f'o.{quote(c)}' for c in compared)})"
                if compared
                else "false"
            )
            changed = self._line("changed", "n", self._changed_cells(compared, files))
            gone, new = f"n.{_PRESENT} IS NULL", f"o.{_PRESENT} IS NULL"
            keys = ", ".join(f"COALESCE(n.{quote(c)}, o.{quote(c)})" for c in self.key)
            return (
                f"SELECT CASE WHEN {gone} THEN {removed} WHEN {new} THEN {added} "
                f"ELSE {changed} END "
                f"FROM (SELECT *, true AS {_PRESENT} FROM ({old}) AS t) AS o "
                f"FULL JOIN (SELECT *, true AS {_PRESENT} FROM {stage}) AS n ON {same} "
                f"WHERE {gone} OR {new} OR {differs} "
                f"ORDER BY CASE WHEN {gone} THEN 0 WHEN {new} THEN 2 ELSE 1 END, {keys}"
            )
        # Without a key: rows equal in every column pair first (each copy of a row once),
        # then what is left pairs by refresh scope and source row.
        whole = f"ROW({', '.join(quote(c) for c in data)})::text"
        ctes = (
            f"old_all AS MATERIALIZED (SELECT t.*, {whole} AS {_WHOLE}, "
            f"pg_catalog.row_number() OVER (PARTITION BY {whole} "
            f"ORDER BY t.{quote(SOURCE_ROW)}) AS {_COPY} FROM ({old}) AS t), "
            f"new_all AS MATERIALIZED (SELECT s.*, {whole} AS {_WHOLE}, "
            f"pg_catalog.row_number() OVER (PARTITION BY {whole} "
            f"ORDER BY s.{quote(SOURCE_ROW)}) AS {_COPY} FROM {stage} AS s), "
            f"old AS MATERIALIZED (SELECT * FROM old_all AS o WHERE NOT EXISTS (SELECT 1 "
            f"FROM new_all AS n WHERE n.{_WHOLE} = o.{_WHOLE} AND n.{_COPY} = o.{_COPY})), "
            f"new AS MATERIALIZED (SELECT * FROM new_all AS n WHERE NOT EXISTS (SELECT 1 "
            f"FROM old_all AS o WHERE n.{_WHOLE} = o.{_WHOLE} AND n.{_COPY} = o.{_COPY}))"
        )
        same = " AND ".join(
            f"o.{quote(c)} IS NOT DISTINCT FROM n.{quote(c)}" for c in self.matched_by
        )
        changed = self._line("changed", "n", self._changed_cells(data, files))

        def sort_keys(alias: str) -> str:
            return ", ".join(
                f"{alias}.{quote(c)} AS {quote(f'_wdh_s{i}')}"
                for i, c in enumerate(self.matched_by)
            )

        order = ", ".join(quote(f"_wdh_s{i}") for i in range(len(self.matched_by)))
        return (
            f"WITH {ctes} SELECT {_LINE} FROM ("
            f"SELECT 0 AS {_KIND}, {sort_keys('o')}, {removed} AS {_LINE} FROM old AS o "
            f"WHERE NOT EXISTS (SELECT 1 FROM new AS n WHERE {same}) "
            f"UNION ALL SELECT 1, {sort_keys('n')}, {changed} FROM new AS n JOIN old AS o ON {same} "
            f"UNION ALL SELECT 2, {sort_keys('n')}, {added} FROM new AS n "
            f"WHERE NOT EXISTS (SELECT 1 FROM old AS o WHERE {same})"
            f") AS differing ORDER BY {_KIND}, {order}"
        )

    def _changed_cells(self, columns: list[str], files: Sequence[PlannedFile]) -> list[str]:
        """The cells of a changed row: only those whose value differs."""
        return [
            f"CASE WHEN o.{quote(c)} IS DISTINCT FROM n.{quote(c)} THEN "
            f"{self._cell(c, 'o', 'n', files)} END"
            for c in columns
        ]

    def _line(self, kind: str, alias: str, cells: list[str]) -> str:
        """One row's line of JSON, from the table's row (``o``) or the delivered one (``n``)."""
        key = ", ',', ".join(
            f"{_json_text(column)}, ':', {self._value(alias, column)}" for column in self.matched_by
        )
        source = (
            f"CASE WHEN {alias}.{quote(SOURCE_FILE)} IS NULL THEN 'null' ELSE pg_catalog.to_json("
            f"pg_catalog.concat({alias}.{quote(SOURCE_FILE)}, ' row ', "
            f"{alias}.{quote(SOURCE_ROW)}))::text END"
        )
        opening = literal('{"kind":' + json.dumps(kind) + ',"key":{')
        return (
            f"pg_catalog.concat({opening}, {key}, '}},\"source\":', {source}, "
            f"',\"cells\":[', pg_catalog.concat_ws(',', {', '.join(cells)}), ']}}')"
        )

    def _cell(
        self, column: str, before: str | None, after: str | None, files: Sequence[PlannedFile]
    ) -> str:
        """A cell as JSON: its column, its value before (``before``'s) and after (``after``'s),
        and where the delivered value is."""
        opening = literal('{"column":' + json.dumps(column, ensure_ascii=False))
        old = self._value(before, column) if before else "'null'"
        new = self._value(after, column) if after else "'null'"
        address = _address(column, after, files) if after else "'null'"
        return (
            f"pg_catalog.concat({opening}, ',\"before\":', {old}, ',\"after\":', {new}, "
            f"',\"address\":', {address}, '}}')"
        )

    def _value(self, alias: str, column: str) -> str:
        """A column's value as JSON text: a string, or null. Only text needs escaping; a
        date's or a number's text is plain."""
        value = f"{alias}.{quote(column)}"
        if type_kind(self.types[column]) == "text":
            return f"COALESCE(pg_catalog.to_json({value})::text, 'null')"
        return f"COALESCE('\"' || {value}::text || '\"', 'null')"

    def _old_rows(self, stage: str, table_columns: Mapping[str, str]) -> str:
        """The table rows the plan replaces or may overwrite (see the module doc).

        A declared column the table lacks yet (a table change the plan makes) reads as NULL;
        one the table holds with another type (the plan will refuse it) is read through
        ``to_jsonb`` and cast, so the comparison never fails on a cast the server refuses.
        """
        columns, through_json = [], False
        for name, kind in [*((c, self.types[c]) for c in self.data_columns), *_LINEAGE.items()]:
            found = table_columns.get(name)
            if found == kind:
                columns.append(f"t.{quote(name)}")
            elif found is not None and name in _LINEAGE:
                columns.append(f"t.{quote(name)}::{kind} AS {quote(name)}")
            elif found is None:
                columns.append(f"NULL::{kind} AS {quote(name)}")
            else:
                through_json = True
                columns.append(f"(row_json.value ->> {literal(name)})::{kind} AS {quote(name)}")
        rows = f"SELECT {', '.join(columns)} FROM {quote(self.table)} AS t"
        if through_json:
            # OFFSET 0 keeps the subquery as it is: computed once per row, not once per column.
            rows += (
                " CROSS JOIN LATERAL (SELECT pg_catalog.to_jsonb(t) AS value OFFSET 0) AS row_json"
            )
        if self.scope:
            names = ", ".join(quote(c) for c in self.scope)
            joined = " AND ".join(f"scope.{quote(c)} = t.{quote(c)}" for c in self.scope)
            return f"{rows} JOIN (SELECT DISTINCT {names} FROM {stage}) AS scope ON {joined}"
        if self.key and self.upsert:
            names = ", ".join(quote(c) for c in self.key)
            joined = " AND ".join(f"k.{quote(c)} = t.{quote(c)}" for c in self.key)
            return f"{rows} JOIN (SELECT DISTINCT {names} FROM {stage}) AS k ON {joined}"
        return f"{rows} WHERE false"


def _json_text(text: str) -> str:
    """``text`` as a JSON string, as an SQL literal."""
    return literal(json.dumps(text, ensure_ascii=False))


def _address(column: str, alias: str, files: Sequence[PlannedFile]) -> str:
    """Where a delivered row's ``column`` is (``受托业绩!G17``) as JSON text: the file's sheet,
    the Excel column(s) of its header and the row, as ``PlannedFile.address`` says it."""
    row = f"COALESCE({alias}.{quote(SOURCE_ROW)}, 0)"
    branches = []
    for file in files:
        letters = (file.columns or {}).get(column)
        if not letters or file.sheet is None:
            continue
        # '"受托业绩!H', row, ', 受托业绩!I', row, '"': each part escaped as JSON once.
        parts = []
        for position, letter in enumerate(letters):
            escaped = json.dumps(f"{file.sheet}!{letter}", ensure_ascii=False)[1:-1]
            parts += [literal(('"' if position == 0 else ", ") + escaped), row]
        branches.append(
            f"WHEN {literal(file.path)} THEN pg_catalog.concat({', '.join(parts)}, '\"')"
        )
    if not branches:
        return "'null'"
    return f"CASE {alias}.{quote(SOURCE_FILE)} {' '.join(branches)} ELSE 'null' END"


def build_row_diff_query(domain: DomainConfig, *, mode_replaces_scope: bool) -> RowDiffQuery:
    """The statements for ``domain`` (whose mode replaces its refresh scopes or not)."""
    data = list(domain.columns)
    key = list(domain.unique_key or [])
    scope = list(domain.refresh_scope) if mode_replaces_scope else []
    stage = quote(STAGE)
    typed = ", ".join(f"{quote(name)} {spec.type}" for name, spec in domain.columns.items())
    create = (
        f"CREATE TEMPORARY TABLE {stage} ({typed}, {quote(SOURCE_FILE)} text, "
        f"{quote(SOURCE_ROW)} bigint) ON COMMIT DROP"
    )
    copy_columns = (*data, SOURCE_FILE, SOURCE_ROW)
    copy = f"COPY pg_temp.{stage} ({', '.join(quote(c) for c in copy_columns)}) FROM STDIN"
    return RowDiffQuery(
        table=domain.table,
        create_stage=create,
        copy_stage=copy,
        analyze_stage=f"ANALYZE pg_temp.{stage}",
        copy_columns=copy_columns,
        matched_by=tuple(key) if key else (*scope, SOURCE_ROW),
        data_columns=tuple(data),
        types={**{name: spec.type for name, spec in domain.columns.items()}, **_LINEAGE},
        key=tuple(key),
        scope=tuple(scope),
        upsert=domain.mode == "upsert",
    )


__all__ = ["STAGE", "DiffRows", "RowDiffQuery", "build_row_diff_query"]
