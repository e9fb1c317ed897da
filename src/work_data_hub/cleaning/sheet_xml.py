"""The few cells whose text a columnar reader gets wrong, found in the sheet's XML.

A reader that hands out values (calamine, and so fastexcel) shows a formula without a cached
value, a number cell without a number (what writers make of NaN) and a literal ``NaN`` number
as empty or as the word ``NaN``, an error cell (``#N/A``) as empty, a boolean as ``true``, and
a number with more than 9 decimals rounded to 9. The sheet's XML says what they are.

The XML is streamed from the zip in blocks of whole rows and each block is searched by polars'
(Rust) regular expressions, which scan it in native code; only a block holding one of the
markers below is searched again with Python's, and only the matching cells become Python
objects. Long numbers are collected as a polars frame (row, column, exact value), never one by
one. So a sheet without such cells costs one decompression (ISA-L's, :mod:`.zip_parts`) and one
native scan per block.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from html import unescape
from pathlib import Path
from xml.etree import ElementTree

import polars as pl

from work_data_hub.cleaning.zip_parts import member_chunks

BLOCK_BYTES = 1 << 24
# Number cells with their exact values: 0-based row and column, the stored value.
NUMBER_CELLS_SCHEMA = {"row": pl.Int64, "column": pl.Int64, "value": pl.Float64}
# A block holding none of these holds no marked cell (the Python patterns below all need one).
_MARKERS = r'<f|<v ?/>|<v></v>|t="b"|t="e"|<v>-?[nNiI]|<v>\+'
_CELL_ATTRIBUTES = r"<c\b(?P<attributes>[^>]*?)"
# A formula cell: its formula (or a shared formula's reference) and its cached value, if any.
_FORMULA_CELL = re.compile(
    (
        _CELL_ATTRIBUTES
        + r">\s*<f\b[^>]*?(?:/>|>(?P<formula>[^<]*)</f>)\s*"
        + r"(?:<v>(?P<value>[^<]*)</v>|(?P<empty><v\s*/>))?"
    ).encode()
)
_EMPTY_VALUE_CELL = re.compile((_CELL_ATTRIBUTES + r">\s*(?:<v\s*/>|<v></v>)").encode())
_NOT_A_NUMBER_CELL = re.compile(
    (_CELL_ATTRIBUTES + r">\s*<v>\s*(?P<word>[-+]?(?:nan|inf(?:inity)?))\s*</v>").encode(),
    re.IGNORECASE,
)
_BOOLEAN_CELL = re.compile(
    (
        _CELL_ATTRIBUTES
        + r'\bt="b"[^>]*>\s*(?:<f\b[^>]*?(?:/>|>[^<]*</f>)\s*)?<v>(?P<flag>[01])</v>'
    ).encode()
)
# Excel's error values (``#N/A``, ``#DIV/0!``) are cells of type ``e``, formulas' included.
_ERROR_CELL = re.compile(
    rb'<c\b(?P<attributes>[^>]*?\bt="e"[^>]*)>\s*(?:<f\b[^>]*?(?:/>|>[^<]*</f>)\s*)?'
    rb"<v>(?P<error>[^<]*)</v>"
)
# A stored number with more decimals than fastexcel prints (9), or a small one in exponent form
# (``1.25E-5`` has 7 decimals, ``1.2345678E-5`` has 12), in a number cell (no ``t``, or
# ``t="n"``), a formula's cached value included. Rust syntax: polars scans with it.
_LONG_DIGITS = (
    r"-?[0-9]+(?:\.[0-9]{10,}|(?:\.[0-9]*)?[eE]-0*[1-9][0-9]|"
    + "|".join(rf"\.[0-9]{{{10 - exponent},}}[eE]-0*{exponent}\b" for exponent in range(1, 10))
    + ")"
)
_LONG_NUMBER_CELL = (
    r"<c\b([^>]*?)>\s*(?:<f\b[^>]*?(?:/>|>[^<]*</f>)\s*)?<v>(" + _LONG_DIGITS + r")</v>"
)
_REFERENCE = re.compile(rb'\br="(?P<column>[A-Z]{1,3})(?P<row>\d+)"')
_TYPE = re.compile(rb'\bt="(?P<type>\w+)"')
_TEXT_TYPES = frozenset({b"s", b"str", b"inlineStr"})
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
WORKBOOK_PART = "xl/workbook.xml"
_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


@dataclass(frozen=True)
class SheetMarks:
    """What the sheet's XML says beyond the values.

    ``cells``: the marked cells. ``long_numbers``: the number cells stored with more digits
    than a 9-decimal print keeps, as columns ``row``, ``column`` (0-based, as for cells) and
    ``value`` (Float64); None when there was no XML to look at, so every number may be rounded
    and no error cell is among ``cells`` (the reader must find both itself).
    """

    cells: list[MarkedCell]
    long_numbers: pl.DataFrame | None

    def shifted(self, first_column: int) -> SheetMarks:
        """The same marks with columns counted from ``first_column`` (fastexcel's first)."""
        if not first_column:
            return self
        cells = [
            cell if cell.row < 0 else replace(cell, column=cell.column - first_column)
            for cell in self.cells
        ]
        numbers = self.long_numbers
        if numbers is not None:
            numbers = numbers.with_columns(pl.col("column") - first_column)
        return SheetMarks(cells, numbers)


@dataclass(frozen=True)
class MarkedCell:
    """A cell whose text is ``text``; ``reason`` is why it cannot be loaded, None if it can."""

    row: int
    column: int
    text: str
    reason: str | None


def column_index(letters: str) -> int:
    """``A`` -> 0, ``AB`` -> 27."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def column_letters(index: int) -> str:
    """0 -> ``A``, 27 -> ``AB``."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def marked_cells(path: Path, sheet_name: str) -> SheetMarks:
    """The cells of ``sheet_name`` that need more than their value's text (see module doc).

    Positions are 0-based: the row is Excel's row minus one, the column Excel's column
    (``A`` is 0). A workbook that is not an OOXML zip has no XML to look at: nothing marked,
    and ``long_numbers`` None.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet_name)
            if member is None:
                return SheetMarks([], long_numbers=None)
            cells: list[MarkedCell] = []
            long_numbers: list[pl.DataFrame] = []
            with closing(member_chunks(archive, member, BLOCK_BYTES)) as chunks:
                for block in xml_blocks(chunks):
                    found, numbers = _scan(block)
                    if found:
                        cells.extend(_marked_in_block(block))
                    if len(numbers):
                        long_numbers.append(numbers)
            return SheetMarks(cells, _long_numbers(long_numbers))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        # No XML to look at: every number is read again as a float rather than risk a rounded one.
        return SheetMarks([], long_numbers=None)


def _scan(block: bytes) -> tuple[bool, pl.DataFrame]:
    """One native pass over ``block``: whether it holds a marker, and its long-number cells."""
    text = _as_text(block)
    found = pl.select(
        marked=pl.lit(text).str.contains(_MARKERS),
        numbers=pl.lit(text).str.extract_all(_LONG_NUMBER_CELL),
    )
    numbers = found["numbers"].explode().drop_nulls()
    return bool(found["marked"][0]), numbers.to_frame("cell")


def _as_text(block: bytes) -> pl.Series:
    """``block`` as one polars String: validated in native code, without a Python ``str`` (whose
    conversion costs more than the scan). Invalid UTF-8 (a damaged part) is replaced, as a
    Python decode would."""
    try:
        return pl.Series("xml", [block], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.ComputeError:
        return pl.Series("xml", [block.decode("utf-8", errors="replace")])


_LETTER_VALUES = {chr(ord("A") + index): index + 1 for index in range(26)} | {"@": 0}


def _long_numbers(parts: list[pl.DataFrame]) -> pl.DataFrame | None:
    """The long-number cells found, as (row, column, value): number cells only.

    None when one of them has no cell reference: its place is unknown, so every number of
    the sheet is read again as a float instead.
    """
    if not parts:
        return pl.DataFrame(schema=NUMBER_CELLS_SCHEMA)
    cells = pl.concat(parts).select(
        pl.col("cell").str.extract_groups(_LONG_NUMBER_CELL).struct.unnest()
    )
    attributes, value = pl.col("1"), pl.col("2")
    cells = cells.filter(~attributes.str.contains(r'\bt="') | attributes.str.contains(r'\bt="n"'))
    reference = attributes.str.extract_groups(r'\br="([A-Z]{1,3})([0-9]+)"')
    cells = cells.with_columns(
        letters=reference.struct.field("1"), row=reference.struct.field("2").cast(pl.Int64)
    )
    if cells["row"].null_count():
        return None
    padded = pl.col("letters").str.pad_start(3, "@")
    digit = [
        padded.str.slice(position, 1).replace_strict(_LETTER_VALUES, return_dtype=pl.Int64)
        for position in range(3)
    ]
    return cells.select(
        (pl.col("row") - 1).alias("row"),
        (digit[0] * 676 + digit[1] * 26 + digit[2] - 1).alias("column"),
        value.cast(pl.Float64).alias("value"),
    )


def _sheet_member(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding ``sheet_name``, from workbook.xml and its relationships."""
    workbook = ElementTree.fromstring(archive.read(WORKBOOK_PART))
    targets = relationships(archive, WORKBOOK_PART)
    for sheet in workbook.iter(f"{_MAIN}sheet"):
        if sheet.get("name") == sheet_name:
            target = targets.get(sheet.get(_RELATIONSHIP_ID) or "")
            return target.member if target else None
    return None


@dataclass(frozen=True)
class Relationship:
    """Where one of a part's relationships points: its type's last word (``worksheet``,
    ``styles``, ``comments``) and the zip member it names."""

    kind: str
    member: str


def relationships(archive: zipfile.ZipFile, part: str) -> dict[str, Relationship]:
    """The package-internal relationships of ``part`` (``""`` for the package's own), by id."""
    folder, name = posixpath.split(part)
    listed = posixpath.join(folder, "_rels", f"{name}.rels")
    if listed not in archive.NameToInfo:
        return {}
    found = {}
    for rel in ElementTree.fromstring(archive.read(listed)).iter(f"{_RELATIONSHIPS}Relationship"):
        target = rel.get("Target", "")
        if not target or rel.get("TargetMode") == "External":
            continue
        member = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        found[rel.get("Id", "")] = Relationship(rel.get("Type", "").rsplit("/", 1)[-1], member)
    return found


def xml_blocks(chunks: Iterable[bytes], closing: bytes = b"</row>") -> Iterator[bytes]:
    """The XML of ``chunks`` (a part's bytes, as :func:`member_chunks` gives them) in blocks
    that end after a ``closing`` tag (a row's, by default), so that no element is cut in two;
    the last block is what follows the last one."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        end = data.rfind(closing)
        if end < 0:
            carry = data
            continue
        end += len(closing)
        yield data[:end]
        carry = data[end:]
    if carry:
        yield carry


def _marked_in_block(block: bytes) -> Iterator[MarkedCell]:
    if b"<f" in block:
        for match in _FORMULA_CELL.finditer(block):
            attributes = match["attributes"]
            value = match["value"]
            cell_type = _type_of(attributes)
            has_value = value is not None and (value != b"" or cell_type in _TEXT_TYPES)
            if has_value:
                continue
            formula = match["formula"]
            shown = "=" + unescape(formula.decode()) if formula else "(shared formula)"
            yield _at(
                attributes,
                shown,
                "formula without a cached value; open the workbook in Excel and save it, so "
                "that the value is stored",
            )
    for match in _EMPTY_VALUE_CELL.finditer(block):
        if _type_of(match["attributes"]) in (None, b"n"):
            yield _at(match["attributes"], "NaN", "number cell holds NaN")
    for match in _NOT_A_NUMBER_CELL.finditer(block):
        if _type_of(match["attributes"]) in (None, b"n"):
            word = match["word"].decode()
            yield _at(match["attributes"], word, f"number cell holds {word}")
    if b't="e"' in block:
        for match in _ERROR_CELL.finditer(block):
            shown = unescape(match["error"].decode())
            yield _at(match["attributes"], shown, f"Excel error cell {shown}")
    if b't="b"' in block:
        for match in _BOOLEAN_CELL.finditer(block):
            shown = "TRUE" if match["flag"] == b"1" else "FALSE"
            yield _at(match["attributes"], shown, None)


def _type_of(attributes: bytes) -> bytes | None:
    found = _TYPE.search(attributes)
    return found["type"] if found else None


def _at(attributes: bytes, text: str, reason: str | None) -> MarkedCell:
    reference = _REFERENCE.search(attributes)
    if reference is None:
        # Writers may leave the reference out; the position is then lost, not the cell.
        return MarkedCell(-1, -1, text, reason)
    return MarkedCell(
        int(reference["row"]) - 1,
        column_index(reference["column"].decode()),
        text,
        reason,
    )
