"""A conditional write made in the journal's transaction, and what its failed condition means."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """One conditional write of a change, made in the same transaction as its audit event
    (`AuditJournal.append(event, changes)`): either both are stored, or neither."""

    write: Callable[[Any], None]  # registers the write on the adapter's transaction
    # The error to raise if a condition of the write fails, given which of its items failed (their
    # positions in the order `write` registered them).
    conflict: Callable[[Sequence[int]], Exception]


class ChangedMeanwhile(Exception):
    """A change's condition failed: the item is no longer as read (the caller may re-read)."""
