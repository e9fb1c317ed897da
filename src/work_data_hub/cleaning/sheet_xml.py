"""The few cells whose text a columnar reader gets wrong, found in the sheet's XML.

A reader that hands out values (calamine, and so fastexcel) shows a formula without a cached
value, a number cell without a number (what writers make of NaN) and a literal ``NaN`` number
as empty or as the word ``NaN``, and a boolean as ``true``. The sheet's XML says what they are.
The XML is streamed from the zip in blocks of whole rows; a block is searched with regular
expressions only when it holds one of the markers below, and only the matching cells become
Python objects, so a sheet without such cells costs one decompression and a few byte searches.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

BLOCK_BYTES = 1 << 24
_MARKERS = (b"<f", b"<v/>", b"<v />", b"<v></v>", b't="b"', b"<v>n", b"<v>N", b"<v>i", b"<v>I")
_SIGNED_MARKERS = (b"<v>-n", b"<v>-N", b"<v>-i", b"<v>-I", b"<v>+")
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
# A stored number with more decimals than fastexcel prints (9), or a small one in exponent form.
# (``1.25E-5`` has 7 decimals, ``1.2345678E-5`` has 12.)
_LONG_NUMBER = re.compile(
    (
        r"<v>-?\d+(?:\.\d{10,}|(?:\.\d*)?[eE]-0*[1-9]\d|"
        + "|".join(rf"\.\d{{{10 - exponent},}}[eE]-0*{exponent}\b" for exponent in range(1, 10))
        + ")"
    ).encode()
)
_REFERENCE = re.compile(rb'\br="(?P<column>[A-Z]{1,3})(?P<row>\d+)"')
_TYPE = re.compile(rb'\bt="(?P<type>\w+)"')
_TEXT_TYPES = frozenset({b"s", b"str", b"inlineStr"})
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


@dataclass(frozen=True)
class SheetMarks:
    """What the sheet's XML says beyond the values: marked cells, and whether any number has
    more digits than a 9-decimal print keeps."""

    cells: list[MarkedCell]
    long_numbers: bool


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


def marked_cells(path: Path, sheet_name: str, first_column: int) -> SheetMarks:
    """The cells of ``sheet_name`` that need more than their value's text (see module doc).

    Positions are 0-based: the row is Excel's row minus one, the column counts from
    ``first_column``. A workbook that is not an OOXML zip has no XML to look at: nothing.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet_name)
            if member is None:
                return SheetMarks([], long_numbers=True)
            cells: list[MarkedCell] = []
            long_numbers = False
            with archive.open(member) as stream:
                for block in _row_blocks(stream):
                    cells.extend(_marked_in_block(block, first_column))
                    long_numbers = long_numbers or _LONG_NUMBER.search(block) is not None
            return SheetMarks(cells, long_numbers)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        # No XML to look at: read every number twice rather than risk a rounded one.
        return SheetMarks([], long_numbers=True)


def _sheet_member(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding ``sheet_name``, from workbook.xml and its relationships."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relationships = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {
        rel.get("Id"): rel.get("Target", "")
        for rel in relationships.iter(f"{_RELATIONSHIPS}Relationship")
    }
    for sheet in workbook.iter(f"{_MAIN}sheet"):
        if sheet.get("name") == sheet_name:
            target = targets.get(sheet.get(_RELATIONSHIP_ID))
            if not target:
                return None
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def _row_blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """The XML in blocks that end after a ``</row>``, so that no cell is cut in two."""
    carry = b""
    while chunk := stream.read(BLOCK_BYTES):
        data = carry + chunk
        end = data.rfind(b"</row>")
        if end < 0:
            carry = data
            continue
        end += len(b"</row>")
        yield data[:end]
        carry = data[end:]
    if carry:
        yield carry


def _marked_in_block(block: bytes, first_column: int) -> Iterator[MarkedCell]:
    if not any(marker in block for marker in _MARKERS) and not any(
        marker in block for marker in _SIGNED_MARKERS
    ):
        return
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
                first_column,
                shown,
                "formula without a cached value; open the workbook in Excel and save it, so "
                "that the value is stored",
            )
    for match in _EMPTY_VALUE_CELL.finditer(block):
        if _type_of(match["attributes"]) in (None, b"n"):
            yield _at(match["attributes"], first_column, "NaN", "number cell holds NaN")
    for match in _NOT_A_NUMBER_CELL.finditer(block):
        if _type_of(match["attributes"]) in (None, b"n"):
            word = match["word"].decode()
            yield _at(match["attributes"], first_column, word, f"number cell holds {word}")
    if b't="b"' in block:
        for match in _BOOLEAN_CELL.finditer(block):
            shown = "TRUE" if match["flag"] == b"1" else "FALSE"
            yield _at(match["attributes"], first_column, shown, None)


def _type_of(attributes: bytes) -> bytes | None:
    found = _TYPE.search(attributes)
    return found["type"] if found else None


def _at(attributes: bytes, first_column: int, text: str, reason: str | None) -> MarkedCell:
    reference = _REFERENCE.search(attributes)
    if reference is None:
        # Writers may leave the reference out; the position is then lost, not the cell.
        return MarkedCell(-1, -1, text, reason)
    return MarkedCell(
        int(reference["row"]) - 1,
        column_index(reference["column"].decode()) - first_column,
        text,
        reason,
    )
