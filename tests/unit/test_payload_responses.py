"""Each response body is rendered from its declaration (chalicelib/payloads/responses.py), byte for
byte as the hand-written renderers it replaced rendered it (tests/unit/response_bodies.json holds
their output), and validates against the schema the document publishes for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chalicelib import payloads
from chalicelib.domain import delivery, model
from chalicelib.domain.delivery import BackoffPolicy
from chalicelib.domain.model import Role, ScreeningResult
from chalicelib.domain.outcomes import (
    InvitedMember,
    LoginStarted,
    OnboardedPharmacy,
    PharmacySettings,
    SessionGranted,
)
from chalicelib.ports import PublishedKey
from chalicelib.schema import Shape
from testkit.patients import PATIENTS, ins_body, patient

BODIES = Path(__file__).with_name("response_bodies.json")
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = BackoffPolicy(max_attempts=2)


def _record(index: int, result: ScreeningResult | None = ScreeningResult.NEGATIVE) -> model.ScreeningRecord:
    sampled = datetime(2026, 11, 29, 11, 15, 30, 123456, tzinfo=timezone(timedelta(hours=1)))
    return model.ScreeningRecord(
        id=f"0000000{index}-0000-4000-8000-000000000000",
        finess="750000010",
        patient=patient(index),
        test=model.ScreeningTest(model.ScreeningKind.ANTIGEN, "1232", sampled, result),
        status=model.RecordStatus.PENDING,
        created_at=NOW,
        updated_at=NOW + timedelta(seconds=1, microseconds=5),
        created_by="pharmacist-a",
    )


def _ins_record() -> model.ScreeningRecord:
    submission = payloads.parse_submission(ins_body(1), now=NOW, max_age_days=7)
    record = _record(1)
    record.patient = submission.patient
    return record


def _in_state(step: str) -> model.ScreeningRecord:
    """A record on its way to SI-DEP, at `step` (queued, sending, retrying, rejected, acknowledged)."""
    record = _record(2)
    delivery.schedule_send(record, NOW)
    if step != "queued":
        delivery.lease(record, NOW, NOW + timedelta(minutes=2))
    if step == "retrying":
        delivery.transport_failed(record, "http 503", NOW, POLICY, Random(1).random)
    elif step == "rejected":
        delivery.reject(record, delivery.rejection_reason("AE", "207"), NOW)
    elif step == "acknowledged":
        delivery.acknowledge(record, NOW + timedelta(minutes=1), "AA")
    return record


class _Page:
    def __init__(self, items: list[model.ScreeningRecord], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor


def cases() -> list[tuple[str, Shape[Any], Any]]:
    """(name, declaration, domain value) for every body the edge renders from a domain value."""
    found: list[tuple[str, Shape[Any], Any]] = []
    for index in range(len(PATIENTS)):
        found.append((f"record-{index}", payloads.RECORD, _record(index)))
    found += [
        ("record-ins", payloads.RECORD, _ins_record()),
        ("record-pending", payloads.RECORD, _record(3, result=None)),
        ("record-no-patient", payloads.RECORD, _without_patient()),
        ("page", payloads.RECORD_PAGE, _Page([_record(0), _record(1)], "eyJrIjoxfQ==")),
        ("page-last", payloads.RECORD_PAGE, _Page([], None)),
    ]
    for step in ("queued", "sending", "retrying", "rejected", "acknowledged"):
        found.append((f"delivery-{step}", payloads.DELIVERY, _in_state(step)))
    found += [
        ("pharmacy", payloads.PHARMACY, OnboardedPharmacy("750000010", "Pharmacie", "Europe/Paris")),
        (
            "member-email",
            payloads.MEMBER,
            InvitedMember("u-1", Role.PHARMACIST, "750000010", email="a@example.org"),
        ),
        (
            "member-psc",
            payloads.MEMBER,
            InvitedMember("u-2", Role.PHARMACY_ADMIN, "750000010", national_id="810000000001"),
        ),
        ("settings", payloads.PHARMACY_SETTINGS_STATE, PharmacySettings("750000010", True)),
        ("login", payloads.PSC_LOGIN, LoginStarted("handle", "A1B2", 120, 5)),
        ("session", payloads.PSC_TOKEN, SessionGranted("session-token", 900)),
        ("public-key", payloads.AUDIT_PUBLIC_KEY, PublishedKey("k", "ECDSA_SHA_256", "PEM", "ab12")),
    ]
    return found


def _without_patient() -> model.ScreeningRecord:
    record = _record(0)
    record.patient = None
    return record


def _wire(body: Any) -> str:
    """The body as Chalice puts it on the wire."""
    return json.dumps(body, separators=(",", ":"))


@pytest.mark.parametrize(("name", "shape", "value"), cases(), ids=[case[0] for case in cases()])
def test_a_body_renders_byte_for_byte_as_before(name: str, shape: Shape[Any], value: Any) -> None:
    assert _wire(shape.render(value)) == json.loads(BODIES.read_text(encoding="utf-8"))[name]


@pytest.mark.parametrize(("name", "shape", "value"), cases(), ids=[case[0] for case in cases()])
def test_a_rendered_body_validates_against_its_published_schema(
    name: str, shape: Shape[Any], value: Any
) -> None:
    schema = {
        "$ref": f"#/components/schemas/{shape.name}",
        "components": {"schemas": payloads.component_schemas()},
    }
    Draft202012Validator(schema).validate(shape.render(value))


def test_a_rendered_body_renders_to_itself() -> None:
    """A service that still hands the edge a body it built (a mapping) gets it back unchanged."""
    for _name, shape, value in cases():
        body = shape.render(value)
        assert _wire(shape.render(body)) == _wire(body)
