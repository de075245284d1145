"""The operator's status shows, per pharmacy, the review's alerts nobody acknowledged: how many, the
newest one's detector and time. Identifiers only (never an alert's subject or records), read from
the sparse open index (never the records table), and the pharmacies' to act on: never an exit 1."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib.bootstrap import build_alerts, build_core
from chalicelib.config import get_settings
from chalicelib.domain.alerts import Alert
from chalicelib.domain.audit_chain import AuditEvent
from operations import cli, status
from testkit.fakes import FixedClock

A, B = "750000010", "130000029"
START = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def alert(finess: str, hour: int, detector: str) -> Alert:
    return Alert(
        finess=finess,
        detector=detector,
        subject="pharmacist-secret-name",
        window_start=START + timedelta(hours=hour),
        window_end=START + timedelta(hours=hour + 1),
        count=300,
        threshold=100,
        record_ids=("7f0c1a52-51f5-4a39-9b0e-2b2a3f0f8d11",),
    )


def test_status_counts_each_pharmacy_s_open_alerts_and_names_the_newest(aws: dict[str, str]) -> None:
    core = build_core(get_settings(), clock=FixedClock())
    store, store_journal = build_alerts(core), core.journal
    for finess, hour, detector in [
        (A, 0, "bulk_reads"),
        (A, 2, "outside_hours"),
        (A, 4, "search_burst"),  # acknowledged below: not counted
        (B, 1, "repeated_refusals"),
    ]:
        store.raise_alert(alert(finess, hour, detector), at=START + timedelta(hours=hour, minutes=59))
    four = alert(A, 4, "search_burst").alert_id
    change = store.acknowledge_change(A, four, by="admin-a", at=START + timedelta(hours=6))
    store_journal.append(AuditEvent("acknowledge_alert", "success", "admin-a", "pharmacy_admin", A), [change])

    client = boto3.client("dynamodb")
    found = status.open_alerts(client, get_settings().alerts_table)
    assert found == [
        {
            "finess": B,
            "unacknowledged": 1,
            "newest_detector": "repeated_refusals",
            "newest_at": "2026-11-29T04:59:00.000000Z",
        },
        {
            "finess": A,
            "unacknowledged": 2,
            "newest_detector": "outside_hours",
            "newest_at": "2026-11-29T05:59:00.000000Z",
        },
    ]
    text = io.StringIO()
    status._show_alerts(found, cli.Output(as_json=False, stream=text))
    shown = text.getvalue()
    assert "alerts: 3 unacknowledged, at 2 pharmacy(ies)" in shown
    assert "outside_hours" in shown and "2026-11-29T05:59:00.000000Z" in shown
    everything = shown + json.dumps(found)
    assert "pharmacist-secret-name" not in everything and "7f0c1a52" not in everything
    assert status.attention({**_healthy(), "alerts": found}) == []


def test_status_of_a_stage_without_the_alerts_table_says_so(aws: dict[str, str]) -> None:
    client = boto3.client("dynamodb")
    assert status.open_alerts(client, "no-such-table") is None
    text = io.StringIO()
    status._show_alerts(None, cli.Output(as_json=False, stream=text))
    assert text.getvalue().strip() == "alerts: no alerts table"


def test_status_of_a_stage_whose_alerts_table_is_gone_needs_attention_not_no_alerts(
    aws: dict[str, str],
) -> None:
    found = status.open_alerts(boto3.client("dynamodb"), "no-such-table")
    assert status.attention({**_healthy(), "alerts": found}) == [
        "the alerts table cannot be found: the review's alerts cannot be raised or read"
    ]
    assert status.attention({**_healthy(), "alerts": []}) == []


def _healthy() -> dict[str, Any]:
    """A status with nothing to act on (what `attention` reads)."""
    return {
        "sidep": {
            "failing": None,
            "oldest_unacknowledged_age_seconds": None,
            "last_rejected_age_seconds": None,
            "waiting": {"retrying": 0, "queued": 0},
            "retrying_errors": {},
        },
        "export_queue": {"held_far": 0},
        "stranded": {"stranded": 0},
        "dead_letters": {"records": 0, "scheduled_runs": 0},
        "last_export_run": None,
        "rejected": [],
        "audit_chains": [],
        "retention": {"unacknowledged_near_cap": []},
        "quarantined": {},
    }
