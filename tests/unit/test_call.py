"""The Call and its Audit: one request's events name its caller (or nobody), its metadata and the
chain they belong to, and a change goes in the same append as its event."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import Change, RequestMeta
from chalicelib.services.call import Audit, Call
from testkit.fakes import FakeJournal

META = RequestMeta(request_id="req-7", source_ip="203.0.113.7", user_agent="tests")
PHARMACIST = Principal("pharmacist-a", Role.PHARMACIST, "750000010")
OPERATOR = Principal("operator", Role.PLATFORM_ADMIN, None)


def _change(applied: list[str]) -> Change:
    def write(pending: list[Any]) -> None:
        pending.append(lambda: applied.append("written"))

    return Change(write=write, conflict=lambda _failed: AssertionError("no conflict expected"))


def test_an_event_names_the_caller_the_request_and_the_callers_pharmacy() -> None:
    journal = FakeJournal()
    Call(PHARMACIST, META).audit(journal).record("read", record_ids=["r-1"])
    (event,) = journal.events
    assert (event.action, event.outcome, event.actor, event.role) == (
        "read",
        "success",
        "pharmacist-a",
        "pharmacist",
    )
    assert (event.finess, event.record_ids, event.reason) == ("750000010", ("r-1",), "")
    assert (event.request_id, event.source_ip, event.user_agent) == ("req-7", "203.0.113.7", "tests")


def test_a_refusal_is_denied_with_its_reason_and_may_name_another_chain() -> None:
    journal = FakeJournal()
    audit = Call(OPERATOR, META).audit(journal)
    audit.deny("invite_member", "another pharmacy", finess="130000029")
    audit.deny("invite_member", "role")  # the platform admin's own chain: none named
    assert [(e.outcome, e.finess, e.reason) for e in journal.events] == [
        ("denied", "130000029", "another pharmacy"),
        ("denied", None, "role"),
    ]


def test_before_anyone_is_identified_the_event_is_anonymous_until_a_member_is_named() -> None:
    journal = FakeJournal()
    anonymous = Audit(journal, META)
    anonymous.deny("authenticate", "login kind")
    anonymous.by(PHARMACIST).record("psc_login")
    assert [(e.actor, e.role, e.finess) for e in journal.events] == [
        ("anonymous", "", None),
        ("pharmacist-a", "pharmacist", "750000010"),
    ]
    assert {e.request_id for e in journal.events} == {"req-7"}


def test_a_change_is_written_with_its_event_or_not_at_all() -> None:
    applied: list[str] = []
    journal = FakeJournal()
    Call(PHARMACIST, META).audit(journal).record("cancel", changes=[_change(applied)])
    assert applied == ["written"] and journal.actions() == [("cancel", "success")]
    journal.down = True
    with pytest.raises(ServiceUnavailable):
        Call(PHARMACIST, META).audit(journal).record("cancel", changes=[_change(applied)])
    assert applied == ["written"] and len(journal.events) == 1
