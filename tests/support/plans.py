"""A small keyed domain for the tests of plan files and the guards inside them."""

from __future__ import annotations

from work_data_hub.config import DomainConfig, parse_domains


def notes_domain() -> DomainConfig:
    """``notes``: unique key (month, code), refresh scope month, text columns only."""
    return parse_domains(
        {
            "domains": {
                "notes": {
                    "pattern": r"(?P<year>\d{4})_(?P<month>\d{2})_notes",
                    "table": "notes",
                    "unique_key": ["month", "code"],
                    "refresh_scope": ["month"],
                    "columns": {
                        "month": {"type": "text", "rule": "text", "required": True},
                        "code": {"type": "text", "rule": "text", "required": True},
                        "note": {"type": "text", "rule": "text"},
                    },
                }
            }
        }
    )["notes"]
