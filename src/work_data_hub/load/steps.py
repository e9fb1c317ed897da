"""The steps of a plan, by the names its ``-- step`` lines give them."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    """One statement's purpose; the value is the name the plan file writes after ``-- step``."""

    BEGIN = "begin"
    LOCK = "lock"
    PIN_SCHEMA = "pin_schema"
    CREATE_TABLE = "create_table"
    TABLE_CHANGES = "table_changes"
    CREATE_SCOPE_INDEX = "create_scope_index"
    CREATE_LEDGER = "create_ledger"
    GUARD = "guard"
    CREATE_STAGE = "create_stage"
    COPY = "copy"
    CHECK_ROWS = "check_rows"
    BUSINESS_CHECK = "business_check"
    HISTORY = "history"
    DELETE = "delete"
    INSERT = "insert"
    RESTORE = "restore"
    RECORD_LOAD = "record_load"
    COMMIT = "commit"
