"""The review's alerts as a pharmacy's admins read them (GET .../alerts, chalicelib/api/alerts.py):
identifiers only, no health data."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.alerts import DETECTORS
from chalicelib.payloads.fields import COUNT, TIMESTAMP
from chalicelib.schema import Field, Obj, array, out

_TEXT = out({"type": "string"})

ALERT: Obj[Any] = Obj(
    [
        Field(
            "alert_id",
            _TEXT,
            source=lambda stored: stored.alert.alert_id,
            description="What the acknowledgement names; the journal's `alert_raised` event gives it "
            "as its reason.",
        ),
        Field(
            "detector",
            out({"type": "string", "enum": list(DETECTORS)}),
            source=lambda stored: stored.alert.detector,
            description="What the journal's automatic review found (docs/journal.md says what each asks).",
        ),
        Field(
            "subject",
            _TEXT,
            nullable=True,
            source=lambda stored: stored.alert.subject or None,
            description="The username or source address it is about; null when none.",
        ),
        Field("window_start", TIMESTAMP, source=lambda stored: stored.alert.window_start),
        Field("window_end", TIMESTAMP, source=lambda stored: stored.alert.window_end),
        Field(
            "count",
            COUNT,
            source=lambda stored: stored.alert.count,
            description="What the detector counted in the window (distinct records, searches, refusals...).",
        ),
        Field("threshold", COUNT, source=lambda stored: stored.alert.threshold),
        Field(
            "record_ids",
            array(_TEXT),
            source=lambda stored: list(stored.alert.record_ids),
            description="The records concerned (ids only), at most 1000.",
        ),
        Field("raised_at", TIMESTAMP),
        Field("acknowledged_at", TIMESTAMP, nullable=True, description="The first acknowledgement's."),
        Field("acknowledged_by", _TEXT, nullable=True, description="The username of who acknowledged it."),
    ],
    name="Alert",
)
ALERT_LIST: Obj[Any] = Obj(
    [Field("finess", _TEXT), Field("alerts", array(ALERT))],
    name="AlertList",
    description="The pharmacy's alerts, newest first: identifiers only, no health data.",
)
