"""The JSON bodies of the answers whose use cases return domain values (chalicelib/domain/outcomes.py,
chalicelib/ports/): rendered here, at the edge, in one place. Records render through
chalicelib/domain/serialization.py and delivery states through chalicelib/domain/delivery.py."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.domain.delivery import delivery_view
from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.outcomes import (
    InvitedMember,
    LoginStarted,
    OnboardedPharmacy,
    PharmacySettings,
    SessionGranted,
)
from chalicelib.ports import PublishedKey


def pharmacy(onboarded: OnboardedPharmacy) -> dict[str, str]:
    return asdict(onboarded)


def member(invited: InvitedMember) -> dict[str, str | None]:
    body: dict[str, str | None] = {"username": invited.username}
    if invited.national_id is not None:
        body["national_id"] = invited.national_id
    else:
        body["email"] = invited.email
    body.update({"role": invited.role.value, "finess": invited.finess})
    return body


def pharmacy_settings(settings: PharmacySettings) -> dict[str, Any]:
    return asdict(settings)


def login_started(started: LoginStarted) -> dict[str, Any]:
    return asdict(started)


def session(granted: SessionGranted) -> dict[str, Any]:
    return {"access_token": granted.access_token, "token_type": "Bearer", "expires_in": granted.expires_in}


def public_key(published: PublishedKey) -> dict[str, str]:
    return asdict(published)


def delivery(record: ScreeningRecord) -> dict[str, Any]:
    return delivery_view(record)
