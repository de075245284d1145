"""The review's alerts on DynamoDB (moto): a raise is the alert and its `alert_raised` event in one
transaction, once per alert id whatever the replays; the admins' list reads newest first, the open
ones by default, bounded; the first acknowledgement stays, in one transaction with its event; items
expire with the journal; another pharmacy's alert, or no alert id, is none."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.alerts import DynamoDbAlerts
from chalicelib.adapters.dynamodb.models import AlertModel, AuditEventModel
from chalicelib.bootstrap import audit_journal, build_alerts, build_core
from chalicelib.config import get_settings
from chalicelib.domain.alerts import Alert, StoredAlert, is_alert_id
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.ports import AuditJournal, ChangedMeanwhile
from testkit.fakes import FixedClock

A, B = "750000010", "130000029"
START = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def alert(finess: str = A, *, hour: int = 0, subject: str = "pharmacist-a", **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "finess": finess,
        "detector": "bulk_reads",
        "subject": subject,
        "window_start": START + timedelta(hours=hour),
        "window_end": START + timedelta(hours=hour + 1),
        "count": 300,
        "threshold": 100,
        "record_ids": tuple(f"record-{i}" for i in range(300)),
    }
    values.update(fields)
    return Alert(**values)


def events(chain: str) -> list[dict[str, Any]]:
    return [dict(item.event) for item in AuditEventModel.query(chain)]


@pytest.fixture
def journal(aws: dict[str, str]) -> AuditJournal:
    return audit_journal(get_settings(), FixedClock(), sleep=lambda _s: None)


@pytest.fixture
def store(journal: AuditJournal) -> DynamoDbAlerts:
    return DynamoDbAlerts(journal, retention_days=get_settings().audit_retention_days)


def acknowledged(
    store: DynamoDbAlerts, journal: AuditJournal, alert_id: str, *, by: str, at: datetime, finess: str = A
) -> StoredAlert | None:
    """As the route acknowledges (services/alerts.py): the change with its journal event, once; a
    later one changes nothing (ChangedMeanwhile). The alert as it then stands."""
    event = AuditEvent("acknowledge_alert", "success", by, "pharmacy_admin", finess, reason=alert_id)
    with contextlib.suppress(ChangedMeanwhile):
        journal.append(event, [store.acknowledge_change(finess, alert_id, by=by, at=at)])
    return store.alert(finess, alert_id)


def test_a_raise_is_the_alert_and_its_event_once_whatever_the_replays(store: DynamoDbAlerts) -> None:
    raised = alert()
    assert store.raise_alert(raised, at=START + timedelta(hours=1)) is True
    # the stream handler reads the same events again: the same alert, raised later, writes nothing
    assert store.raise_alert(raised, at=START + timedelta(hours=2)) is False
    assert store.raise_alert(alert(count=400), at=START + timedelta(hours=3)) is False  # same id
    [event] = events(A)
    assert (event["action"], event["actor"], event["role"], event["outcome"], event["reason"]) == (
        "alert_raised",
        "review:bulk_reads",
        "system",
        "success",
        raised.alert_id,
    )
    assert event["record_ids"] == list(raised.record_ids)
    [stored] = store.list_alerts(A, include_acknowledged=True, limit=10)
    assert stored.alert == raised and stored.raised_at == START + timedelta(hours=1)
    assert stored.acknowledged_at is None and stored.acknowledged_by is None


def test_an_alert_expires_with_the_journal_s_retention(store: DynamoDbAlerts) -> None:
    raised = alert()
    store.raise_alert(raised, at=START)
    item = AlertModel.get(A, raised.alert_id)
    assert item.expires_at == START + timedelta(days=get_settings().audit_retention_days)


def test_an_alert_about_no_one_keeps_an_empty_subject(store: DynamoDbAlerts) -> None:
    raised = alert(detector="platform_decision", subject="", record_ids=())
    store.raise_alert(raised, at=START)
    stored = store.alert(A, raised.alert_id)
    assert stored is not None and stored.alert == raised


def test_the_list_is_newest_first_open_by_default_bounded_and_the_pharmacy_s_own(
    store: DynamoDbAlerts, journal: AuditJournal
) -> None:
    ids = []
    for hour in range(5):
        raised = alert(hour=hour)
        store.raise_alert(raised, at=START + timedelta(hours=hour, minutes=59))
        ids.append(raised.alert_id)
    store.raise_alert(alert(B), at=START + timedelta(hours=9))
    acknowledged(store, journal, ids[3], by="admin-a", at=START + timedelta(hours=6))

    def listed(**kwargs: Any) -> list[str]:
        return [s.alert.alert_id for s in store.list_alerts(A, **kwargs)]

    assert listed(include_acknowledged=True, limit=10) == ids[::-1]
    assert listed(include_acknowledged=False, limit=10) == [ids[4], ids[2], ids[1], ids[0]]
    assert listed(include_acknowledged=False, limit=2) == [ids[4], ids[2]]
    assert listed(include_acknowledged=True, limit=0) == []


def test_the_first_acknowledgement_stays(store: DynamoDbAlerts, journal: AuditJournal) -> None:
    raised = alert()
    store.raise_alert(raised, at=START)
    first = acknowledged(store, journal, raised.alert_id, by="admin-a", at=START + timedelta(minutes=1))
    second = acknowledged(store, journal, raised.alert_id, by="co-admin", at=START + timedelta(minutes=2))
    assert first is not None and second is not None
    assert (second.acknowledged_by, second.acknowledged_at) == ("admin-a", START + timedelta(minutes=1))
    assert AlertModel.get(A, raised.alert_id).open_since is None  # out of the open index


@pytest.mark.parametrize("alert_id", ["theirs", "a-" + "0" * 24, "x" * 2000, "A-" + "F" * 24])
def test_another_pharmacy_s_alert_or_no_alert_id_is_none_and_changes_nothing(
    store: DynamoDbAlerts, journal: AuditJournal, alert_id: str
) -> None:
    theirs = alert(B)
    store.raise_alert(theirs, at=START)
    target = theirs.alert_id if alert_id == "theirs" else alert_id
    assert store.alert(A, target) is None
    if is_alert_id(target):  # the route reads the alert first: anything else never reaches the update
        assert acknowledged(store, journal, target, by="admin-a", at=START) is None
    assert AlertModel.count(A) == 0  # no item made by the update either
    stored = store.alert(B, theirs.alert_id)
    assert stored is not None and stored.acknowledged_at is None


def test_an_acknowledgement_and_its_event_are_one_transaction(
    store: DynamoDbAlerts, journal: AuditJournal
) -> None:
    raised = alert()
    store.raise_alert(raised, at=START)

    def acknowledged_with_event(by: str) -> None:
        change = store.acknowledge_change(A, raised.alert_id, by=by, at=START + timedelta(minutes=1))
        event = AuditEvent("acknowledge_alert", "success", by, "pharmacy_admin", A, reason=raised.alert_id)
        journal.append(event, [change])

    acknowledged_with_event("admin-a")
    with pytest.raises(ChangedMeanwhile):  # acknowledged already: neither the update nor the event
        acknowledged_with_event("co-admin")
    assert [e["actor"] for e in events(A)] == ["review:bulk_reads", "admin-a"]
    stored = store.alert(A, raised.alert_id)
    assert stored is not None and stored.acknowledged_by == "admin-a"
    with pytest.raises(ChangedMeanwhile):  # none: the condition fails, no item is made
        change = store.acknowledge_change(A, alert(hour=7).alert_id, by="admin-a", at=START)
        journal.append(AuditEvent("acknowledge_alert", "success", "admin-a", "pharmacy_admin", A), [change])
    assert AlertModel.count(A) == 1


def test_an_item_a_writer_made_unreadable_is_left_out_of_the_list(store: DynamoDbAlerts) -> None:
    raised = alert()
    store.raise_alert(raised, at=START + timedelta(hours=1))
    AlertModel(
        A,
        "a-" + "f" * 24,
        detector="not-a-detector",
        window_start="yesterday",
        window_end="today",
        counted=1,
        threshold=1,
        raised_at="2026-11-29T05:00:00.000000Z",
        open_since="2026-11-29T05:00:00.000000Z",
        expires_at=START + timedelta(days=1),
    ).save()
    assert [s.alert.alert_id for s in store.list_alerts(A, include_acknowledged=False, limit=10)] == [
        raised.alert_id
    ]
    assert store.alert(A, "a-" + "f" * 24) is None


def test_the_core_builds_the_store_the_review_function_raises_into(aws: dict[str, str]) -> None:
    core = build_core(get_settings(), clock=FixedClock())
    store = build_alerts(core)
    assert store.raise_alert(alert(), at=START) is True
    assert [e["action"] for e in events(A)] == ["alert_raised"]
