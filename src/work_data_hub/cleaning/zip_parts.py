"""A workbook's zip parts inflated by ISA-L (python-isal), not the standard zlib.

A big sheet's part is most of what reading a workbook costs, and ISA-L inflates it in a
fraction of zlib's time. Nothing of zipfile is replaced: other readers in the process
(openpyxl, pandas) use it too.

Reading keeps zipfile for what it alone knows: the directory, and every member that is not
plainly deflated. A deflated member is read from its local header on (checked as zipfile
checks it) and checked at its end as zipfile checks it, by its CRC-32, and by its size.

isal is imported where a member is read: importing this module costs nothing.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Generator
from typing import IO

CHUNK_BYTES = 1 << 24
# Compressed bytes read at a time: enough for a chunk at the ratio XML deflates by.
_READ_BYTES = 1 << 22
# General-purpose flags zipfile handles itself: encrypted, compressed patched data, strong
# encryption.
_FLAGS_ZIPFILE_HANDLES = 0x1 | 0x20 | 0x40
_UTF8_NAME = 0x800
# The zip format's local file header: signature, versions, flags, method, time, date, CRC-32,
# sizes, then the lengths of the name and of the extra field that follow it.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\003\004"
_FLAGS, _NAME_LENGTH, _EXTRA_LENGTH = 3, 10, 11


def member_chunks(
    archive: zipfile.ZipFile, name: str, chunk_bytes: int = CHUNK_BYTES
) -> Generator[bytes, None, None]:
    """``name``'s uncompressed bytes in chunks of ``chunk_bytes`` (the last one shorter).

    A deflated member of an archive opened from a file is inflated by ISA-L; any other is read
    by zipfile.

    Args:
        archive: The zip, open for reading.
        name: The member.
        chunk_bytes: The size of each chunk but the last.

    Raises:
        KeyError: The archive has no such member.
        zipfile.BadZipFile: The member's local header is not its own, or its CRC-32 or size
            is not the one the directory holds.
        zlib.error: The member's deflate stream is corrupt.
        EOFError: The file ends within the member.
    """
    info = archive.getinfo(name)
    if (
        info.compress_type != zipfile.ZIP_DEFLATED
        or info.flag_bits & _FLAGS_ZIPFILE_HANDLES
        or archive.filename is None
    ):
        with archive.open(info) as stream:
            while chunk := stream.read(chunk_bytes):
                yield chunk
        return
    # A handle of its own: members read at once (a sheet and its shared strings) keep their
    # places, and the archive's handle stays zipfile's.
    with open(archive.filename, "rb") as file:
        _skip_local_header(file, info)
        yield from _inflated(file, info, chunk_bytes)


def _skip_local_header(file: IO[bytes], info: zipfile.ZipInfo) -> None:
    """Place ``file`` at ``info``'s data, past a local header that zipfile would accept."""
    file.seek(info.header_offset)
    header = file.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("Truncated file header")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile("Bad magic number for file header")
    stored = file.read(fields[_NAME_LENGTH])
    if stored.decode("utf-8" if fields[_FLAGS] & _UTF8_NAME else "cp437") != info.orig_filename:
        raise zipfile.BadZipFile(
            f"File name in directory {info.orig_filename!r} and header {stored!r} differ."
        )
    file.seek(fields[_EXTRA_LENGTH], 1)


def _inflated(
    file: IO[bytes], info: zipfile.ZipInfo, chunk_bytes: int
) -> Generator[bytes, None, None]:
    """The raw deflate stream at ``file``'s place, inflated and checked (see member_chunks)."""
    from isal import isal_zlib  # noqa: PLC0415

    decompressor = isal_zlib.decompressobj(-zlib.MAX_WBITS)
    unread = info.compress_size
    crc = size = 0
    held: list[bytes] = []
    held_bytes = 0
    while not decompressor.eof:
        data = decompressor.unconsumed_tail
        if not data and unread:
            data = file.read(min(unread, _READ_BYTES))
            if not data:
                raise EOFError(f"the zip ends within {info.filename!r}")
            unread -= len(data)
        try:
            # With all the stream given (no data), what the decompressor still holds.
            piece = decompressor.decompress(data, chunk_bytes - held_bytes)
        except isal_zlib.error as exc:  # type: ignore[misc]  # a class; its stub says otherwise
            raise zlib.error(f"{info.filename!r} cannot be inflated: {exc}") from exc
        if not piece and not data:
            break  # the stream stops short of its end: the checks below say so
        crc = isal_zlib.crc32(piece, crc)
        size += len(piece)
        held.append(piece)
        held_bytes += len(piece)
        if held_bytes == chunk_bytes:
            yield b"".join(held)
            held, held_bytes = [], 0
    if held_bytes:
        yield b"".join(held)
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    if size != info.file_size:
        raise zipfile.BadZipFile(
            f"Bad size for file {info.filename!r}: {size} bytes, the directory says "
            f"{info.file_size}"
        )
