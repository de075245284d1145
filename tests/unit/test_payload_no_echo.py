"""No error of any parser ever quotes a submitted value."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.domain.errors import ValidationFailed
from chalicelib.payloads import (
    parse_audit_query,
    parse_invitation,
    parse_list_query,
    parse_pharmacy,
    parse_result_update,
    parse_uuid,
    validate_finess,
)
from testkit.patients import PATIENTS, personal_needles
from testkit.patients import screening_body as make_body
from tests.unit.payload_cases import NOW, TODAY, parse

# --- no error ever quotes a submitted value ---------------------------------------------------------------

# Distinctive values, each invalid in some way, for every field that takes text.
LEAKY_BODIES: list[dict[str, Any]] = [
    {
        "patient": {
            "nir": "1 84 12 76 451 089 46",  # wrong key
            "last_name": "Zyxwvutsrq<b>",
            "first_name": "Quixotelle9",
            "birth_date": "1884-12-31",
            "sex": "Androgynoid",
            "email": "quixotelle.zyx@@leak-example.org",
            "phone": "+33 7 99 88 77 66 55 44",
            "address": {"line": "77 impasse Zyxwvut\x01", "postal_code": "96123", "city": "Zyxville\x02"},
        },
        "test": {
            "kind": "quixotic-kind",
            "device_id": "98765x4321",
            "sampled_at": "2031-07-14T09:08:07",
            "result": "borderline-ish",
        },
    },
    {
        "patient": {
            "nir": "2 84 12 76 451 089 4X",  # letter
            "last_name": "Zyxwvutsrq" * 11,
            "first_name": "Quixo\u202etelle",
            "birth_date": "2084-13-45",
            "sex": "female",
            "email": "Quixotelle Zyx <quixotelle@leak-example.org>",
            "phone": "quixotelle-phone",
            "address": {"line": "Zyxwvut " * 40, "postal_code": "7512A", "city": "Zyxville" * 20},
        },
        "test": {
            "kind": "ANTIGEN-ZYX",
            "device_id": "98765432101234",
            "sampled_at": "2019-03-04T05:06:07+02:00",
        },
    },
    {
        "patient": {
            "nir": "2 95 10 99 126 111 93",  # valid, but disagrees with sex and birth date below
            "last_name": "Zyxwvutsrq",
            "first_name": "Quixotelle",
            "birth_date": "1977-04-03",
            "sex": "M",
            "email": "quixotelle@zyx",
            "phone": "06 99 88 77 66 ext 4321",
        },
        "test": {"kind": "antigen", "device_id": "9876543", "sampled_at": "2031-07-14T09:08:07+00:00"},
    },
]


def _strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings_in(item)]
    return []


def _needles(body: object) -> set[str]:
    """Every 6-character window of every submitted string (spaces dropped too): a truncated or
    partial quote is still a leak."""
    window = 6
    needles: set[str] = set()
    for text in _strings_in(body):
        for variant in (text, text.replace(" ", "")):
            needles |= {variant[i : i + window] for i in range(len(variant) - window + 1)}
    return {needle for needle in needles if needle.strip()}


@pytest.mark.parametrize("body", LEAKY_BODIES)
def test_no_error_message_contains_a_submitted_value(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(copy.deepcopy(body))
    failure = caught.value
    assert len(failure.errors) >= 5  # the bodies really exercise many rules
    texts = (
        [failure.detail, str(failure)]
        + [e.message for e in failure.errors]
        + [e.field for e in failure.errors]
    )
    rendered = json.dumps(
        [failure.detail] + [[e.field, e.message] for e in failure.errors], ensure_ascii=False
    )
    for needle in _needles(body):
        assert not any(needle in text for text in texts), "an error quotes a submitted value"
        assert needle not in rendered


def test_other_parsers_do_not_quote_values_either() -> None:
    bodies: list[tuple[Any, object]] = [
        (parse_pharmacy, {"finess": "75ZYXWVUT", "name": "Quixotelle\x00Pharma"}),
        (parse_pharmacy, {"finess": "7512345678901", "name": "Q" * 300}),
        (parse_invitation, {"email": "quixotelle@@zyxwvut.org", "role": "overlord-zyx"}),
        (parse_invitation, {"email": "Quixotelle Zyx <quixotelle@zyxwvut.org>", "role": "Zyxwvut-admin"}),
        (parse_result_update, {"result": "quixotic-result"}),
        (
            lambda b: parse_list_query(b, today=TODAY),
            {"date": "2026-19-45", "status": "zyxwvut", "limit": "98765", "cursor": "zyx/wvut+quixote"},
        ),
        (lambda b: parse_audit_query(b, now=NOW), {"from": "2031-07-14T09:08:07", "to": "quixotelle-to"}),
        (lambda b: validate_finess(b), "2Z7654321"),
        (lambda b: parse_uuid(b, "id"), "zyxwvut-quixotelle"),
    ]
    for parser, body in bodies:
        with pytest.raises(ValidationFailed) as caught:
            parser(body)
        texts = [caught.value.detail] + [e.message for e in caught.value.errors]
        for needle in _needles(body if isinstance(body, dict) else {"value": body}):
            assert not any(needle in text for text in texts)


@pytest.mark.parametrize("index", range(len(PATIENTS)))
def test_errors_about_test_patients_quote_none_of_their_values(index: int) -> None:
    body = make_body(index)
    # keep every personal value, but break the body around it so that many rules run
    body["patient"]["sex"] = "F" if body["patient"]["sex"] == "M" else "M"
    body["patient"]["birth_date"] = body["patient"]["birth_date"][:4] + "-13-01"
    body["patient"]["nir"] = body["patient"]["nir"][:-1] + ("0" if body["patient"]["nir"][-1] != "0" else "1")
    body["patient"]["unexpected"] = True
    body["test"]["sampled_at"] = "2026-11-29T10:15:00"
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    rendered = json.dumps([[e.field, e.message] for e in caught.value.errors] + [caught.value.detail])
    rendered_unicode = json.dumps([[e.field, e.message] for e in caught.value.errors], ensure_ascii=False)
    for needle in personal_needles():
        assert needle not in rendered
        assert needle not in rendered_unicode
