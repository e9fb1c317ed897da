"""The row-level difference of a plan against its table: which rows it adds, removes, changes.

Pure: the statements and how to read their answers. The warehouse client stages the plan's
rows in a temporary table (COPY of the same text the load sends, so values are compared
exactly as they would be stored), makes the transaction read-only, counts each kind and lists
the first :data:`~work_data_hub.load.summary.ROWS_LISTED` of each in key order in one query,
then rolls back: nothing but the temporary table is ever written.

A delivered row is paired with a table row by the domain's ``unique_key``. Without one, rows
equal in every column are the same row (however they moved), and what is left is paired by
refresh scope and source row (``_source_row``): a row whose cells changed in place is
"changed", the others are added or removed.

What the table holds that a plan replaces: in ``delete_insert``, the rows of the delivered
refresh scopes; in ``upsert``, the rows with a delivered key (nothing is removed); in
``append``, nothing (every row is added).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from work_data_hub.config import DomainConfig
from work_data_hub.load.sql import literal, quote
from work_data_hub.load.summary import (
    ROWS_LISTED,
    CellChange,
    PlanDiff,
    PlannedFile,
    RowChange,
)

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
STAGE = "wdh_review_rows"
_WHOLE = "_wdh_whole"
_COPY = "_wdh_copy"
_ID = "_wdh_id"
# The query's rows that count the table's replaced rows and the delivered rows.
OLD_ROWS, NEW_ROWS = "old rows", "new rows"


@dataclass(frozen=True)
class RowDiffQuery:
    """The statements of a row-level diff for one domain (see the module doc)."""

    table: str
    create_stage: str
    copy_stage: str
    analyze_stage: str
    copy_columns: tuple[str, ...]
    query: str
    matched_by: tuple[str, ...]
    data_columns: tuple[str, ...]
    keyed: bool = False
    replaces_scope: bool = False

    def answer(
        self, listed: Iterable[tuple[str, Any, Any, Any, Any]], files: Sequence[PlannedFile]
    ) -> dict[str, Any]:
        """The query's rows as :class:`PlanDiff` fields (``rows_added`` .. ``changed``), and
        ``old_rows``/``new_rows``: the rows the plan replaces or matches, and delivers.

        A row either counts (kind, count, ...) or lists one row (kind, None, before, after),
        each side a JSON object of the row's columns as text (None where it is absent).
        """
        by_path = {file.path: file for file in files}
        totals = {"removed": 0, "changed": 0, "added": 0, OLD_ROWS: 0, NEW_ROWS: 0}
        kinds: dict[str, list[RowChange]] = {"removed": [], "changed": [], "added": []}
        for kind, total, before, after, _ in listed:
            if total is not None:
                totals[kind] = int(total)
            else:
                kinds[kind].append(self._row(kind, _as_dict(before), _as_dict(after), by_path))
        return {
            "matched_by": self.matched_by,
            "rows_removed": totals["removed"],
            "rows_changed": totals["changed"],
            "rows_added": totals["added"],
            "removed": tuple(kinds["removed"]),
            "changed": tuple(kinds["changed"]),
            "added": tuple(kinds["added"]),
            "old_rows": totals[OLD_ROWS],
            "new_rows": totals[NEW_ROWS],
        }

    def plan_diff(
        self,
        listed: Iterable[tuple[str, Any, Any, Any, Any]],
        files: Sequence[PlannedFile],
        rows_to_insert: int,
    ) -> PlanDiff:
        """The whole :class:`PlanDiff` from the query alone: the key counts of ``diff=true``
        follow from the rows it pairs (a key not in the table is new, and so on)."""
        fields = self.answer(listed, files)
        old_rows, new_rows = fields.pop("old_rows"), fields.pop("new_rows")
        counts = PlanDiff(old_rows if self.replaces_scope else 0, rows_to_insert)
        if self.keyed:
            unchanged = new_rows - fields["rows_added"] - fields["rows_changed"]
            counts = replace(
                counts,
                keys_new=fields["rows_added"],
                keys_changed=fields["rows_changed"],
                keys_unchanged=unchanged,
                keys_disappearing=fields["rows_removed"],
            )
        return replace(counts, **fields)

    def _row(
        self,
        kind: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        files: Mapping[str, PlannedFile],
    ) -> RowChange:
        shown = after if after is not None else before
        assert shown is not None
        key = {column: shown.get(column) for column in self.matched_by}
        file = files.get(str((after or {}).get(SOURCE_FILE)))
        row = int((after or {}).get(SOURCE_ROW) or 0)

        def address(column: str) -> str | None:
            return file.address(column, row) if file is not None and after is not None else None

        source = _source(after if after is not None else before)
        if kind == "changed":
            assert before is not None and after is not None
            cells = tuple(
                CellChange(column, before.get(column), after.get(column), address(column))
                for column in self.data_columns
                if before.get(column) != after.get(column)
            )
        else:
            cells = tuple(
                CellChange(
                    column,
                    None if before is None else before.get(column),
                    None if after is None else after.get(column),
                    address(column),
                )
                for column in self.data_columns
            )
        return RowChange(key=key, source=source, cells=cells)


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return value if isinstance(value, dict) else dict(json.loads(value))


def _source(row: Mapping[str, Any] | None) -> str | None:
    if row is None or row.get(SOURCE_FILE) is None:
        return None
    return f"{row[SOURCE_FILE]} row {row.get(SOURCE_ROW)}"


def build_row_diff_query(domain: DomainConfig, *, mode_replaces_scope: bool) -> RowDiffQuery:
    """The statements for ``domain`` (whose mode replaces its refresh scopes or not).

    One pass: every differing row is found once, counted per kind, and only the first
    :data:`ROWS_LISTED` of each kind (in key order) are joined back to build their cells.
    """
    data = list(domain.columns)
    key = list(domain.unique_key or [])
    scope = list(domain.refresh_scope) if mode_replaces_scope else []
    table, stage = quote(domain.table), f"pg_temp.{quote(STAGE)}"
    typed = ", ".join(f"{quote(name)} {spec.type}" for name, spec in domain.columns.items())
    create = (
        f"CREATE TEMPORARY TABLE {quote(STAGE)} ({typed}, {quote(SOURCE_FILE)} text, "
        f"{quote(SOURCE_ROW)} bigint) ON COMMIT DROP"
    )
    copy_columns = (*data, SOURCE_FILE, SOURCE_ROW)
    copy = f"COPY {stage} ({', '.join(quote(c) for c in copy_columns)}) FROM STDIN"
    old = _old_rows(table, stage, scope, key, domain.mode)
    if key:
        ctes = (
            f"old AS MATERIALIZED ({old}), "
            f"new AS MATERIALIZED (SELECT s.ctid AS {_ID}, s.* FROM {stage} AS s)"
        )
        same = " AND ".join(f"o.{quote(c)} = n.{quote(c)}" for c in key)
        compared = [c for c in data if c not in key]
        differs = (
            f"ROW({', '.join(f'n.{quote(c)}' for c in compared)}) IS DISTINCT FROM "
            f"ROW({', '.join(f'o.{quote(c)}' for c in compared)})"
            if compared
            else "false"
        )
        changed_from = f"new AS n JOIN old AS o ON {same} WHERE {differs}"
        matched_by = tuple(key)
    else:
        whole = f"ROW({', '.join(quote(c) for c in data)})::text"
        ctes = (
            f"old_all AS MATERIALIZED (SELECT t.*, {whole} AS {_WHOLE}, "
            f"pg_catalog.row_number() OVER (PARTITION BY {whole} ORDER BY t.{quote(SOURCE_ROW)}) "
            f"AS {_COPY} FROM ({old}) AS t), "
            f"new_all AS MATERIALIZED (SELECT s.ctid AS {_ID}, s.*, {whole} AS {_WHOLE}, "
            f"pg_catalog.row_number() OVER (PARTITION BY {whole} ORDER BY s.{quote(SOURCE_ROW)}) "
            f"AS {_COPY} FROM {stage} AS s), "
            f"old AS MATERIALIZED (SELECT * FROM old_all AS o WHERE NOT EXISTS (SELECT 1 FROM "
            f"new_all AS n WHERE n.{_WHOLE} = o.{_WHOLE} AND n.{_COPY} = o.{_COPY})), "
            f"new AS MATERIALIZED (SELECT * FROM new_all AS n WHERE NOT EXISTS (SELECT 1 FROM "
            f"old_all AS o WHERE n.{_WHOLE} = o.{_WHOLE} AND n.{_COPY} = o.{_COPY}))"
        )
        place = [*scope, SOURCE_ROW]
        same = " AND ".join(f"o.{quote(c)} IS NOT DISTINCT FROM n.{quote(c)}" for c in place)
        changed_from = f"new AS n JOIN old AS o ON {same}"
        matched_by = tuple(place)
    order = list(matched_by)

    def sort_keys(alias: str) -> str:
        return ", ".join(
            f"{alias}.{quote(c)} AS {quote(f'_wdh_s{i}')}" for i, c in enumerate(order)
        )

    def as_json(alias: str) -> str:
        pairs = ", ".join(
            f"{literal(column)}, {alias}.{quote(column)}::text" for column in copy_columns
        )
        return (
            f"CASE WHEN x.{alias}_id IS NULL THEN NULL "
            f"ELSE pg_catalog.jsonb_build_object({pairs}) END"
        )

    sorted_by = ", ".join(quote(f"_wdh_s{i}") for i in range(len(order)))
    # Every differing row once (materialized); counted per kind by hashing, and only the first
    # ROWS_LISTED of each kind sorted (a top-N sort) and joined back for their cells.
    kinds = (
        f"kinds AS MATERIALIZED ("
        f"SELECT 'removed' AS kind, o.{_ID} AS o_id, NULL::tid AS n_id, {sort_keys('o')} "
        f"FROM old AS o WHERE NOT EXISTS (SELECT 1 FROM new AS n WHERE {same}) "
        f"UNION ALL SELECT 'changed', o.{_ID}, n.{_ID}, {sort_keys('n')} FROM {changed_from} "
        f"UNION ALL SELECT 'added', NULL::tid, n.{_ID}, {sort_keys('n')} "
        f"FROM new AS n WHERE NOT EXISTS (SELECT 1 FROM old AS o WHERE {same}))"
    )
    listed = " UNION ALL ".join(
        f"(SELECT * FROM kinds WHERE kind = '{kind}' ORDER BY {sorted_by} LIMIT {ROWS_LISTED})"
        for kind in ("removed", "changed", "added")
    )
    everything_old, everything_new = ("old", "new") if key else ("old_all", "new_all")
    query = (
        f"WITH {ctes}, {kinds}, listed AS ({listed}) "
        f"SELECT kind, pg_catalog.count(*), NULL::jsonb, NULL::jsonb, NULL::bigint "
        f"FROM kinds GROUP BY kind "
        f"UNION ALL SELECT '{OLD_ROWS}', pg_catalog.count(*), NULL, NULL, NULL "
        f"FROM {everything_old} "
        f"UNION ALL SELECT '{NEW_ROWS}', pg_catalog.count(*), NULL, NULL, NULL "
        f"FROM {everything_new} "
        f"UNION ALL (SELECT x.kind, NULL, {as_json('o')}, {as_json('n')}, "
        f"pg_catalog.row_number() OVER (PARTITION BY x.kind ORDER BY {sorted_by}) "
        f"FROM listed AS x LEFT JOIN old AS o ON o.{_ID} = x.o_id "
        f"LEFT JOIN new AS n ON n.{_ID} = x.n_id) ORDER BY 1, 5 NULLS FIRST"
    )
    return RowDiffQuery(
        table=domain.table,
        create_stage=create,
        copy_stage=copy,
        analyze_stage=f"ANALYZE {stage}",
        copy_columns=copy_columns,
        query=query,
        matched_by=matched_by,
        data_columns=tuple(data),
        keyed=bool(key),
        replaces_scope=bool(scope),
    )


def _old_rows(table: str, stage: str, scope: list[str], key: list[str] | None, mode: str) -> str:
    """The table rows the plan replaces or may overwrite (see the module doc), each with its
    physical address (``ctid``) to join back the few that are listed."""
    rows = f"SELECT t.ctid AS {_ID}, t.* FROM {table} AS t"
    if scope:
        columns = ", ".join(quote(c) for c in scope)
        return f"{rows} JOIN (SELECT DISTINCT {columns} FROM {stage}) AS scope USING ({columns})"
    if key and mode == "upsert":
        columns = ", ".join(quote(c) for c in key)
        return f"{rows} JOIN (SELECT DISTINCT {columns} FROM {stage}) AS k USING ({columns})"
    return f"{rows} WHERE false"


__all__ = ["STAGE", "RowDiffQuery", "build_row_diff_query"]
