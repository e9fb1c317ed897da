"""Versioned files a domain without a delivery does not write (docs/contract.md, Discovery).

A domain whose inbox holds nothing to read still runs its nodes (Kedro stops the whole run on a
node's error, so "no delivery" cannot be one), and its plan and rejects datasets are handed a
value that says so. Their ``save`` then writes nothing; Kedro's check after a versioned save,
which compares the newest version on disk with the one just saved, is told that this save's
version is the one to compare with, so it neither fails (no earlier version) nor warns (an
earlier version from another run).
"""

from __future__ import annotations


class WritesNothingWithoutDelivery:
    """Mixin for an ``AbstractVersionedDataset`` whose ``save`` may skip a no-delivery value.

    The dataset calls :meth:`_skip_save` instead of writing; ``last_skipped`` tells the run
    report that it did.
    """

    last_skipped: bool = False

    def _skip_save(self) -> None:
        self.last_skipped = True

    def _wrote(self) -> None:
        self.last_skipped = False

    def resolve_load_version(self) -> str | None:
        if self.last_skipped:
            # Nothing was written: there is no newer version to load than the one not saved.
            saved: str | None = self.resolve_save_version()  # type: ignore[attr-defined]
            return saved
        loaded: str | None = super().resolve_load_version()  # type: ignore[misc]
        return loaded
