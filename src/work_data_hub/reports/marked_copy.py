"""The marked copy of a delivered workbook, made from the workbook's own parts.

The delivered sheet's XML is streamed from the zip in blocks of whole rows into the copy, with
a few byte-level edits, so a sheet of any size costs one decompression and one compression
(both ISA-L's, :mod:`work_data_hub.cleaning.zip_parts`):

- formulas are dropped and their cached values kept (a formula's text result becomes an inline
  string); a formula without a cached value leaves its cell empty, as the run read it;
- hidden rows are shown;
- the header row and each rejected row are edited where they are, found by a forward search
  (the rows are in order): each rejected cell gets a copy of its own style with a fill (and
  the "quote prefix" when its text starts like a formula, so that it stays text when edited),
  and the row's reasons go in a column after the header row's last;
- a frozen header, fitted column widths and a filter replace the sheet's own view, columns and
  filter; of what follows the rows only the merged cells are kept.

The styles get the copies appended; the shared strings and the theme are copied as they are;
the comments (a comments part and the VML drawing Excel shows them with), the summary sheet,
the workbook part and the relationships are written new. The delivery's other sheets, its
names, drawings, tables and macros are left out: the copy shows the sheet the run read, as
values, and nothing that could point at or compute from what is not there.

What this does not handle (not an OOXML zip, strict OOXML, a sheet that has comments of its
own, a row or cell without its reference) raises :class:`UnsupportedWorkbookError`, mostly before
anything is written; the caller then writes the marked copy from the values read instead.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from html import escape, unescape
from pathlib import Path
from types import TracebackType
from typing import IO
from xml.etree import ElementTree

from work_data_hub.cleaning.sheet_xml import (
    WORKBOOK_PART,
    column_index,
    column_letters,
    relationships,
    xml_blocks,
)
from work_data_hub.cleaning.zip_parts import member_chunks, write_zip
from work_data_hub.errors import WorkDataHubError

# The copy is written once and read by people: ISA-L's fast level (of 0-3), as small as its
# default; zlib's default level would make it smaller, in several times the time.
COMPRESS_LEVEL = 1
# Column widths are fitted to the header and this many rows below it.
WIDTH_SAMPLE_ROWS = 1_000
WIDTH_MIN, WIDTH_MAX = 6, 50
# Excel's own "Bad" cell style: what a reviewer recognises as "look here".
BAD_FILL = "FFFFC7CE"
BAD_FONT = "FF9C0006"

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_SPREADSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_DATA_SHEET = "xl/worksheets/sheet2.xml"

_ROW_TAG = re.compile(rb'<row\b[^>]*?\br="(?P<row>\d+)"')
_CELL = re.compile(rb"<c\b(?P<attributes>[^>]*?)(?:/>|>(?P<content>.*?)</c>)", re.DOTALL)
_CELL_ATTRIBUTE = re.compile(rb'\b(?P<name>[rst])="(?P<value>[^"]*)"')
_REFERENCE = re.compile(rb"^(?P<column>[A-Z]{1,3})(?P<row>\d+)$")
_VALUE = re.compile(rb"<v>(?P<value>[^<]*)</v>")
_TEXT = re.compile(rb"<t\b[^>]*?(?:/>|>(?P<text>[^<]*)</t>)")
_PHONETIC = re.compile(rb"<rPh\b.*?</rPh>", re.DOTALL)
_HAS_VALUE = re.compile(rb"<v>[^<]|<is>")
_SHARED_STRING = re.compile(rb"<si\b[^>]*?(?:/>|>(?P<content>.*?)</si>)", re.DOTALL)
_ESCAPED_CHARACTER = re.compile(r"_x([0-9A-Fa-f]{4})_")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|\r|_(?=x[0-9A-Fa-f]{4}_)")

# A formula's text result: an inline string once the formula is gone.
_TEXT_FORMULA = re.compile(
    rb'<c\b(?P<before>[^>]*?)\bt="str"(?P<after>[^>]*)>\s*<f\b[^>]*?(?:/>|>[^<]*</f>)\s*'
    rb"<v>(?P<value>[^<]*)</v>\s*</c>"
)
_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v></v>)?")
_ANY_FORMULA = re.compile(rb"<f[ >/]")
_HIDDEN_ROW = re.compile(rb'(<row\b[^>]*?)\s+hidden="(?:1|true)"')
# Cell and value metadata (dynamic arrays, data types) point into a part the copy leaves out.
_METADATA = re.compile(rb'(<c\b[^>]*?)\s+[cv]m="\d+"')
_SPANS = re.compile(rb'\s+spans="[^"]*"')
_STYLE = re.compile(rb'\ss="(?P<style>\d*)"')
_ZERO_HEIGHT = re.compile(rb'\s+zeroHeight="(?:1|true)"')
_MERGED = re.compile(rb"<mergeCells\b.*?</mergeCells>", re.DOTALL)

# Built-in number formats that show a date or a time.
_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
_DATE_CODE = re.compile(r"[dmyhs]", re.IGNORECASE)
_QUOTED_CODE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')
_MINIMAL_STYLES = (
    f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
    '</font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
    '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/>'
    '<right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf '
    'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf '
    'numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs></styleSheet>'
).encode()


class UnsupportedWorkbookError(WorkDataHubError):
    """The delivered workbook has a structure the marked copy does not handle.

    Args:
        message: What it is, naming the file.
        file: The delivered workbook.
        reason: What the copy does not handle.
    """

    def __init__(self, message: str, *, file: str, reason: str) -> None:
        super().__init__(message, file=file, reason=reason)


@dataclass(frozen=True)
class CellMark:
    """A rejected cell: its reasons (its comment, one a line), and whether its text starts
    like a formula (the copy of its style then has the quote prefix)."""

    reasons: tuple[str, ...]
    formula_like: bool = False


@dataclass(frozen=True)
class Marks:
    """What to mark: Excel row -> 0-based column (``A`` is 0) -> the cell's mark, Excel row ->
    the row's reasons (shown after the header row's last column, under ``header``), and the
    number of cells that carry a comment, first in sheet order."""

    cells: Mapping[int, Mapping[int, CellMark]]
    rows: Mapping[int, str]
    header: str
    comments: int


@dataclass(frozen=True)
class SummaryTable:
    """The first sheet: a title, a sentence, and a table with one line per column and reason."""

    name: str
    title: str
    said: str
    header: tuple[str, ...]
    lines: Sequence[tuple[str, str, int, str]]
    widths: Sequence[float]


@dataclass(frozen=True)
class _Cell:
    """One cell of the rows read before writing: its column, type, style and content."""

    column: int
    kind: bytes
    style: int
    content: bytes


def _unsupported(file: str, reason: str) -> UnsupportedWorkbookError:
    return UnsupportedWorkbookError(f"{file}: {reason}", file=file, reason=reason)


def fitted_width(longest: float) -> float:
    """A column's width in Excel's character units for text ``longest`` units wide."""
    return min(WIDTH_MAX, max(WIDTH_MIN, longest + 2))


def shown_width(text: str) -> float:
    """``text``'s width in Excel's character units; a CJK character counts as two."""
    # UTF-8 takes 1 byte for ASCII and 3 for CJK: (bytes + characters) / 2 gives 1 and 2.
    return (len(text.encode()) + len(text)) / 2


class DeliveredSheet:
    """A delivered sheet opened for its marked copy: its header row is read, nothing written.

    Args:
        path: The delivered workbook.
        sheet: The sheet's name.
        header_row: The Excel row (1-based) of the headers.

    Raises:
        UnsupportedWorkbookError: The workbook or the sheet has a structure the copy does not handle.
        OSError: The workbook cannot be opened.
    """

    def __init__(self, path: Path, sheet: str, header_row: int) -> None:
        self.file = path.name
        self.sheet = sheet
        self.header_row = header_row
        try:
            self._archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise _unsupported(self.file, "not an OOXML (zip) workbook") from exc
        try:
            self._open_parts()
            self._blocks = self._sheet_blocks()
            self._read_head()
        except (ElementTree.ParseError, KeyError) as exc:
            self.close()
            raise _unsupported(self.file, f"a part cannot be read ({exc})") from exc
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> DeliveredSheet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        blocks = getattr(self, "_blocks", None)
        if blocks is not None:
            blocks.close()
        self._archive.close()

    def _open_parts(self) -> None:
        names = self._archive.NameToInfo
        if WORKBOOK_PART not in names:
            raise _unsupported(self.file, f"no {WORKBOOK_PART} in the zip")
        workbook = ElementTree.fromstring(self._archive.read(WORKBOOK_PART))
        if workbook.tag != f"{{{_MAIN}}}workbook":
            raise _unsupported(self.file, f"workbook part in namespace {workbook.tag}")
        parts = relationships(self._archive, WORKBOOK_PART)
        by_kind = {part.kind: part.member for part in parts.values()}
        sheet_member = next(
            (
                parts[sheet.get(f"{{{_RELATIONSHIP}}}id", "")].member
                for sheet in workbook.iter(f"{{{_MAIN}}}sheet")
                if sheet.get("name") == self.sheet
                and sheet.get(f"{{{_RELATIONSHIP}}}id", "") in parts
            ),
            None,
        )
        if sheet_member is None or sheet_member not in names:
            raise _unsupported(self.file, f"sheet {self.sheet!r} has no part in the zip")
        own = {part.kind for part in relationships(self._archive, sheet_member).values()}
        if own & {"comments", "threadedComment"}:
            raise _unsupported(self.file, f"sheet {self.sheet!r} has comments of its own")
        properties = workbook.find(f"{{{_MAIN}}}workbookPr")
        date1904 = properties is not None and properties.get("date1904") in ("1", "true")
        self._sheet_member = sheet_member
        self._date1904 = date1904

        def present(kind: str) -> str | None:
            member = by_kind.get(kind)
            return member if member in names else None

        self._strings_member = present("sharedStrings")
        self._theme_member = present("theme")
        styles_member = present("styles")
        self._styles = _Styles(
            self._archive.read(styles_member) if styles_member else _MINIMAL_STYLES, self.file
        )
        self._has_metadata = present("sheetMetadata") is not None

    def _sheet_blocks(self) -> Iterator[bytes]:
        with closing(member_chunks(self._archive, self._sheet_member)) as chunks:
            yield from xml_blocks(chunks)

    def _read_head(self) -> None:
        """The sheet's head, its header row and the rows that fit the column widths."""
        first = next(self._blocks, b"")
        start = first.find(b"<sheetData")
        if start < 0:
            raise _unsupported(self.file, "the sheet's rows do not begin within its first block")
        opened = first.index(b">", start)
        if first[opened - 1 : opened] == b"/":
            raise _unsupported(self.file, "the sheet has no rows")
        head, body = first[:start], first[opened + 1 :]
        root = re.search(rb"<worksheet\b[^>]*>", head)
        if root is None or f'xmlns="{_MAIN}"'.encode() not in root[0]:
            raise _unsupported(self.file, "the sheet is not in the transitional OOXML namespace")
        relationship = re.search(rb'\sxmlns:r="([^"]*)"', root[0])
        if relationship is not None and relationship[1] != _RELATIONSHIP.encode():
            raise _unsupported(self.file, "the sheet's r: prefix names another namespace")
        self._root = root[0] if relationship else (
            root[0][:-1] + f' xmlns:r="{_RELATIONSHIP}">'.encode()
        )  # fmt: skip
        self._format = _ZERO_HEIGHT.sub(
            b"", next(iter(re.findall(rb"<sheetFormatPr\b[^>]*/>", head)), b"")
        )
        self._widths = _column_widths(head)
        first_row = re.search(rb"<row\b[^>]*>", body)
        first_cell = _CELL.search(body)
        if first_row is None or b' r="' not in first_row[0]:
            raise _unsupported(self.file, "the sheet's rows have no row numbers")
        if first_cell is not None and not re.search(rb'\br="', first_cell["attributes"]):
            raise _unsupported(self.file, "the sheet's cells have no references")
        found = _find_row(body, self.header_row, 0, _last_row_number(body))
        if found is None or not found[2]:
            raise _unsupported(
                self.file, f"row {self.header_row} is not in the sheet's first block"
            )
        header_start, header_end, _ = found
        sample_end = header_end
        for _ in range(WIDTH_SAMPLE_ROWS):
            following = body.find(b"</row>", sample_end)
            if following < 0:
                break
            sample_end = following + len(b"</row>")
        header_cells = self._cells(body[header_start:header_end])
        sample = self._cells(body[header_start:sample_end])
        wanted = {
            int(cell.content) for cell in sample if cell.kind == b"s" and cell.content.isdigit()
        }
        strings = self._shared_strings(wanted)
        self.header: list[str | None] = [None] * (
            max((c.column for c in header_cells), default=-1) + 1
        )
        for cell in header_cells:
            self.header[cell.column] = _cell_text(cell, strings)
        self._sample = [(cell, _cell_text(cell, strings)) for cell in sample]
        self._body = body
        self._mark_column = max(
            (c.column for c in header_cells if self.header[c.column] is not None), default=-1
        ) + 1  # fmt: skip

    def _cells(self, rows: bytes) -> list[_Cell]:
        cells = []
        for match in _CELL.finditer(rows):
            attributes = dict(
                (found["name"], found["value"])
                for found in _CELL_ATTRIBUTE.finditer(match["attributes"])
            )
            reference = _REFERENCE.match(attributes.get(b"r", b""))
            if reference is None:
                raise _unsupported(self.file, "a cell of the sheet has no reference")
            content = match["content"] or b""
            kind = attributes.get(b"t", b"n")
            if kind != b"inlineStr":
                value = _VALUE.search(content)
                content = value["value"] if value else b""
            style = attributes.get(b"s", b"0")
            cells.append(
                _Cell(
                    column_index(reference["column"].decode()),
                    kind,
                    int(style) if style.isdigit() else 0,
                    content,
                )
            )
        return cells

    def _shared_strings(self, wanted: set[int]) -> dict[int, str]:
        """The shared strings at the ``wanted`` indices, read up to the last of them."""
        found: dict[int, str] = {}
        if not wanted or self._strings_member is None:
            return found
        last, index = max(wanted), 0
        with closing(member_chunks(self._archive, self._strings_member)) as chunks:
            for block in xml_blocks(chunks, b"</si>"):
                for match in _SHARED_STRING.finditer(block):
                    if index in wanted:
                        found[index] = _rich_text(match["content"] or b"")
                    index += 1
                if index > last:
                    break
        return found

    def write_marked(self, target: IO[bytes], marks: Marks, summary: SummaryTable) -> int:
        """Write the marked copy to ``target``; the number of comments written.

        Raises:
            UnsupportedWorkbookError: A row to mark has what the copy does not handle (a cell
                without a reference, a value where the reasons go).
        """
        if not marks.rows:
            raise ValueError("a marked copy needs rejected rows")
        editor = _RowEditor(
            file=self.file,
            header_row=self.header_row,
            header=self.header,
            mark_column=self._mark_column,
            styles=self._styles,
            metadata=self._has_metadata,
            marks=marks,
        )
        widths = self._fitted_widths()

        def sheet() -> Iterator[bytes]:
            yield _XML_DECLARATION + self._root + _sheet_view(self.header_row, False)
            yield self._format + _columns(widths) + b"<sheetData>"
            yield editor.edited(self._body)
            del self._body
            for block in self._blocks:
                yield editor.edited(block)

        def parts() -> Iterator[tuple[str, Iterable[bytes]]]:
            yield _DATA_SHEET, sheet()
            for member, name in (
                (self._strings_member, "xl/sharedStrings.xml"),
                (self._theme_member, "xl/theme/theme1.xml"),
            ):
                if member is not None:
                    yield name, member_chunks(self._archive, member)
            # Asked for once the sheet is written: its comments and last row are known then.
            for name, data in self._closing_parts(editor, summary).items():
                yield name, [data]

        copied = (self._sheet_member, self._strings_member)
        big = any(member and self._big(member) for member in copied)
        write_zip(target, parts(), level=COMPRESS_LEVEL, zip64=big)
        return len(editor.comments)

    def _closing_parts(self, editor: _RowEditor, summary: SummaryTable) -> dict[str, bytes]:
        """The parts written after the sheet's (and the copied ones), by name, in zip order."""
        parts = {
            "xl/worksheets/sheet1.xml": _summary_sheet(summary, self._styles),
            "xl/styles.xml": self._styles.xml(),
        }
        if editor.comments:
            parts["xl/comments1.xml"] = _comments(editor.comments)
            parts["xl/drawings/vmlDrawing1.vml"] = _vml(editor.comments)
            parts["xl/worksheets/_rels/sheet2.xml.rels"] = _relationships_part(
                [
                    ("vmlDrawing", "../drawings/vmlDrawing1.vml"),
                    ("comments", "../comments1.xml"),
                ]
            )
        filtered = (
            f"{_sheet_reference(self.sheet)}!${column_letters(editor.first_column)}"
            f"${self.header_row}:${column_letters(self._mark_column)}${editor.last_row}"
        )
        parts["xl/workbook.xml"] = _workbook(summary.name, self.sheet, self._date1904, filtered)
        parts["xl/_rels/workbook.xml.rels"] = _relationships_part(
            [
                ("worksheet", "worksheets/sheet1.xml"),
                ("worksheet", "worksheets/sheet2.xml"),
                ("styles", "styles.xml"),
                *([("sharedStrings", "sharedStrings.xml")] if self._strings_member else []),
                *([("theme", "theme/theme1.xml")] if self._theme_member else []),
            ]
        )
        parts["_rels/.rels"] = _relationships_part([("officeDocument", WORKBOOK_PART)])
        parts["[Content_Types].xml"] = _content_types(
            comments=bool(editor.comments),
            strings=self._strings_member is not None,
            theme=self._theme_member is not None,
        )
        return parts

    def _big(self, member: str) -> bool:
        """Whether ``member`` may come out past the 4 GiB a zip entry holds without ZIP64
        (the marks add to it)."""
        return self._archive.getinfo(member).file_size > (1 << 30)

    def _fitted_widths(self) -> dict[int, float]:
        """Each column's width up to the reasons' column: the delivered width, or wider to fit
        the header and the first rows."""
        longest: dict[int, float] = {}
        for cell, text in self._sample:
            width = (
                self._styles.number_width(cell) if cell.kind == b"n" else shown_width(text or "")
            )
            longest[cell.column] = max(longest.get(cell.column, 0), width)
        widths = {
            column: max(self._widths.get(column, 0), fitted_width(longest.get(column, 0)))
            for column in range(self._mark_column)
        }
        widths[self._mark_column] = WIDTH_MAX
        return widths


class _RowEditor:
    """Edits the sheet's rows block by block: formulas, hidden rows, and the rows to mark."""

    def __init__(
        self,
        *,
        file: str,
        header_row: int,
        header: Sequence[str | None],
        mark_column: int,
        styles: _Styles,
        metadata: bool,
        marks: Marks,
    ) -> None:
        self._file = file
        self._header_row = header_row
        self._mark_column = mark_column
        self._styles = styles
        self._metadata = metadata
        self._marks = marks
        self._rows = sorted({header_row, *marks.rows, *marks.cells})
        self._next = 0
        # (Excel row, 0-based column, text) of the comments written, in sheet order.
        self.comments: list[tuple[int, int, str]] = []
        self.last_row = max(self._rows)
        self.first_column = min(
            (column for column, text in enumerate(header) if text is not None), default=0
        )

    def edited(self, block: bytes) -> bytes:
        """``block`` as written: the rows cleaned, those to mark marked; at the sheet's end,
        the rows still to mark and what follows the rows."""
        end = block.find(b"</sheetData>")
        rows, tail = (block, b"") if end < 0 else (block[:end], block[end:])
        rows = self._cleaned(rows)
        last = _last_row_number(rows)
        if last is not None:
            self.last_row = max(self.last_row, last)
        pieces, cursor = [], 0
        while self._next < len(self._rows):
            number = self._rows[self._next]
            found = _find_row(rows, number, cursor, last)
            if found is None:
                if end < 0:
                    break
                # Past the last row: the row to mark is not in the sheet; it is added.
                found = (len(rows), len(rows), False)
            start, stop, present = found
            pieces += [
                rows[cursor:start],
                self._marked_row(number, rows[start:stop] if present else None),
            ]
            cursor = stop
            self._next += 1
        pieces.append(rows[cursor:])
        if end >= 0:
            pieces.append(self._tail(tail))
        return b"".join(pieces)

    def _cleaned(self, rows: bytes) -> bytes:
        rows = _without_formulas(rows, self._file)
        if b'hidden="' in rows:
            rows = _HIDDEN_ROW.sub(rb"\1", rows)
        if self._metadata and (b' cm="' in rows or b' vm="' in rows):
            rows = _METADATA.sub(rb"\1", _METADATA.sub(rb"\1", rows))
        return rows

    def _marked_row(self, number: int, element: bytes | None) -> bytes:
        if element is None:
            start, body = b'<row r="%d">' % number, b""
        else:
            opened = element.index(b">")
            closed = element[opened - 1 : opened] == b"/"
            start = _SPANS.sub(b"", element[: opened - 1 if closed else opened]) + b">"
            body = b"" if closed else element[opened + 1 : -len(b"</row>")]
        cells: dict[int, bytes] = {}
        for match in _CELL.finditer(body):
            reference = re.search(rb'\br="([A-Z]{1,3})\d+"', match["attributes"])
            if reference is None:
                raise _unsupported(self._file, f"a cell of row {number} has no reference")
            cells[column_index(reference[1].decode())] = match[0]
        for column, mark in sorted(self._marks.cells.get(number, {}).items()):
            cells[column] = self._filled(cells.get(column), number, column, mark)
            if len(self.comments) < self._marks.comments:
                self.comments.append((number, column, "\n".join(mark.reasons)))
        text = self._marks.header if number == self._header_row else self._marks.rows.get(number)
        if text is not None:
            existing = cells.get(self._mark_column)
            if existing is not None and _HAS_VALUE.search(existing):
                raise _unsupported(
                    self._file,
                    f"cell {column_letters(self._mark_column)}{number}, where the row's reasons "
                    "go, holds a value",
                )
            style = self._styles.header if number == self._header_row else self._styles.mark
            cells[self._mark_column] = _text_cell(
                f"{column_letters(self._mark_column)}{number}", text, style
            )
        return start + b"".join(cells[column] for column in sorted(cells)) + b"</row>"

    def _filled(self, cell: bytes | None, row: int, column: int, mark: CellMark) -> bytes:
        if cell is None:
            style = self._styles.marked(0, quote=mark.formula_like)
            return b'<c r="%s%d" s="%d"/>' % (column_letters(column).encode(), row, style)
        opened = cell.index(b">")
        tag = cell[:opened]
        found = _STYLE.search(tag)
        source = int(found["style"] or b"0") if found else 0
        copied = b' s="%d"' % self._styles.marked(source, quote=mark.formula_like)
        tag = _STYLE.sub(copied, tag) if found else tag.rstrip(b"/") + copied + (
            b"/" if tag.endswith(b"/") else b""
        )  # fmt: skip
        return tag + cell[opened:]

    def _tail(self, tail: bytes) -> bytes:
        merged = _MERGED.search(tail)
        filtered = (
            f'<autoFilter ref="{column_letters(self.first_column)}{self._header_row}:'
            f'{column_letters(self._mark_column)}{self.last_row}"/>'
        )
        return b"".join(
            [
                b"</sheetData>",
                filtered.encode(),
                merged[0] if merged else b"",
                b'<legacyDrawing r:id="rId1"/>' if self.comments else b"",
                b"</worksheet>",
            ]
        )


class _Styles:
    """The delivered styles, with copies of the rejected cells' styles and the copy's own
    styles appended (byte-level: the part keeps its namespaces and extensions as written)."""

    def __init__(self, xml: bytes, file: str) -> None:
        root = re.search(rb"<styleSheet\b[^>]*>", xml)
        if root is None or f'xmlns="{_MAIN}"'.encode() not in root[0]:
            raise _unsupported(file, "the styles are not in the transitional OOXML namespace")
        self._xml = xml
        self._sections: dict[bytes, list[bytes]] = {}
        for name, child in ((b"fonts", b"font"), (b"fills", b"fill"), (b"borders", b"border"),
                            (b"cellXfs", b"xf"), (b"numFmts", b"numFmt")):  # fmt: skip
            section = re.search(rb"<%s\b[^>]*>(.*?)</%s>" % (name, name), xml, re.DOTALL)
            if section is None and name != b"numFmts":
                raise _unsupported(file, f"the styles have no {name.decode()}")
            self._sections[name] = re.findall(
                rb"<%s\b[^>]*?(?:/>|>.*?</%s>)" % (child, child),
                section[1] if section else b"",
                re.DOTALL,
            )
        self._added: dict[bytes, list[bytes]] = {
            b"fonts": [], b"fills": [], b"borders": [], b"cellXfs": []
        }  # fmt: skip
        self._copies: dict[tuple[int, bool], int] = {}
        font = self._sections[b"fonts"][0] if self._sections[b"fonts"] else b""
        font_name = re.search(rb'<name val="(?P<name>[^"]*)"', font)
        self._font_name = b'<name val="%s"/>' % (font_name["name"] if font_name else b"Calibri")
        self._fill = self._add(
            b"fills",
            b'<fill><patternFill patternType="solid"><fgColor rgb="%s"/><bgColor indexed="64"/>'
            b"</patternFill></fill>" % BAD_FILL.encode(),
        )
        bold = self._font(b"<b/>", 11)
        border = self._add(b"borders", b'<border><left/><right/><top/><bottom style="thin">'
                           b'<color auto="1"/></bottom><diagonal/></border>')  # fmt: skip
        self.header = self._xf(font=bold, border=border)
        self.title = self._xf(font=self._font(b"<b/>", 13))
        self.mark = self._xf(font=self._font(b"<b/>", 11, BAD_FONT))
        self.plain = 0
        self._number_formats = self._formats()

    def _add(self, section: bytes, element: bytes) -> int:
        self._added[section].append(element)
        return len(self._sections[section]) + len(self._added[section]) - 1

    def _font(self, bold: bytes, size: int, color: str | None = None) -> int:
        shade = b'<color rgb="%s"/>' % color.encode() if color else b""
        return self._add(
            b"fonts", b'<font>%s<sz val="%d"/>%s%s</font>' % (bold, size, shade, self._font_name)
        )

    def _xf(self, *, font: int = 0, border: int = 0) -> int:
        return self._add(
            b"cellXfs",
            b'<xf numFmtId="0" fontId="%d" fillId="0" borderId="%d" xfId="0" applyFont="1"'
            b' applyBorder="1"/>' % (font, border),
        )

    def marked(self, source: int, *, quote: bool) -> int:
        """The style of a rejected cell whose own is ``source``: the same with the fill."""
        key = (source, quote)
        if key not in self._copies:
            xfs = self._sections[b"cellXfs"]
            element = xfs[source] if source < len(xfs) else xfs[0] if xfs else b"<xf/>"
            opened = element.index(b">")
            closed = element[opened - 1 : opened] == b"/"
            tag = element[: opened - 1 if closed else opened]
            values = {b"fillId": b"%d" % self._fill, b"applyFill": b"1"}
            if quote:
                values[b"quotePrefix"] = b"1"
            for name, value in values.items():
                attribute = re.compile(rb'\s%s="[^"]*"' % name)
                new = b' %s="%s"' % (name, value)
                tag = attribute.sub(new, tag) if attribute.search(tag) else tag + new
            self._copies[key] = self._add(
                b"cellXfs", tag + element[opened - 1 if closed else opened :]
            )
        return self._copies[key]

    def _formats(self) -> dict[int, str]:
        """Custom number formats by id."""
        formats = {}
        for element in self._sections[b"numFmts"]:
            number = re.search(rb'numFmtId="(\d+)"', element)
            code = re.search(rb'formatCode="([^"]*)"', element)
            if number and code:
                formats[int(number[1])] = unescape(code[1].decode())
        return formats

    def number_width(self, cell: _Cell) -> float:
        """About how wide a number cell shows: a date as ``2024-01-31`` (and its time), a
        number as stored, with room for thousands separators."""
        xfs = self._sections[b"cellXfs"]
        element = xfs[cell.style] if cell.style < len(xfs) else b""
        found = re.search(rb'numFmtId="(\d+)"', element)
        number = int(found[1]) if found else 0
        code = self._number_formats.get(number, "")
        bare = _QUOTED_CODE.sub("", code)
        if number in _DATE_FORMATS or (code and _DATE_CODE.search(bare)):
            return 19 if re.search("[hs]", bare, re.IGNORECASE) else 10
        digits = len(cell.content)
        return digits + digits // 3 if "," in code or number in (3, 4, 37, 38, 39, 40) else digits

    def xml(self) -> bytes:
        xml = self._xml
        for section, added in self._added.items():
            if not added:
                continue
            found = re.search(rb"(<%s\b[^>]*?)>(.*?)(</%s>)" % (section, section), xml, re.DOTALL)
            if found is None:
                continue
            count = len(self._sections[section]) + len(added)
            tag = re.sub(rb'\scount="\d*"', b"", found[1]) + b' count="%d">' % count
            xml = b"".join(
                [xml[: found.start()], tag, found[2], *added, found[3], xml[found.end() :]]
            )
        return xml


def _without_formulas(rows: bytes, file: str) -> bytes:
    """``rows`` with each formula cell's formula dropped (only those cells are looked at)."""
    pieces, cursor = [], 0
    for found in _ANY_FORMULA.finditer(rows):
        if found.start() < cursor:
            continue
        # A formula is its cell's first child: the cell starts at the ``<c`` before it.
        start = rows.rfind(b"<c", cursor, found.start())
        end = rows.find(b"</c>", found.end())
        if start < 0 or end < 0:
            raise _unsupported(file, "a formula outside a cell")
        end += len(b"</c>")
        text = _TEXT_FORMULA.fullmatch(rows, start, end)
        cell = (
            b'<c%st="inlineStr"%s><is><t xml:space="preserve">%s</t></is></c>'
            % (text["before"], text["after"], text["value"])
            if text
            else _FORMULA.sub(b"", rows[start:end])
        )
        pieces += [rows[cursor:start], cell]
        cursor = end
    if not pieces:
        return rows
    pieces.append(rows[cursor:])
    return b"".join(pieces)


def _find_row(
    rows: bytes, number: int, cursor: int, last: int | None
) -> tuple[int, int, bool] | None:
    """Where row ``number`` is in ``rows`` (whose last row is ``last``) from ``cursor`` on:
    (start, end, present); when the sheet has no such row but one after it, (where it goes,
    same, False); None if it lies beyond ``rows``."""
    if last is None or last < number:
        return None
    start = rows.find(b'<row r="%d"' % number, cursor)
    if start < 0:
        # The row is missing, or its number is not its first attribute: look row by row.
        for match in _ROW_TAG.finditer(rows, cursor):
            found = int(match["row"])
            if found == number:
                start = match.start()
                break
            if found > number:
                return match.start(), match.start(), False
        else:
            return None
    opened = rows.index(b">", start)
    if rows[opened - 1 : opened] == b"/":
        return start, opened + 1, True
    return start, rows.index(b"</row>", opened) + len(b"</row>"), True


def _last_row_number(rows: bytes) -> int | None:
    start = rows.rfind(b"<row ")
    found = _ROW_TAG.match(rows, start) if start >= 0 else None
    return int(found["row"]) if found else None


def _rich_text(content: bytes) -> str:
    """The text of a string item: its runs' text, without the phonetic guide."""
    content = _PHONETIC.sub(b"", content)
    return _unescaped(b"".join(match["text"] or b"" for match in _TEXT.finditer(content)))


def _unescaped(raw: bytes) -> str:
    return _ESCAPED_CHARACTER.sub(lambda found: chr(int(found[1], 16)), unescape(raw.decode()))


def _cell_text(cell: _Cell, strings: Mapping[int, str]) -> str | None:
    """What a cell read before writing holds, as text; None when it holds nothing."""
    if cell.kind == b"inlineStr":
        return _rich_text(cell.content) if cell.content else None
    if not cell.content:
        return None
    if cell.kind == b"s":
        return strings.get(int(cell.content)) if cell.content.isdigit() else None
    if cell.kind == b"b":
        return "TRUE" if cell.content == b"1" else "FALSE"
    return _unescaped(cell.content)


def _column_widths(head: bytes) -> dict[int, float]:
    """The delivered column widths (0-based column -> width) of the sheet's ``<cols>``."""
    widths = {}
    for element in re.findall(rb"<col\b[^>]*>", head):
        low = re.search(rb'\bmin="(\d+)"', element)
        high = re.search(rb'\bmax="(\d+)"', element)
        width = re.search(rb'\bwidth="([0-9.]+)"', element)
        if low and high and width:
            for column in range(int(low[1]) - 1, min(int(high[1]), int(low[1]) + 1024)):
                widths[column] = float(width[1])
    return widths


def _xml_text(text: str) -> str:
    """``text`` as XML character data; what XML cannot hold as OOXML's ``_xHHHH_``."""
    return _NOT_XML.sub(lambda found: f"_x{ord(found[0]):04X}_", escape(text, quote=False))


def _text_cell(reference: str, text: str, style: int) -> bytes:
    return (
        f'<c r="{reference}" s="{style}" t="inlineStr"><is><t xml:space="preserve">'
        f"{_xml_text(text)}</t></is></c>"
    ).encode()


def _sheet_view(header_rows: int, selected: bool) -> bytes:
    """A view with the top ``header_rows`` rows frozen (none: no pane)."""
    pane = (
        f'<pane ySplit="{header_rows}" topLeftCell="A{header_rows + 1}" activePane="bottomLeft" '
        'state="frozen"/><selection pane="bottomLeft"/>'
        if header_rows
        else ""
    )
    tab = ' tabSelected="1"' if selected else ""
    return (
        f'<sheetViews><sheetView{tab} workbookViewId="0">{pane}</sheetView></sheetViews>'.encode()
    )


def _columns(widths: Mapping[int, float]) -> bytes:
    if not widths:
        return b""
    return (
        b"<cols>"
        + b"".join(
            b'<col min="%d" max="%d" width="%s" customWidth="1"/>'
            % (column + 1, column + 1, f"{width:g}".encode())
            for column, width in sorted(widths.items())
        )
        + b"</cols>"
    )


def _summary_sheet(summary: SummaryTable, styles: _Styles) -> bytes:
    rows: list[tuple[int, list[tuple[str | int, int]]]] = [
        (1, [(summary.title, styles.title)]),
        (2, [(summary.said, styles.plain)]),
        (4, [(text, styles.header) for text in summary.header]),
    ]
    for number, table_line in enumerate(summary.lines, start=5):
        rows.append((number, [(value, styles.plain) for value in table_line]))
    written = []
    for number, cells in rows:
        line = []
        for position, (value, style) in enumerate(cells):
            reference = f"{column_letters(position)}{number}"
            if isinstance(value, int):
                line.append(f'<c r="{reference}" s="{style}"><v>{value}</v></c>'.encode())
            else:
                line.append(_text_cell(reference, value, style))
        written.append(b'<row r="%d">%s</row>' % (number, b"".join(line)))
    return b"".join(
        [
            _XML_DECLARATION,
            f'<worksheet xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIP}">'.encode(),
            _sheet_view(4, True),
            _columns(dict(enumerate(summary.widths))),
            b"<sheetData>",
            *written,
            b"</sheetData></worksheet>",
        ]
    )


def _comments(comments: Sequence[tuple[int, int, str]]) -> bytes:
    listed = "".join(
        f'<comment ref="{column_letters(column)}{row}" authorId="0"><text><r><rPr><sz val="8"/>'
        '<color indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr>'
        f'<t xml:space="preserve">{_xml_text(text)}</t></r></text></comment>'
        for row, column, text in comments
    )
    return (
        _XML_DECLARATION
        + f'<comments xmlns="{_MAIN}"><authors><author>WorkDataHub</author></authors>'
        f"<commentList>{listed}</commentList></comments>".encode()
    )


def _vml(comments: Sequence[tuple[int, int, str]]) -> bytes:
    """The legacy drawing Excel shows comments with: one hidden note shape per comment."""
    shapes = "".join(
        f'<v:shape id="_x0000_s{1025 + index}" type="#_x0000_t202" style="position:absolute;'
        "margin-left:59.25pt;margin-top:1.5pt;width:144pt;height:79pt;z-index:1;"
        'visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
        '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
        '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div>'
        '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{column + 1}, 15, {max(row - 2, 0)}, 10, {column + 3}, 15, "
        f"{max(row - 2, 0) + 4}, 4</x:Anchor><x:AutoFill>False</x:AutoFill>"
        f"<x:Row>{row - 1}</x:Row><x:Column>{column}</x:Column></x:ClientData></v:shape>"
        for index, (row, column, _) in enumerate(comments)
    )
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:'
        'office" xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
        '<o:idmap v:ext="edit" data="1"/></o:shapelayout><v:shapetype id="_x0000_t202" '
        'coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke '
        'joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
        f"{shapes}</xml>"
    ).encode()


def _relationships_part(targets: Sequence[tuple[str, str]]) -> bytes:
    listed = "".join(
        f'<Relationship Id="rId{index}" Type="'
        + (
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
            if kind == "officeDocument"
            else f"{_RELATIONSHIP}/{kind}"
        )
        + f'" Target="{target}"/>'
        for index, (kind, target) in enumerate(targets, start=1)
    )
    return (
        _XML_DECLARATION
        + f'<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">{listed}</Relationships>'.encode()
    )


def _sheet_reference(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _workbook(summary: str, sheet: str, date1904: bool, filtered: str) -> bytes:
    properties = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    return (
        _XML_DECLARATION
        + (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIP}">{properties}<bookViews>'
            '<workbookView activeTab="0"/></bookViews><sheets>'
            f'<sheet name="{escape(summary)}" sheetId="1" r:id="rId1"/>'
            f'<sheet name="{escape(sheet)}" sheetId="2" r:id="rId2"/></sheets><definedNames>'
            '<definedName name="_xlnm._FilterDatabase" localSheetId="1" hidden="1">'
            f"{escape(filtered, quote=False)}</definedName></definedNames></workbook>"
        ).encode()
    )


def _content_types(*, comments: bool, strings: bool, theme: bool) -> bytes:
    overrides = [
        ("/xl/workbook.xml", f"{_SPREADSHEET_TYPE}.sheet.main+xml"),
        ("/xl/worksheets/sheet1.xml", f"{_SPREADSHEET_TYPE}.worksheet+xml"),
        ("/xl/worksheets/sheet2.xml", f"{_SPREADSHEET_TYPE}.worksheet+xml"),
        ("/xl/styles.xml", f"{_SPREADSHEET_TYPE}.styles+xml"),
    ]
    if strings:
        overrides.append(("/xl/sharedStrings.xml", f"{_SPREADSHEET_TYPE}.sharedStrings+xml"))
    if theme:
        overrides.append(
            ("/xl/theme/theme1.xml", "application/vnd.openxmlformats-officedocument.theme+xml")
        )
    if comments:
        overrides.append(("/xl/comments1.xml", f"{_SPREADSHEET_TYPE}.comments+xml"))
    listed = "".join(
        f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in overrides
    )
    return (
        _XML_DECLARATION
        + (
            f'<Types xmlns="{_CONTENT_TYPES}"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Default Extension="vml" ContentType="application/'
            f'vnd.openxmlformats-officedocument.vmlDrawing"/>{listed}</Types>'
        ).encode()
    )


__all__ = [
    "COMPRESS_LEVEL",
    "WIDTH_SAMPLE_ROWS",
    "CellMark",
    "DeliveredSheet",
    "Marks",
    "SummaryTable",
    "UnsupportedWorkbookError",
    "fitted_width",
    "shown_width",
]
