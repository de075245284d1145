"""A membership is (professional, pharmacy), vouched for by the national directory: no pharmacy can
take a Pro Santé Connect professional's place at the pharmacy the directory lists them at."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.models import AuditEventModel, MemberModel
from chalicelib.domain.model import Role
from chalicelib.domain.psc import psc_username
from chalicelib.ports import Membership
from devtools import fake_psc
from tests.conftest import PHARMACY_A, PHARMACY_B
from tests.psc import PscWorld, identity

AT_A = "810000000501"  # the directory lists them as a pharmacist at A
AT_BOTH = "810000000502"  # at A and at B


def _invite(psc: PscWorld, caller: str, finess: str, national_id: str) -> Any:
    return psc.world.call(
        "POST",
        f"/v1/admin/pharmacies/{finess}/members",
        caller,
        {"national_id": national_id, "role": "pharmacist"},
    )


def _stored_finess(national_id: str) -> str | None:
    try:
        return str(MemberModel.get(psc_username(national_id)).finess)
    except MemberModel.DoesNotExist:
        return None


def _events(chain: str, action: str) -> list[dict[str, Any]]:
    return [e.event for e in AuditEventModel.query(chain) if e.event["action"] == action]


def test_another_pharmacy_cannot_squat_a_pharmacist_by_national_id(psc: PscWorld) -> None:
    # It could: B's admin invited A's pharmacist (201), and A then got 409 for its own staff.
    psc.fake.identities.append(identity(AT_A))
    squat = _invite(psc, "admin-b", PHARMACY_B, AT_A)
    assert squat.status_code == 403, squat.body
    assert AT_A not in squat.body.decode()
    assert _stored_finess(AT_A) is None
    assert [e["outcome"] for e in _events(PHARMACY_B, "invite_member")] == ["denied"]
    own = _invite(psc, "admin-a", PHARMACY_A, AT_A)
    assert own.status_code == 201, own.body
    assert _stored_finess(AT_A) == PHARMACY_A


def test_a_squat_stored_before_the_check_moves_to_the_pharmacy_the_directory_lists(psc: PscWorld) -> None:
    psc.fake.identities.append(identity(AT_A))
    from chalicelib.bootstrap import get_container

    get_container().memberships.add(
        Membership(psc_username(AT_A), Role.PHARMACIST, PHARMACY_B, national_id=AT_A), created_by="admin-b"
    )
    moved = _invite(psc, "admin-a", PHARMACY_A, AT_A)
    assert moved.status_code == 201, moved.body
    assert _stored_finess(AT_A) == PHARMACY_A
    # both pharmacies see it, each on its own chain
    assert "moved from" in _events(PHARMACY_A, "invite_member")[-1]["reason"]
    assert [e["actor"] for e in _events(PHARMACY_B, "member_moved")] == ["admin-a"]
    # and the professional logs in at A, where the directory vouches for them
    assert psc.call("GET", "/v1/tests?date=2026-11-29", psc.token(AT_A)).status_code == 200


def test_a_token_vouched_at_the_pharmacy_they_left_is_refused_where_they_moved(psc: PscWorld) -> None:
    psc.fake.identities.append(identity(AT_A, finess=(PHARMACY_B,)))
    assert _invite(psc, "admin-b", PHARMACY_B, AT_A).status_code == 201
    at_b = psc.token(AT_A)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", at_b).status_code == 200
    psc.set_identity(AT_A, professions=[{"code": "21", "finess": [PHARMACY_A]}])  # they left B for A
    assert _invite(psc, "admin-a", PHARMACY_A, AT_A).status_code == 201
    assert psc.call("GET", "/v1/tests?date=2026-11-29", at_b).status_code == 401
    assert psc.call("GET", "/v1/tests?date=2026-11-29", psc.token(AT_A)).status_code == 200


def test_a_membership_the_directory_also_vouches_for_stays_and_the_answer_says_why(psc: PscWorld) -> None:
    psc.fake.identities.append(identity(AT_BOTH, finess=(PHARMACY_A, PHARMACY_B)))
    assert _invite(psc, "admin-b", PHARMACY_B, AT_BOTH).status_code == 201
    second = _invite(psc, "admin-a", PHARMACY_A, AT_BOTH)
    assert second.status_code == 409
    assert "also lists them" in json.loads(second.body)["detail"]
    assert _stored_finess(AT_BOTH) == PHARMACY_B


def test_an_invitation_when_the_directory_cannot_answer_is_a_503_and_stores_nothing(
    psc: PscWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    psc.fake.identities.append(identity(AT_A))
    # the directory refuses our API key (rotated in the ANS's portal without telling us)
    monkeypatch.setattr(fake_psc, "DIRECTORY_API_KEY", "rotated-without-telling-us")
    response = _invite(psc, "admin-a", PHARMACY_A, AT_A)
    assert response.status_code == 503, response.body
    assert _stored_finess(AT_A) is None


def test_a_bare_rpps_sent_as_national_id_is_not_a_second_membership_of_the_professional(
    psc: PscWorld,
) -> None:
    """The directory finds a Practitioner by any of its identifiers, the RPPS too, and the check
    accepted one carrying the value sent anywhere: B invited A's pharmacist as `10000000502` (their
    RPPS without the 8) and got 201, a second membership `psc-10000000502` beside A's, sidestepping
    the 409 of a professional listed at both (and a platform's first admin invited so could never
    log in, PSC naming them 810000000502). The national identifier is the IDNPS, nothing else."""
    psc.fake.identities.append(identity(AT_BOTH, finess=(PHARMACY_A, PHARMACY_B)))
    assert _invite(psc, "admin-a", PHARMACY_A, AT_BOTH).status_code == 201
    bare_rpps = AT_BOTH[1:]
    sidestep = _invite(psc, "admin-b", PHARMACY_B, bare_rpps)
    assert sidestep.status_code == 403, sidestep.body
    assert bare_rpps not in sidestep.body.decode()
    assert _stored_finess(bare_rpps) is None
    by_rpps = psc.world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_B}/members",
        "admin-b",
        {"rpps": bare_rpps, "role": "pharmacist"},
    )
    assert by_rpps.status_code == 409  # the same professional: one membership, as the rule says
    assert _stored_finess(AT_BOTH) == PHARMACY_A


def test_a_token_vouched_before_a_move_there_and_back_stays_refused(psc: PscWorld) -> None:
    """A→B→A: the membership names A again, as the old token does, but it was issued before the
    moves; each move's "tokens not before" is later than any token of the membership it replaces."""
    psc.fake.identities.append(identity(AT_A))
    assert _invite(psc, "admin-a", PHARMACY_A, AT_A).status_code == 201
    psc.advance(2)
    at_a = psc.token(AT_A)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", at_a).status_code == 200
    psc.set_identity(AT_A, professions=[{"code": "21", "finess": [PHARMACY_B]}])
    assert _invite(psc, "admin-b", PHARMACY_B, AT_A).status_code == 201
    psc.set_identity(AT_A, professions=[{"code": "21", "finess": [PHARMACY_A]}])
    assert _invite(psc, "admin-a", PHARMACY_A, AT_A).status_code == 201  # same second as the first move
    assert _stored_finess(AT_A) == PHARMACY_A
    assert psc.call("GET", "/v1/tests?date=2026-11-29", at_a).status_code == 401
    psc.advance(2)
    assert psc.call("GET", "/v1/tests?date=2026-11-29", psc.token(AT_A)).status_code == 200
