"""The project's data catalog: Kedro's, with parameters held without importing pandas.

Kedro wraps each parameter in a ``MemoryDataset`` whose copy mode it infers on save, and the
inference imports pandas and numpy to ask whether the value is a DataFrame: half a second of
every ``kedro run``, although no node of a run uses pandas. A parameter is plain YAML data
(scalars, lists, mappings), whose inferred mode is always ``deepcopy``; this catalog states it.
Anything else is wrapped as Kedro does. Set as ``DATA_CATALOG_CLASS`` in ``settings.py``; the
intermediate datasets state their copy mode in ``conf/base/catalog.yml`` for the same reason.
"""

from __future__ import annotations

from typing import Any

from kedro.io import DataCatalog, MemoryDataset

PLAIN_DATA = (str, int, float, bool, type(None), list, tuple, dict)


class WorkDataHubCatalog(DataCatalog):
    """Kedro's ``DataCatalog``; raw values of plain YAML types are stored with ``deepcopy``."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, PLAIN_DATA):
            value = MemoryDataset(data=value, copy_mode="deepcopy")
        super().__setitem__(key, value)
