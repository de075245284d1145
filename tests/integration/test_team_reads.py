"""The team's reads on DynamoDB (moto): a pharmacy's members come from the by_pharmacy index, never a
scan of the members table (which holds every pharmacy's), with who invited them and when; one
member is a key condition on that index; the count is the index's."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships, DynamoDbPharmacies
from chalicelib.adapters.dynamodb.models import MemberModel
from chalicelib.domain.model import Role
from chalicelib.ports import Membership

A, B = "750000010", "130000029"


def test_members_are_read_by_their_pharmacys_key_never_by_a_scan(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SystemClock()
    pharmacies, members = DynamoDbPharmacies(clock), DynamoDbMemberships(clock)
    for finess in (A, B):
        pharmacies.add(finess, f"Pharmacie {finess}", created_by="operator")
    members.add(Membership("owner-a", Role.PHARMACY_ADMIN, A), created_by="operator")
    members.add(Membership("u-1", Role.PHARMACIST, A), created_by="owner-a")
    members.add(Membership("owner-b", Role.PHARMACY_ADMIN, B), created_by="operator")
    members.add(Membership("operator", Role.PLATFORM_ADMIN, None), created_by="deployment")

    def no_scan(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the members table is never scanned")

    monkeypatch.setattr(MemberModel, "scan", no_scan)
    team = members.members_of(A)
    assert [(m.membership.username, m.invited_by) for m in team] == [
        ("owner-a", "operator"),
        ("u-1", "owner-a"),
    ]
    assert all(m.invited_at.endswith("Z") for m in team)
    assert [m.membership.username for m in members.members_of(A, username="U-1")] == ["u-1"]
    assert members.members_of(A, username="owner-b") == []
    assert members.members_of(A, username="x" * 200) == []
    assert (members.count_members(A), members.count_members(B), members.count_members("690000013")) == (
        2,
        1,
        0,
    )
    entry = pharmacies.entry(A)
    assert entry is not None and (entry.time_zone, entry.psc_required) == ("Europe/Paris", False)
    assert pharmacies.entry("690000013") is None
    assert [e.finess for e in pharmacies.entries()] == [B, A]
