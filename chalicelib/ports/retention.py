"""Retention: erasing personal data when its time is up, and reading the skeletons that stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Protocol

from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.retention import RetentionFacts, RetentionPolicy
from chalicelib.domain.stats import Skeleton
from chalicelib.ports.changes import Change


class RetentionStore(Protocol):
    """Erasure of personal data and the skeleton reads (never the personal part)."""

    def on_erase_day(self, day: date) -> Iterator[RetentionFacts]:
        """Records whose stored erase_day is `day`, each read consistently."""
        ...

    def erase_expired(self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy) -> bool:
        """Erase the blob and blind index entry, leaving the skeleton, if the record is as `facts`
        says (same version, same erase_day, no live lease, owed to SI-DEP or not as read); False if
        it changed meanwhile."""
        ...

    def hold_until(self, facts: RetentionFacts, day: date) -> bool:
        """Move the stored erase_day of a record still owed to SI-DEP to `day`, if it is as `facts`
        says and still owed; False otherwise."""
        ...

    def erase_unsent(self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy) -> bool:
        """Cancel and erase a record nothing of which was sent, if its version is still
        `record.version` and still nothing was sent; False otherwise."""
        ...

    def erase_expired_change(
        self, facts: RetentionFacts, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        """`erase_expired` as a Change for the journal's transaction (ChangedMeanwhile if it changed)."""
        ...

    def erase_unsent_change(
        self, record: ScreeningRecord, *, now: datetime, policy: RetentionPolicy
    ) -> Change:
        """`erase_unsent` as a Change for the journal's transaction (ChangedMeanwhile if it changed)."""
        ...

    def day_skeletons(self, finess: str, day: date) -> list[Skeleton]:
        """The pharmacy's records of one day (by sample day), skeleton fields only."""
        ...
