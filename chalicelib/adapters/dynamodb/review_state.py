"""The journal review's stores (chalicelib/ports/review.py): each pharmacy's detector state, one
item in the review state table written on its version, and the pharmacy's declared hours, read
from its item in the pharmacies table."""

from __future__ import annotations

import json

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.errors import dynamodb_errors, is_conditional_failure
from chalicelib.adapters.dynamodb.models import PharmacyModel, ReviewStateModel
from chalicelib.domain.access_review import ReviewState
from chalicelib.domain.audit_chain import format_time
from chalicelib.domain.opening_hours import OpeningHours, opening_hours
from chalicelib.domain.pharmacy_day import FRENCH_ZONES, zone_of_finess
from chalicelib.observability import logger
from chalicelib.ports import Clock


class DynamoDbReviewStates:
    """ReviewStates: one GetItem to load, one conditional PutItem to save (its version + 1)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def load(self, finess: str) -> tuple[ReviewState, int]:
        with dynamodb_errors():
            try:
                item = ReviewStateModel.get(finess, consistent_read=True)
            except ReviewStateModel.DoesNotExist:
                return ReviewState(), 0
        try:
            return ReviewState.from_json(item.state), int(item.version)
        except (TypeError, ValueError):
            # a state this code cannot read (an older shape): start afresh rather than stall the stream
            logger.warning("review state unreadable, started afresh", extra={"finess": finess})
            return ReviewState(), int(item.version)

    def save(self, finess: str, state: ReviewState, *, version: int) -> bool:
        item = ReviewStateModel(
            finess, version=version + 1, state=state.to_json(), saved_at=format_time(self._clock.now())
        )
        condition = (
            ReviewStateModel.finess.does_not_exist() if version == 0 else ReviewStateModel.version == version
        )
        with dynamodb_errors():  # PutError is a connection error to it: the condition is caught first
            try:
                item.save(condition=condition)
            except PutError as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True


class DynamoDbPharmacyHours:
    """PharmacyHours: one GetItem of the pharmacy's hours and zone."""

    def opening_hours(self, finess: str) -> OpeningHours | None:
        with dynamodb_errors():
            try:
                item = PharmacyModel.get(
                    finess, consistent_read=True, attributes_to_get=["opening_hours", "time_zone"]
                )
            except PharmacyModel.DoesNotExist:
                return None
        if not item.opening_hours:
            return None
        # a zone this code does not know would raise in every review of the pharmacy: its FINESS's
        time_zone = item.time_zone if item.time_zone in FRENCH_ZONES else zone_of_finess(finess)
        try:
            return opening_hours(json.loads(item.opening_hours), time_zone)
        except (TypeError, ValueError, AttributeError):
            logger.warning("pharmacy hours unreadable, detector off", extra={"finess": finess})
            return None
