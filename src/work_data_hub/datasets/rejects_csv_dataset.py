"""``RejectsCSVDataset``: the rejected rows as a CSV file Excel opens and people can trust.

Rejected rows carry the bad values themselves (names, amounts, account numbers), so like the
load plans the file is created with mode 0600 rather than the umask's usual world-readable 0644.
It is UTF-8 with a byte-order mark, so Excel (also on a Chinese Windows) shows the names right,
and it reads back with every value as the text delivered: a bad value ``n/a`` stays ``n/a``, an
empty cell stays empty, nothing becomes ``NaN``. A text Excel would run as a formula
(``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``) is written with a leading single quote, and
so is a text that starts with one; ``load`` removes that quote again
(:mod:`work_data_hub.reports.spreadsheet_text`).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NewType

import polars as pl
from kedro.io import AbstractVersionedDataset, Version

from work_data_hub.datasets.no_delivery import WritesNothingWithoutDelivery
from work_data_hub.datasets.owner_only import open_owner_only
from work_data_hub.datasets.results import FileWritten
from work_data_hub.reports.spreadsheet_text import csv_escape, csv_escaped, csv_unescape

if TYPE_CHECKING:
    # pandas only to read the file back (notebooks, Kedro-Viz): a run writes it with polars.
    import pandas as pd

ENCODING = "utf-8-sig"  # UTF-8 with BOM: what Excel needs to recognise UTF-8
BOM = "\ufeff".encode()

# Kedro-Viz picks a preview's kind by the name of ``preview``'s return annotation.
TablePreview = NewType("TablePreview", dict[str, Any])


class RejectsCSVDataset(
    WritesNothingWithoutDelivery,
    AbstractVersionedDataset["pl.DataFrame | pd.DataFrame", "pd.DataFrame"],
):
    """Saves a DataFrame (polars or pandas) of rejected rows as an owner-only, versioned CSV.
    Catalog entry::

        "{domain}.rejects":
          type: work_data_hub.datasets.rejects_csv_dataset.RejectsCSVDataset
          filepath: data/08_reporting/rejects/{domain}.csv
          versioned: true

    ``load`` returns every column as text (``dtype=str``, no NA guessing), each value as it was
    saved (the quote that keeps a formula-like text from running removed). The last save's file
    is in ``last_written`` (see :mod:`work_data_hub.datasets.results`). A frame without any
    column is a domain without a delivery: nothing is written, ``last_written`` is None.

    Args:
        filepath: The CSV's path (a folder of versions when versioned).
        version: Kedro's load and save versions.
        metadata: Kedro's free-form metadata (Kedro-Viz shows it).

    Raises:
        DatasetError: On ``save``, the file cannot be written.
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath), version=version, exists_function=self._file_exists
        )
        self.metadata = metadata
        self.last_written: FileWritten | None = None

    @staticmethod
    def _file_exists(path: str) -> bool:
        return Path(path).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def load(self) -> pd.DataFrame:
        return self._read()

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first ``nrows`` rows for Kedro-Viz, as text exactly as written (like ``load``)."""
        return TablePreview(self._read(nrows).to_dict(orient="split"))

    def _read(self, nrows: int | None = None) -> pd.DataFrame:
        import pandas as pd  # noqa: PLC0415

        frame = pd.read_csv(
            self._get_load_path(), dtype=str, keep_default_na=False, encoding=ENCODING, nrows=nrows
        )
        return frame.map(csv_unescape)

    def save(self, data: pl.DataFrame | pd.DataFrame) -> None:
        if len(data.columns) == 0:
            self.last_written = None
            self._skip_save()
            return
        self._wrote()
        path = Path(self._get_save_path())
        # Created 0600 before the first byte, so the rows are never readable by others.
        with os.fdopen(open_owner_only(path), "wb") as handle:
            if isinstance(data, pl.DataFrame):
                texts = [name for name, dtype in data.schema.items() if dtype == pl.String]
                handle.write(BOM)
                data.with_columns(csv_escaped(name) for name in texts).write_csv(
                    handle, line_terminator="\n", quote_style="necessary"
                )
            else:
                escaped = data.map(
                    lambda value: csv_escape(value) if isinstance(value, str) else value
                )
                handle.write(escaped.to_csv(index=False, lineterminator="\n").encode(ENCODING))
        self.last_written = FileWritten(str(path))
