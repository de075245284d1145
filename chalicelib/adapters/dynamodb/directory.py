"""Pharmacies and memberships: who belongs where, with which role (read on every request)."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.errors import dynamodb_errors, is_conditional_failure
from chalicelib.adapters.dynamodb.models import MemberModel, PharmacyModel
from chalicelib.domain.errors import Conflict
from chalicelib.domain.model import Role
from chalicelib.domain.serialization import iso_utc
from chalicelib.services.ports import Clock, Membership


class DynamoDbPharmacies:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def add(self, finess: str, name: str, *, created_by: str) -> None:
        item = PharmacyModel(finess, name=name, created_at=iso_utc(self._clock.now()), created_by=created_by)
        with dynamodb_errors():
            try:
                item.save(condition=PharmacyModel.finess.does_not_exist())
            except PutError as exc:
                if is_conditional_failure(exc):
                    raise Conflict("This pharmacy is already onboarded.") from exc
                raise

    def exists(self, finess: str) -> bool:
        with dynamodb_errors():
            return PharmacyModel.count(finess, limit=1) > 0


class DynamoDbMemberships:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def get(self, username: str) -> Membership | None:
        with dynamodb_errors():
            try:
                item = MemberModel.get(username.lower(), consistent_read=True)
            except MemberModel.DoesNotExist:
                return None
        return Membership(username=item.username, role=Role(item.role), finess=item.finess)

    def add(self, membership: Membership, *, created_by: str) -> None:
        item = MemberModel(
            membership.username.lower(),
            role=membership.role.value,
            finess=membership.finess,
            created_at=iso_utc(self._clock.now()),
            created_by=created_by,
        )
        with dynamodb_errors():
            item.save()

    def remove(self, username: str) -> None:
        with dynamodb_errors():
            MemberModel(username.lower()).delete()
