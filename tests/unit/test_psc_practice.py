"""What PSC's userinfo must show for a pharmacist to log in at a pharmacy (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.problems import status_and_title
from chalicelib.domain.psc import PscRefused, check_practice, read_practice

ME = "810000000017"
HERE = "750000010"


def userinfo(*exercices: dict[str, Any], name_id: str = ME) -> dict[str, Any]:
    return {"sub": "f:x", "SubjectNameID": name_id, "SubjectRefPro": {"exercices": list(exercices)}}


def exercice(code: str, *finess: str, field: str = "numeroFinessSite") -> dict[str, Any]:
    return {"codeProfession": code, "activities": [{field: f, "raisonSocialeSite": "X"} for f in finess]}


def test_a_pharmacist_with_an_activity_at_the_pharmacy_passes() -> None:
    check_practice(read_practice(userinfo(exercice("21", HERE))), national_id=ME, finess=HERE)


def test_the_legal_entity_finess_counts_too() -> None:
    info = userinfo(exercice("21", HERE, field="numeroFinessetablissementJuridique"))
    check_practice(read_practice(info), national_id=ME, finess=HERE)


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (userinfo(exercice("21", "130000029")), "no activity at this pharmacy in the directory"),
        (userinfo(exercice("10", HERE)), "not a pharmacist in the directory"),
        # an activity at the pharmacy under another profession does not make a pharmacist's activity
        (
            userinfo(exercice("10", HERE), exercice("21", "130000029")),
            "no activity at this pharmacy in the directory",
        ),
        (userinfo(exercice("21", HERE), name_id="810000000025"), "userinfo names another professional"),
        ({"sub": "f:x", "SubjectNameID": ME}, "not a pharmacist in the directory"),
        ({"SubjectRefPro": "garbage", "SubjectNameID": ME}, "not a pharmacist in the directory"),
        (userinfo({"codeProfession": 21, "activities": "x"}), "not a pharmacist in the directory"),
    ],
)
def test_anything_else_is_refused_with_a_fixed_reason(info: dict[str, Any], reason: str) -> None:
    with pytest.raises(PscRefused) as refused:
        check_practice(read_practice(info), national_id=ME, finess=HERE)
    assert refused.value.reason == reason
    assert status_and_title(refused.value) == (403, "Pro Santé Connect login refused")  # the edge's table
    assert "130000029" not in refused.value.detail
