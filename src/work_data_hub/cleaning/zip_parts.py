"""A workbook's zip parts inflated and deflated by ISA-L (python-isal), not the standard zlib.

A big sheet's part is most of what reading a workbook and writing its marked copy cost, and
ISA-L inflates and deflates it in a fraction of zlib's time. Nothing of zipfile is replaced:
other readers in the process (openpyxl, pandas) use it too.

Reading keeps zipfile for what it alone knows: the directory, and every member that is not
plainly deflated. A deflated member is read from its local header on (checked as zipfile
checks it) and checked at its end as zipfile checks it, by its CRC-32, and by its size.
Writing goes through stream_zip, which takes ISA-L's compressor and writes each member as it
comes (its sizes and CRC-32 follow its data), so a sheet is never held whole.

isal and stream_zip are imported where a member is read or a zip written: importing this
module costs nothing.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Generator, Iterable
from datetime import datetime
from typing import IO, cast

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
# Written members: read and write for their owner only, as zipfile writes them.
_MEMBER_MODE = 0o600
_WRITE_BYTES = 1 << 20


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


def write_zip(
    target: IO[bytes], parts: Iterable[tuple[str, Iterable[bytes]]], *, level: int, zip64: bool
) -> None:
    """Write a zip of ``parts`` to ``target``, each deflated by ISA-L, as they come.

    Args:
        target: Where the zip goes.
        parts: Each member's name and its bytes in chunks, in the zip's order; each is asked
            for once the one before it is written.
        level: ISA-L's compression level (0-3).
        zip64: Whether a member or the zip may pass 4 GiB: every member then has ZIP64 sizes.

    Raises:
        stream_zip.ZipOverflowError: Without ``zip64``, a member or the zip passes 4 GiB.
    """
    from isal import isal_zlib  # noqa: PLC0415
    from stream_zip import ZIP_32, ZIP_64, stream_zip  # noqa: PLC0415

    method = ZIP_64 if zip64 else ZIP_32
    written = datetime.now()
    members = ((name, written, _MEMBER_MODE, method, chunks) for name, chunks in parts)

    def deflater() -> zlib._Compress:
        # ISA-L's compressor has zlib's interface; stream_zip's annotation names zlib's.
        return cast("zlib._Compress", isal_zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS))

    for chunk in stream_zip(
        members, chunk_size=_WRITE_BYTES, get_compressobj=deflater, extended_timestamps=False
    ):
        target.write(chunk)
