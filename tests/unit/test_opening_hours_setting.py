"""The pharmacy's declared opening hours, a setting of its own admins (the journal review's
outside-hours detector reads them): set, cleared, with psc_required in one write, refused to the
platform, every error naming its field and echoing nothing."""

from __future__ import annotations

import pytest

from chalicelib.domain.commands import ReadPharmacySettings
from chalicelib.domain.errors import Forbidden, ValidationFailed
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import RequestMeta
from chalicelib.services import admin, team
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeDirectory,
    FakeJournal,
    FakeMemberships,
    FakePharmacies,
    FakeUsers,
    pharmacy_command,
    settings_command,
)

PHARMACY = "750000010"
OPERATOR = Principal(username="operator", role=Role.PLATFORM_ADMIN, finess=None)
OWNER = Principal(username="owner", role=Role.PHARMACY_ADMIN, finess=PHARMACY)
META = RequestMeta(request_id="r-1")
HOURS = {"mon": ["14:00-19:30", "08:30-12:30"], "sat": ["09:00-18:00"]}


def onboarded() -> admin.AdminDeps:
    d = admin.AdminDeps(
        pharmacies=FakePharmacies(),
        memberships=FakeMemberships(),
        users=FakeUsers(),
        journal=FakeJournal(),
        directory=FakeDirectory({}),
    )
    admin.onboard_pharmacy(
        d, Call(OPERATOR, META), pharmacy_command({"finess": PHARMACY, "name": "Pharmacie du Port"})
    )
    return d


def test_a_pharmacys_admin_declares_its_hours_normalised_and_reads_them_back() -> None:
    d = onboarded()
    state = admin.set_pharmacy_settings(
        d, Call(OWNER, META), settings_command(PHARMACY, {"opening_hours": HOURS})
    )
    expected = {"mon": ["08:30-12:30", "14:00-19:30"], "sat": ["09:00-18:00"]}
    assert state.opening_hours == expected and state.psc_required is False
    overview = team.read_pharmacy_settings(d, Call(OWNER, META), ReadPharmacySettings(PHARMACY))
    assert overview.opening_hours == expected
    assert isinstance(d.journal, FakeJournal)
    (event,) = [e for e in d.journal.events if e.action == "set_pharmacy_settings"]
    assert (event.finess, event.reason) == (PHARMACY, "opening_hours=declared")


def test_null_clears_the_hours_and_a_body_without_them_leaves_them() -> None:
    d = onboarded()
    admin.set_pharmacy_settings(d, Call(OWNER, META), settings_command(PHARMACY, {"opening_hours": HOURS}))
    kept = admin.set_pharmacy_settings(
        d, Call(OWNER, META), settings_command(PHARMACY, {"psc_required": False})
    )
    assert kept.opening_hours is not None
    cleared = admin.set_pharmacy_settings(
        d, Call(OWNER, META), settings_command(PHARMACY, {"opening_hours": None})
    )
    assert cleared.opening_hours is None


def test_the_platform_may_not_declare_or_clear_a_pharmacys_hours() -> None:
    # clearing them would silence the review's outside-hours alert
    d = onboarded()
    admin.set_pharmacy_settings(d, Call(OWNER, META), settings_command(PHARMACY, {"opening_hours": HOURS}))
    with pytest.raises(Forbidden):
        admin.set_pharmacy_settings(
            d, Call(OPERATOR, META), settings_command(PHARMACY, {"opening_hours": None})
        )
    overview = team.read_pharmacy_settings(d, Call(OWNER, META), ReadPharmacySettings(PHARMACY))
    assert overview.opening_hours is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "psc_required"),
        ({"opening_hours": {"mon": ["19:30-08:30"]}}, "opening_hours.mon"),
        ({"opening_hours": {"mon": "08:30-19:30"}}, "opening_hours.mon"),
        ({"opening_hours": {"mon": ["8:30-19:30"]}}, "opening_hours.mon"),
        ({"opening_hours": {"mon": ["08:00-09:00"] * 5}}, "opening_hours.mon"),
        ({"opening_hours": {"monday": ["08:00-09:00"]}}, "opening_hours.monday"),
        ({"opening_hours": ["08:00-09:00"]}, "opening_hours"),
    ],
)
def test_malformed_hours_are_refused_naming_the_field_never_the_value(body: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        settings_command(PHARMACY, body)
    fields = [error.field for error in refused.value.errors]
    assert field in fields
    assert "19:30-08:30" not in str(refused.value.errors) and "8:30-19:30" not in str(refused.value.errors)
