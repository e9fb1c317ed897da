"""A workbook part read through ISA-L gives zipfile's bytes, and a broken one fails as zipfile
fails; a zip written through ISA-L reads back whole, with ZIP64 sizes when asked."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import fastexcel
import openpyxl
import pytest

from tests.support.workbooks import write_workbook
from work_data_hub.cleaning.sheet_xml import marked_cells
from work_data_hub.cleaning.zip_parts import member_chunks, write_zip

SHEET = "xl/worksheets/sheet1.xml"


def _xml(rows: int) -> bytes:
    """Sheet-like XML that deflates as a sheet does, with digits no dictionary predicts."""
    rng = random.Random(rows)
    return b"".join(
        b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>P%07d</t></is></c>'
        b"</row>" % (row, row, rng.randrange(10**9), row, rng.randrange(10**7))
        for row in range(1, rows + 1)
    )


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _data_offset(path: Path, name: str) -> int:
    """Where ``name``'s stored bytes begin: after its local header, name and extra field."""
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(name).header_offset
    name_length, extra_length = struct.unpack_from("<HH", path.read_bytes(), offset + 26)
    return offset + 30 + name_length + extra_length


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_member_reads_as_zipfile_reads_it_in_chunks_of_the_size_asked(
    tmp_path: Path, compression: int
) -> None:
    """A stored member is zipfile's to read; a deflated one ISA-L's: the same bytes either way."""
    xml = _xml(5_000)
    path = _zip(tmp_path / "book.xlsx", {"a.xml": b"<a/>", SHEET: xml}, compression)
    with zipfile.ZipFile(path) as archive:
        for size in (4_096, 1 << 24):
            chunks = list(member_chunks(archive, SHEET, size))
            assert b"".join(chunks) == archive.read(SHEET) == xml
            assert {len(chunk) for chunk in chunks[:-1]} <= {size}
            assert 0 < len(chunks[-1]) <= size
        assert list(member_chunks(archive, "a.xml")) == [b"<a/>"]
        with pytest.raises(KeyError):
            next(member_chunks(archive, "missing.xml"))


def test_two_members_read_at_once_keep_their_places(tmp_path: Path) -> None:
    """The marked copy reads the shared strings while the sheet is half read."""
    sheet, strings = _xml(3_000), _xml(2_000)
    path = _zip(tmp_path / "book.xlsx", {SHEET: sheet, "xl/sharedStrings.xml": strings})
    with zipfile.ZipFile(path) as archive:
        sheet_chunks = member_chunks(archive, SHEET, 10_000)
        first = next(sheet_chunks)
        assert b"".join(member_chunks(archive, "xl/sharedStrings.xml", 7_000)) == strings
        assert archive.read("xl/sharedStrings.xml") == strings
        assert first + b"".join(sheet_chunks) == sheet


@pytest.mark.parametrize("spoil", ["crc", "stream cut short"])
def test_a_wrong_crc_is_zipfile_s_bad_crc_error(tmp_path: Path, spoil: str) -> None:
    path = _zip(tmp_path / "book.xlsx", {SHEET: _xml(2_000)})
    with zipfile.ZipFile(path) as archive:
        if spoil == "crc":
            archive.getinfo(SHEET).CRC ^= 1
        else:
            archive.getinfo(SHEET).compress_size -= 100
        said = f"Bad CRC-32 for file '{SHEET}'"
        with pytest.raises(zipfile.BadZipFile, match=said):
            archive.read(SHEET)
        with pytest.raises(zipfile.BadZipFile, match=said):
            list(member_chunks(archive, SHEET))


def test_a_size_other_than_the_directory_s_is_a_bad_zip_file(tmp_path: Path) -> None:
    path = _zip(tmp_path / "book.xlsx", {SHEET: _xml(2_000)})
    with zipfile.ZipFile(path) as archive:
        archive.getinfo(SHEET).file_size += 1
        with pytest.raises(zipfile.BadZipFile, match=f"Bad size for file '{SHEET}'"):
            list(member_chunks(archive, SHEET))


def test_a_corrupt_deflate_stream_is_a_zlib_error_naming_the_member(tmp_path: Path) -> None:
    path = _zip(tmp_path / "book.xlsx", {SHEET: _xml(2_000)})
    raw = bytearray(path.read_bytes())
    raw[_data_offset(path, SHEET)] = 0b111  # the last block, of the type deflate reserves
    path.write_bytes(raw)
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(zlib.error):
            archive.read(SHEET)
        with pytest.raises(zlib.error, match=f"'{SHEET}' cannot be inflated"):
            list(member_chunks(archive, SHEET))


def test_a_local_header_not_the_member_s_is_zipfile_s_error(tmp_path: Path) -> None:
    path = _zip(tmp_path / "book.xlsx", {SHEET: _xml(100)})
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(SHEET).header_offset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 4] = b"PK\x05\x06"
    path.write_bytes(raw)
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(zipfile.BadZipFile, match="Bad magic number for file header"):
            archive.read(SHEET)
        with pytest.raises(zipfile.BadZipFile, match="Bad magic number for file header"):
            list(member_chunks(archive, SHEET))


def test_a_sheet_with_a_wrong_crc_has_no_xml_to_look_at(tmp_path: Path) -> None:
    """As with zipfile's reader: every number is then read again as a float."""
    path = write_workbook(tmp_path / "book.xlsx", [["a", "b"], [1.5, 2.25]])
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(SHEET)
    raw = bytearray(path.read_bytes())
    for where in (info.header_offset + 14, *_directory_crcs(raw, SHEET)):
        struct.pack_into("<I", raw, where, info.CRC ^ 1)
    path.write_bytes(raw)
    marks = marked_cells(path, "Sheet1")
    assert marks.cells == [] and marks.long_numbers is None


def _directory_crcs(raw: bytearray, name: str) -> list[int]:
    """Where the central directory keeps ``name``'s CRC-32."""
    found, start = [], 0
    while (start := raw.find(b"PK\x01\x02", start)) >= 0:
        (length,) = struct.unpack_from("<H", raw, start + 28)
        if raw[start + 46 : start + 46 + length] == name.encode():
            found.append(start + 16)
        start += 4
    return found


@pytest.mark.parametrize("zip64", [False, True])
def test_a_written_zip_reads_back_whole(zip64: bool) -> None:
    big = _xml(20_000)
    target = io.BytesIO()
    parts = [(SHEET, (big[i : i + 100_000] for i in range(0, len(big), 100_000))), ("b", [b""])]
    write_zip(target, iter(parts), level=1, zip64=zip64)
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [SHEET, "b"]
        assert archive.read(SHEET) == big and archive.read("b") == b""
        info = archive.getinfo(SHEET)
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < len(big) / 2
        # ZIP64's extra field (id 1) holds the sizes in the central directory.
        assert (info.extra[:2] == b"\x01\x00") is zip64
        assert (info.extract_version >= 45) is zip64


@pytest.mark.parametrize("zip64", [False, True])
def test_a_written_workbook_opens_in_openpyxl_and_fastexcel(tmp_path: Path, zip64: bool) -> None:
    source = write_workbook(tmp_path / "source.xlsx", [["a", "b"], [1, "x"], [2, "y"]])
    target = tmp_path / "copy.xlsx"
    with zipfile.ZipFile(source) as archive, target.open("wb") as out:
        parts = ((name, member_chunks(archive, name)) for name in archive.namelist())
        write_zip(out, parts, level=1, zip64=zip64)
    assert [list(row) for row in openpyxl.load_workbook(target)["Sheet1"].values] == [
        ["a", "b"],
        [1, "x"],
        [2, "y"],
    ]
    frame = fastexcel.read_excel(target).load_sheet("Sheet1").to_polars()
    assert frame.rows() == [(1.0, "x"), (2.0, "y")]
