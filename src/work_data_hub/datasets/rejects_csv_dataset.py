"""``OwnerOnlyCSVDataset``: kedro-datasets' ``pandas.CSVDataset``, files readable by the owner only.

Rejected rows carry the bad values themselves (names, amounts, account numbers), so like the
load plans they are created with mode 0600 rather than the umask's usual world-readable 0644.
"""

from __future__ import annotations

import os

import pandas as pd
from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import CSVDataset

from work_data_hub.datasets.owner_only import open_owner_only


class OwnerOnlyCSVDataset(CSVDataset):  # type: ignore[misc]
    """A ``pandas.CSVDataset`` whose local files are created with mode 0600. Catalog entry::

    "{domain}.rejects":
      type: work_data_hub.datasets.rejects_csv_dataset.OwnerOnlyCSVDataset
      filepath: data/08_reporting/rejects/{domain}.csv
      versioned: true
    """

    def save(self, data: pd.DataFrame) -> None:
        # The body of CSVDataset.save, with the file created 0600 first, so that there is no
        # moment where it is readable by others (a chmod after the write would leave one).
        # Not a super().save() call: that is Kedro's versioning wrapper again, which may pick a
        # new version timestamp and write elsewhere.
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._protocol == "file":
            os.close(open_owner_only(save_path))
        with self._fs.open(save_path, **self._fs_open_args_save) as fs_file:
            data.to_csv(path_or_buf=fs_file, **self._save_args)
        self._invalidate_cache()
