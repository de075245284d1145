"""Pharmacies and memberships: who belongs where, with which role (read on every request)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.adapters.dynamodb.errors import dynamodb_errors, is_conditional_failure
from chalicelib.adapters.dynamodb.models import MemberModel, MembersByPharmacy, PharmacyModel, PscLoginModel
from chalicelib.domain.errors import Conflict, ConflictReason, Forbidden, NotFound
from chalicelib.domain.model import USERNAME_MAX_LENGTH, Role
from chalicelib.domain.pharmacy_day import zone_of_finess
from chalicelib.domain.serialization import iso_utc
from chalicelib.ports import Change, Clock, Membership, PharmacyEntry, PharmacyMember, PscLogin


class DynamoDbPharmacies:
    def __init__(
        self,
        clock: Clock,
        *,
        settings_max_age_seconds: float = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        # finess → (psc_required, when read on time.monotonic): the setting is read on every request
        # of a Cognito member; kept a while, a create stays two AWS round trips.
        self._settings: dict[str, tuple[bool, float]] = {}
        self._settings_max_age = settings_max_age_seconds

    def _new_item(self, finess: str, name: str, time_zone: str | None, created_by: str) -> PharmacyModel:
        return PharmacyModel(
            finess,
            name=name,
            time_zone=time_zone or zone_of_finess(finess),
            created_at=iso_utc(self._clock.now()),
            created_by=created_by,
        )

    def add_change(self, finess: str, name: str, *, time_zone: str | None = None, created_by: str) -> Change:
        item = self._new_item(finess, name, time_zone, created_by)
        return Change(
            write=lambda t: t.save(item, condition=PharmacyModel.finess.does_not_exist()),
            conflict=lambda _failed: Conflict(
                "This pharmacy is already onboarded.", reason=ConflictReason.PHARMACY_EXISTS
            ),
        )

    def add(self, finess: str, name: str, *, time_zone: str | None = None, created_by: str) -> None:
        item = self._new_item(finess, name, time_zone, created_by)
        with dynamodb_errors():
            try:
                item.save(condition=PharmacyModel.finess.does_not_exist())
            except PutError as exc:
                if is_conditional_failure(exc):
                    raise Conflict(
                        "This pharmacy is already onboarded.", reason=ConflictReason.PHARMACY_EXISTS
                    ) from exc
                raise

    def exists(self, finess: str) -> bool:
        with dynamodb_errors():
            return PharmacyModel.count(finess, limit=1) > 0

    def entry(self, finess: str) -> PharmacyEntry | None:
        with dynamodb_errors():
            try:
                return _entry(PharmacyModel.get(finess, consistent_read=True))
            except PharmacyModel.DoesNotExist:
                return None

    def entries(self) -> list[PharmacyEntry]:
        # the pharmacies table holds one small item per pharmacy and nothing else: listing them all
        # is what the platform asks, a scan of that table (paginated by PynamoDB)
        with dynamodb_errors():
            return sorted((_entry(item) for item in PharmacyModel.scan()), key=lambda entry: entry.finess)

    def psc_required(self, finess: str) -> bool:
        kept = self._settings.get(finess)
        if kept is not None and self._monotonic() - kept[1] < self._settings_max_age:
            return kept[0]
        with dynamodb_errors():
            try:
                item = PharmacyModel.get(finess, consistent_read=True, attributes_to_get=["psc_required"])
                required = bool(item.psc_required)
            except PharmacyModel.DoesNotExist:
                required = False
        self._settings[finess] = (required, self._monotonic())
        return required

    def set_psc_required_change(self, finess: str, required: bool, *, changed_by: str) -> Change:
        return self._settings_change(finess, [PharmacyModel.psc_required.set(required)], changed_by)

    def set_opening_hours_change(
        self,
        finess: str,
        hours: Mapping[str, Sequence[str]] | None,
        *,
        changed_by: str,
        psc_required: bool | None = None,
    ) -> Change:
        actions: list[Any] = [
            PharmacyModel.opening_hours.set(json.dumps(dict(hours), sort_keys=True))
            if hours is not None
            else PharmacyModel.opening_hours.remove()
        ]
        if psc_required is not None:
            actions.append(PharmacyModel.psc_required.set(psc_required))
        return self._settings_change(finess, actions, changed_by)

    def _settings_change(self, finess: str, actions: list[Any], changed_by: str) -> Change:
        """One UpdateItem of an onboarded pharmacy's settings, with who changed them and when."""
        item = PharmacyModel(finess)
        actions = [
            *actions,
            PharmacyModel.settings_changed_at.set(iso_utc(self._clock.now())),
            PharmacyModel.settings_changed_by.set(changed_by),
        ]

        def write(t: Any) -> None:
            t.update(item, actions=actions, condition=PharmacyModel.finess.exists())
            self._settings.pop(finess, None)  # this process reads the new value once it is written

        return Change(write=write, conflict=lambda _failed: NotFound("No such pharmacy."))


def _declared_hours(item: PharmacyModel) -> dict[str, list[str]] | None:
    try:
        hours = json.loads(item.opening_hours) if item.opening_hours else None
    except ValueError:
        return None
    return hours if isinstance(hours, dict) else None


def _entry(item: PharmacyModel) -> PharmacyEntry:
    return PharmacyEntry(
        finess=item.finess,
        name=item.name,
        time_zone=item.time_zone or zone_of_finess(item.finess),
        onboarded_at=item.created_at,
        psc_required=bool(item.psc_required),
        opening_hours=_declared_hours(item),
    )


class DynamoDbPharmacyZones:
    """Each pharmacy's zone, read once per process: it is fixed at onboarding and never changes, so
    the cache is never stale. A pharmacy without a stored zone (onboarded before zones were kept,
    or not onboarded at all) has its FINESS département's."""

    def __init__(self) -> None:
        self._zones: dict[str, str] = {}
        self._lock = threading.Lock()

    def time_zone(self, finess: str) -> str:
        zone = self._zones.get(finess)
        if zone is None:
            with dynamodb_errors():
                try:
                    item = PharmacyModel.get(finess, attributes_to_get=["finess", "time_zone"])
                    zone = item.time_zone or zone_of_finess(finess)
                except PharmacyModel.DoesNotExist:
                    return zone_of_finess(finess)  # not cached: it may be onboarded later
            with self._lock:
                self._zones[finess] = zone
        return zone


class DynamoDbMemberships:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def get(self, username: str) -> Membership | None:
        if len(username) > USERNAME_MAX_LENGTH:  # a path's username of any length: no key of ours
            return None
        with dynamodb_errors():
            try:
                item = MemberModel.get(username.lower(), consistent_read=True)
            except MemberModel.DoesNotExist:
                return None
        not_before = item.tokens_not_before
        return Membership(
            username=item.username,
            role=Role(item.role),
            finess=item.finess,
            national_id=item.national_id,
            tokens_not_before=None if not_before is None else int(not_before),
        )

    def _item(self, membership: Membership, created_by: str) -> MemberModel:
        now = self._clock.now()
        return MemberModel(
            membership.username.lower(),
            role=membership.role.value,
            finess=membership.finess,
            national_id=membership.national_id,
            created_at=iso_utc(now),
            created_by=created_by,
            # A membership accepts only tokens issued since it exists (services/auth.py): a token of
            # the same username from before (a revoked member invited again, elsewhere) is refused.
            # Whole seconds, as tokens carry: one issued in the creation's own second is accepted.
            tokens_not_before=int(now.timestamp()),
        )

    def add(self, membership: Membership, *, created_by: str) -> None:
        with dynamodb_errors():
            self._item(membership, created_by).save()

    def members_of(self, finess: str, *, username: str | None = None) -> list[PharmacyMember]:
        condition = None if username is None else MembersByPharmacy.username == username.lower()
        if username is not None and len(username) > USERNAME_MAX_LENGTH:
            return []
        with dynamodb_errors():
            return [
                PharmacyMember(
                    Membership(
                        username=item.username,
                        role=Role(item.role),
                        finess=item.finess,
                        national_id=item.national_id,
                    ),
                    invited_at=item.created_at,
                    invited_by=item.created_by,
                )
                for item in MemberModel.by_pharmacy.query(finess, range_key_condition=condition)
            ]

    def count_members(self, finess: str) -> int:
        with dynamodb_errors():
            return MemberModel.by_pharmacy.count(finess)

    def has_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        skip = None if other_than is None else other_than.lower()
        with dynamodb_errors():
            return any(
                member.role == Role.PHARMACY_ADMIN.value and member.username != skip
                for member in MemberModel.by_pharmacy.query(finess, attributes_to_get=["username", "role"])
            )

    def add_change(self, membership: Membership, *, created_by: str) -> Change:
        item = self._item(membership, created_by)
        return Change(
            write=lambda t: t.save(item, condition=MemberModel.username.does_not_exist()),
            conflict=lambda _failed: Conflict(
                "This user is already a member of a pharmacy.", reason=ConflictReason.ALREADY_MEMBER
            ),
        )

    def has_psc_admin(self, finess: str, *, other_than: str | None = None) -> bool:
        skip = None if other_than is None else other_than.lower()
        with dynamodb_errors():
            return any(
                member.role == Role.PHARMACY_ADMIN.value
                and member.national_id is not None
                and member.username != skip
                for member in MemberModel.by_pharmacy.query(
                    finess, attributes_to_get=["username", "role", "national_id"]
                )
            )

    def move_change(
        self,
        current: Membership,
        membership: Membership,
        *,
        created_by: str,
        first_admin: bool = False,
        leaves_no_admin: bool = False,
    ) -> Change:
        """One put over the same key, on condition that the stored membership is still `current`'s
        (same pharmacy, same role): a revocation or another move in between makes it a Conflict."""
        if current.username.lower() != membership.username.lower() or current.finess is None:
            raise Forbidden("Only a member's own membership moves.")
        if first_admin and (membership.role != Role.PHARMACY_ADMIN or not membership.finess):
            raise Forbidden("A pharmacy's first member is its pharmacy_admin.")
        item = self._item(membership, created_by)
        # tokens vouched for the pharmacy they leave are refused at the one they join
        item.tokens_not_before = int(self._clock.now().timestamp()) + 1
        condition = (MemberModel.finess == current.finess) & (MemberModel.role == current.role.value)
        pharmacy = PharmacyModel(membership.finess)

        def write(t: Any) -> None:
            if first_admin:
                t.update(
                    pharmacy,
                    actions=[PharmacyModel.first_admin.set(membership.username.lower())],
                    condition=PharmacyModel.finess.exists() & PharmacyModel.first_admin.does_not_exist(),
                )
            t.save(item, condition=condition)
            if leaves_no_admin:  # the platform's onboarding rule applies there again
                t.update(
                    PharmacyModel(current.finess),
                    actions=[PharmacyModel.first_admin.remove()],
                    condition=PharmacyModel.finess.exists(),
                )

        def conflict(failed: Sequence[int]) -> Exception:
            if first_admin and 0 in failed:
                return Conflict(
                    "The platform already invited this pharmacy's first pharmacy_admin.",
                    reason=ConflictReason.PHARMACY_HAS_ADMIN,
                )
            return Conflict(
                "This professional's membership changed meanwhile; retry.",
                reason=ConflictReason.CHANGED_MEANWHILE,
            )

        return Change(write=write, conflict=conflict)

    def add_first_admin_change(self, membership: Membership, *, created_by: str) -> Change:
        if membership.role != Role.PHARMACY_ADMIN or not membership.finess:
            raise Forbidden("A pharmacy's first member is its pharmacy_admin.")
        pharmacy = PharmacyModel(membership.finess)
        member = self._item(membership, created_by)

        def write(t: Any) -> None:
            t.update(
                pharmacy,
                actions=[PharmacyModel.first_admin.set(membership.username.lower())],
                condition=PharmacyModel.finess.exists() & PharmacyModel.first_admin.does_not_exist(),
            )
            t.save(member, condition=MemberModel.username.does_not_exist())

        return Change(
            write=write,
            conflict=lambda _failed: Conflict(
                "The platform already invited this pharmacy's first pharmacy_admin.",
                reason=ConflictReason.PHARMACY_HAS_ADMIN,
            ),
        )

    def revoke_change(self, membership: Membership, *, by: str) -> Change:
        def write(t: Any) -> None:
            # The revoker is still an admin of this pharmacy when the deletion commits: two admins
            # revoking each other at once cannot leave the pharmacy without one.
            t.condition_check(
                MemberModel,
                by.lower(),
                condition=(MemberModel.role == Role.PHARMACY_ADMIN.value)
                & (MemberModel.finess == membership.finess),
            )
            t.delete(
                MemberModel(membership.username.lower()), condition=MemberModel.finess == membership.finess
            )

        def conflict(failed: Sequence[int]) -> Exception:
            if 1 in failed:
                return NotFound("No such member of this pharmacy.")
            return Conflict(
                "Your own membership changed meanwhile; a pharmacy keeps at least one pharmacy_admin.",
                reason=ConflictReason.CHANGED_MEANWHILE,
            )

        return Change(write=write, conflict=conflict)

    def end_sessions(self, username: str, *, not_before: int) -> None:
        with dynamodb_errors():
            try:
                MemberModel(username.lower()).update(
                    actions=[MemberModel.tokens_not_before.set(not_before)],
                    # only ever later: an identity provider's event that arrives late never
                    # re-admits tokens a later logout ended
                    condition=MemberModel.username.exists()
                    & (
                        MemberModel.tokens_not_before.does_not_exist()
                        | (MemberModel.tokens_not_before < not_before)
                    ),
                )
            except UpdateError as exc:
                if not is_conditional_failure(exc):
                    raise  # no membership (nothing to end), or ended later already


class DynamoDbPscLogins:
    """PscLoginStore: one item per login in progress, gone after use or by TTL."""

    def add(self, login: PscLogin) -> None:
        item = PscLoginModel(
            login.handle_digest,
            auth_req_id=login.auth_req_id,
            username=login.username,
            national_id=login.national_id,
            finess=login.finess,
            interval=login.interval,
            next_poll_at=login.next_poll_at,
            login_expires_at=login.expires_at,
            refuse_at=login.refuse_at,
            expires_at=datetime.fromtimestamp(login.expires_at, UTC) + timedelta(hours=1),
        )
        with dynamodb_errors():
            item.save(condition=PscLoginModel.handle_digest.does_not_exist())

    def get(self, handle_digest: str) -> PscLogin | None:
        with dynamodb_errors():
            try:
                item = PscLoginModel.get(handle_digest, consistent_read=True)
            except PscLoginModel.DoesNotExist:
                return None
        return PscLogin(
            handle_digest=item.handle_digest,
            auth_req_id=item.auth_req_id,
            username=item.username,
            national_id=item.national_id,
            finess=item.finess,
            expires_at=float(item.login_expires_at),
            interval=int(item.interval),
            next_poll_at=float(item.next_poll_at),
            refuse_at=None if item.refuse_at is None else float(item.refuse_at),
        )

    def claim_poll(self, login: PscLogin, *, next_poll_at: float, interval: int) -> bool:
        with dynamodb_errors():
            try:
                PscLoginModel(login.handle_digest).update(
                    actions=[
                        PscLoginModel.next_poll_at.set(next_poll_at),
                        PscLoginModel.interval.set(interval),
                    ],
                    condition=PscLoginModel.next_poll_at == login.next_poll_at,
                )
            except UpdateError as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True

    def remove(self, handle_digest: str) -> None:
        with dynamodb_errors():
            try:
                PscLoginModel(handle_digest).delete()
            except DeleteError as exc:
                if not is_conditional_failure(exc):
                    raise
