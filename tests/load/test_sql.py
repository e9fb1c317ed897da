"""Quoting by PostgreSQL's rules, held equal to SQLAlchemy's PostgreSQL dialect."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from work_data_hub.load.sql import literal, quote

# The "named" paramstyle: the default (pyformat) doubles every % for the driver, which would
# name another table in a psql script.
_PREPARER = postgresql.dialect(paramstyle="named").identifier_preparer  # type: ignore[no-untyped-call]
names = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1)


@given(names)
def test_quote_is_what_sqlalchemys_dialect_does(name: str) -> None:
    assert quote(name) == _PREPARER.quote_identifier(name)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("规模", '"规模"'),
        ('a"b', '"a""b"'),
        ("Plan Code", '"Plan Code"'),
        ("x;--", '"x;--"'),
        ("利率%", '"利率%"'),
    ],
)
def test_quote_doubles_the_quote_character_and_keeps_everything_else(
    name: str, quoted: str
) -> None:
    assert quote(name) == quoted


@pytest.mark.parametrize("function", [quote, literal])
def test_a_nul_character_is_refused(function: object) -> None:
    with pytest.raises(ValueError, match="NUL"):
        function("a\x00b")  # type: ignore[operator]
