"""The journal's automatic review: each pharmacy's detector state and declared opening hours
(chalicelib/domain/access_review.py, chalicelib/services/review.py). Alerts go through
chalicelib/ports/alerts.py."""

from __future__ import annotations

from typing import Protocol

from chalicelib.domain.access_review import ReviewState
from chalicelib.domain.opening_hours import OpeningHours


class ReviewStates(Protocol):
    def load(self, finess: str) -> tuple[ReviewState, int]:
        """The pharmacy's state and its version (a fresh state and 0 if none is stored; a stored state
        that no longer reads is a fresh one at its version, so the next save replaces it). Raises
        ServiceUnavailable if it cannot read."""
        ...

    def save(self, finess: str, state: ReviewState, *, version: int) -> bool:
        """Store `state` as version + 1 if the stored one is still `version`; False (nothing written)
        if another invocation saved since. Raises ServiceUnavailable if it cannot write."""
        ...


class PharmacyHours(Protocol):
    def opening_hours(self, finess: str) -> OpeningHours | None:
        """The hours the pharmacy declared, in its time zone; None if it declared none (or is unknown)."""
        ...
