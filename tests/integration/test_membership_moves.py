"""A membership moves to the pharmacy the national directory lists the professional at only if it is
still the one that was read: a revocation or another move in between is a Conflict, and nothing is
written."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from chalicelib.adapters.dynamodb.models import MemberModel
from chalicelib.domain.errors import Conflict
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.psc import psc_username
from chalicelib.ports import Membership, MembershipRepository, RequestMeta
from chalicelib.services import admin
from chalicelib.services.call import Call
from testkit.fakes import FakeDirectory, invite_command, pharmacy_command
from tests.conftest import PHARMACY_A, PHARMACY_B, World

AT_A = "810000000601"
STALE = Membership(psc_username(AT_A), Role.PHARMACIST, PHARMACY_B, national_id=AT_A)


@dataclass
class StaleRead:
    """The memberships as read before another request changed this one."""

    inner: MembershipRepository

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get(self, username: str) -> Membership | None:
        return STALE if username == STALE.username else self.inner.get(username)


@pytest.mark.parametrize("meanwhile", ["revoked", "moved elsewhere", "made an admin"])
def test_a_membership_changed_since_it_was_read_does_not_move(world: World, meanwhile: str) -> None:
    from chalicelib.bootstrap import get_container

    deps = get_container().admin
    if meanwhile == "moved elsewhere":
        deps.memberships.add(replace(STALE, finess="690000013"), created_by="tests")
    elif meanwhile == "made an admin":
        deps.memberships.add(replace(STALE, role=Role.PHARMACY_ADMIN), created_by="tests")
    before = {m.username: (m.finess, m.role) for m in MemberModel.scan()}
    deps = replace(
        deps,
        memberships=StaleRead(deps.memberships),  # type: ignore[arg-type]
        directory=FakeDirectory({AT_A: {PHARMACY_A}}),
    )
    owner = Principal("admin-a", Role.PHARMACY_ADMIN, PHARMACY_A)
    with pytest.raises(Conflict):
        admin.invite_member(
            deps,
            Call(owner, RequestMeta()),
            invite_command(PHARMACY_A, {"national_id": AT_A, "role": "pharmacist"}),
        )
    assert {m.username: (m.finess, m.role) for m in MemberModel.scan()} == before


def test_the_platform_s_first_admin_moves_from_a_squat_and_marks_the_pharmacy(world: World) -> None:
    from chalicelib.adapters.dynamodb.models import PharmacyModel
    from chalicelib.bootstrap import get_container

    deps = get_container().admin
    operator = Principal("operator", Role.PLATFORM_ADMIN, None)
    new_finess = "690000013"
    admin.onboard_pharmacy(
        deps, Call(operator, RequestMeta()), pharmacy_command({"finess": new_finess, "name": "C"})
    )
    deps.memberships.add(STALE, created_by="squatter")  # at B, where the directory does not list them
    deps = replace(deps, directory=FakeDirectory({AT_A: {new_finess}}))
    body = {"national_id": AT_A, "role": "pharmacy_admin"}
    first = admin.invite_member(deps, Call(operator, RequestMeta()), invite_command(new_finess, body))
    stored = MemberModel.get(first.username)
    assert (stored.finess, stored.role) == (new_finess, "pharmacy_admin")
    assert PharmacyModel.get(new_finess).first_admin == first.username
