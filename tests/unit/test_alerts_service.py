"""The pharmacy's alerts as its admins read and acknowledge them (services/alerts.py), on in-memory
ports: only that pharmacy's admins, each refusal journaled; each list and each acknowledgement
journaled; the first acknowledgement stays; another pharmacy's alert is none of theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.alerts import Alert, StoredAlert
from chalicelib.domain.commands import AcknowledgeAlert, ReadAlerts
from chalicelib.domain.errors import Forbidden, NotFound, ServiceUnavailable
from chalicelib.domain.model import Principal, Role
from chalicelib.ports import RequestMeta
from chalicelib.services import alerts
from chalicelib.services.call import Call
from testkit.fakes import FakeAlerts, FakeJournal, FixedClock

PHARMACY = "750000010"
OTHER = "130000029"
OWNER = Principal(username="owner", role=Role.PHARMACY_ADMIN, finess=PHARMACY)
CO_OWNER = Principal(username="co-owner", role=Role.PHARMACY_ADMIN, finess=PHARMACY)
OTHER_OWNER = Principal(username="other-owner", role=Role.PHARMACY_ADMIN, finess=OTHER)
PHARMACIST = Principal(username="pharmacist", role=Role.PHARMACIST, finess=PHARMACY)
OPERATOR = Principal(username="operator", role=Role.PLATFORM_ADMIN, finess=None)
META = RequestMeta(request_id="r-1")
START = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def alert(finess: str = PHARMACY, *, hour: int = 0, detector: str = "bulk_reads") -> Alert:
    return Alert(
        finess=finess,
        detector=detector,
        subject="pharmacist",
        window_start=START + timedelta(hours=hour),
        window_end=START + timedelta(hours=hour + 1),
        count=300,
        threshold=100,
        record_ids=("r-1", "r-2"),
    )


def deps() -> alerts.AlertsDeps:
    journal = FakeJournal()
    return alerts.AlertsDeps(alerts=FakeAlerts(), journal=journal, clock=FixedClock())


def journal(d: alerts.AlertsDeps) -> FakeJournal:
    assert isinstance(d.journal, FakeJournal)
    return d.journal


def events(d: alerts.AlertsDeps) -> list[tuple[str, str, str, str | None, str]]:
    return [(e.action, e.outcome, e.actor, e.finess, e.reason) for e in journal(d).events]


def read(d: alerts.AlertsDeps, who: Principal, *, everything: bool = False, limit: int = 50) -> list[str]:
    found = alerts.list_alerts(d, Call(who, META), ReadAlerts(PHARMACY, everything, limit))
    return [stored.alert.alert_id for stored in found.alerts]


def test_the_pharmacy_s_admin_reads_its_open_alerts_newest_first_and_the_read_is_journaled() -> None:
    d = deps()
    first, second, elsewhere = alert(hour=0), alert(hour=1), alert(OTHER)
    d.alerts.raise_alert(first, at=START + timedelta(hours=1))
    d.alerts.raise_alert(second, at=START + timedelta(hours=2))
    d.alerts.raise_alert(elsewhere, at=START + timedelta(hours=2))
    assert read(d, OWNER) == [second.alert_id, first.alert_id]
    assert read(d, OWNER, limit=1) == [second.alert_id]
    assert events(d) == [
        ("read_alerts", "success", "owner", PHARMACY, "2 unacknowledged alert(s)"),
        ("read_alerts", "success", "owner", PHARMACY, "1 unacknowledged alert(s)"),
    ]


@pytest.mark.parametrize(
    ("who", "error", "reason", "chain"),
    [
        (PHARMACIST, Forbidden, "role", PHARMACY),
        (OPERATOR, Forbidden, "role", None),
        (OTHER_OWNER, NotFound, "another pharmacy", OTHER),
    ],
)
def test_a_pharmacist_the_platform_or_another_pharmacy_s_admin_is_refused_and_journaled(
    who: Principal, error: type[Exception], reason: str, chain: str | None
) -> None:
    d = deps()
    raised = alert()
    d.alerts.raise_alert(raised, at=START)
    with pytest.raises(error):
        read(d, who)
    with pytest.raises(error):
        alerts.acknowledge_alert(d, Call(who, META), AcknowledgeAlert(PHARMACY, raised.alert_id))
    action = ("read_alerts", "acknowledge_alert")
    assert events(d) == [(a, "denied", who.username, chain, reason) for a in action]
    stored = d.alerts.alert(PHARMACY, raised.alert_id)
    assert stored is not None and stored.acknowledged_at is None


def test_an_acknowledgement_is_journaled_and_the_first_one_stays() -> None:
    d = deps()
    raised = alert()
    d.alerts.raise_alert(raised, at=START)
    command = AcknowledgeAlert(PHARMACY, raised.alert_id)
    acknowledged = alerts.acknowledge_alert(d, Call(OWNER, META), command)
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == ("owner", FixedClock.moment)
    assert read(d, OWNER) == []  # out of the default list
    assert read(d, OWNER, everything=True) == [raised.alert_id]
    assert isinstance(d.clock, FixedClock)
    d.clock.advance(minutes=5)
    again = alerts.acknowledge_alert(d, Call(CO_OWNER, META), command)
    assert (again.acknowledged_by, again.acknowledged_at) == ("owner", FixedClock.moment)
    assert [e for e in events(d) if e[0] == "acknowledge_alert"] == [
        ("acknowledge_alert", "success", "owner", PHARMACY, raised.alert_id),
        ("acknowledge_alert", "success", "co-owner", PHARMACY, f"{raised.alert_id}: acknowledged already"),
    ]


def test_an_acknowledgement_that_loses_the_race_answers_the_winner_s(monkeypatch: pytest.MonkeyPatch) -> None:
    d = deps()
    store = d.alerts
    assert isinstance(store, FakeAlerts)
    raised = alert()
    store.raise_alert(raised, at=START)
    seen = store.alert(PHARMACY, raised.alert_id)
    original = store.alert

    def stale_then_fresh(finess: str, alert_id: str) -> StoredAlert | None:
        # the first read sees it open; the co-owner acknowledges it before the change commits
        monkeypatch.setattr(store, "alert", original)
        pending: list[Any] = []  # the co-owner's acknowledgement, committed
        store.acknowledge_change(finess, alert_id, by="co-owner", at=START).write(pending)
        for apply in pending:
            apply()
        return seen

    monkeypatch.setattr(store, "alert", stale_then_fresh)
    answer = alerts.acknowledge_alert(d, Call(OWNER, META), AcknowledgeAlert(PHARMACY, raised.alert_id))
    assert (answer.acknowledged_by, answer.acknowledged_at) == ("co-owner", START)
    assert events(d) == [
        ("acknowledge_alert", "success", "owner", PHARMACY, f"{raised.alert_id}: acknowledged already")
    ]


@pytest.mark.parametrize("target", ["another pharmacy's", "none", "x" * 3000])
def test_another_pharmacy_s_alert_or_no_alert_is_a_journaled_404_that_names_nothing(target: str) -> None:
    d = deps()
    theirs = alert(OTHER)
    d.alerts.raise_alert(theirs, at=START)
    alert_id = {"another pharmacy's": theirs.alert_id, "none": alert(hour=5).alert_id}.get(target, target)
    with pytest.raises(NotFound):
        alerts.acknowledge_alert(d, Call(OWNER, META), AcknowledgeAlert(PHARMACY, alert_id))
    assert events(d) == [("acknowledge_alert", "denied", "owner", PHARMACY, "not_found")]
    stored = d.alerts.alert(OTHER, theirs.alert_id)
    assert stored is not None and stored.acknowledged_at is None


def test_a_journal_down_acknowledges_nothing_and_discloses_no_list() -> None:
    d = deps()
    raised = alert()
    d.alerts.raise_alert(raised, at=START)
    journal(d).down = True
    with pytest.raises(ServiceUnavailable):
        alerts.acknowledge_alert(d, Call(OWNER, META), AcknowledgeAlert(PHARMACY, raised.alert_id))
    with pytest.raises(ServiceUnavailable):
        read(d, OWNER)
    stored = d.alerts.alert(PHARMACY, raised.alert_id)
    assert stored is not None and stored.acknowledged_at is None


def test_a_path_s_pharmacy_is_compared_as_the_api_writes_finess_numbers() -> None:
    d = deps()
    corsica = "2A0000012"
    owner = Principal(username="owner-2a", role=Role.PHARMACY_ADMIN, finess=corsica)
    found = alerts.list_alerts(d, Call(owner, META), ReadAlerts(corsica.lower(), False, 10))
    assert found.finess == corsica


def test_an_alert_about_an_admin_is_for_another_admin_to_acknowledge() -> None:
    d = deps()
    about_owner = Alert(PHARMACY, "bulk_reads", "Owner", START, START + timedelta(hours=1), 300, 200)
    d.alerts.raise_alert(about_owner, at=START)
    command = AcknowledgeAlert(PHARMACY, about_owner.alert_id)
    with pytest.raises(Forbidden):
        alerts.acknowledge_alert(d, Call(OWNER, META), command)
    assert events(d) == [("acknowledge_alert", "denied", "owner", PHARMACY, "own alert")]
    acknowledged = alerts.acknowledge_alert(d, Call(CO_OWNER, META), command)
    assert acknowledged.acknowledged_by == "co-owner"
