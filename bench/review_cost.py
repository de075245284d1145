"""The journal's automatic review (`review_access`, the audit stream's second consumer): what it adds
per journal event, and its AWS round trips per stream batch. It reads the stream it is handed, never
the table.

  cpu           CPU time (process time) per journal event: the stream records' parsing
                (chalicelib/jobs.py `new_links`, the handler's own) and the detectors with in-memory
                stores, over simulated normal weeks of one pharmacy (testkit/review.py), fed in
                batches of 100 as the stream does
  round_trips   AWS calls reaching moto per batch of 100 links, through the real handler body
                (chalicelib.jobs.review_access: DynamoDB state, the pharmacy's hours, the alert
                store): one pharmacy; the same batch replayed; 10 pharmacies; a batch that raises
                an alert (with the alert store as bootstrap builds it)

    .venv/bin/python -m bench.review_cost     (prints its JSON; `bench.run --only review` keeps it)
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench.common import CallCounter, moto_account, set_env, summary

BATCH = 100
PHARMACY = "750000010"


def _stream_record(chain: str, seq: int, time_text: str, event: dict[str, Any]) -> dict[str, Any]:
    """A link's stream record as Lambda hands it (NEW_IMAGE, DynamoDB JSON)."""
    image = {
        "chain": {"S": chain},
        "seq": {"N": str(seq)},
        "time": {"S": time_text},
        "event": {"S": json.dumps(event, sort_keys=True, separators=(",", ":"))},
        "prev_hash": {"S": "0" * 64},
        "hash": {"S": "0" * 64},
    }
    return {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"chain": image["chain"], "seq": image["seq"]}, "NewImage": image},
    }


def _records(weeks: int, seed: int = 1, finess: str = PHARMACY) -> list[dict[str, Any]]:
    from testkit.review import normal_weeks

    return [
        _stream_record(link.chain, link.seq, link.time, dict(link.event))
        for link in normal_weeks(finess, weeks, seed)
    ]


def cpu_per_event(weeks: int, repeats: int) -> dict[str, Any]:
    """Process time per event: parsing plus detectors, the stores in memory (no AWS)."""
    from chalicelib.domain.opening_hours import opening_hours
    from chalicelib.jobs import new_links
    from chalicelib.services.review import ReviewDeps, review_links
    from testkit.fakes import FakeAlerts, FakePharmacyHours, FakeReviewStates, FixedClock
    from testkit.review import DECLARED_HOURS, PARIS, POLICY

    records = _records(weeks)
    samples, alerts = [], 0
    for _ in range(repeats):
        hours = FakePharmacyHours({PHARMACY: opening_hours(DECLARED_HOURS, PARIS)})  # type: ignore[dict-item]
        store = FakeAlerts()
        deps = ReviewDeps(FakeReviewStates(), hours, store, POLICY, FixedClock())
        started = time.process_time()
        for start in range(0, len(records), BATCH):
            review_links(deps, new_links(records[start : start + BATCH]))
        samples.append(1e6 * (time.process_time() - started) / len(records))
        alerts = len(store.alerts)
    return {"events": len(records), "weeks": weeks, "us_per_event": summary(samples), "alerts": alerts}


def _counted(records: list[dict[str, Any]]) -> int:
    from chalicelib.jobs import review_access

    with CallCounter() as counter:
        review_access(records)
    return sum(counter.calls.values())


def round_trips() -> dict[str, int]:
    """AWS calls per batch of 100 links through the handler's body, on moto."""
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbPharmacies
    from chalicelib.adapters.dynamodb.models import PharmacyModel
    from chalicelib.domain.finess import check_digit
    from testkit.review import DECLARED_HOURS

    others = [f"{prefix}{check_digit(prefix)}" for prefix in (f"750001{n:02d}" for n in range(10))]
    found: dict[str, int] = {}
    with moto_account():
        pharmacies = DynamoDbPharmacies(SystemClock())
        for finess in (PHARMACY, *others):
            pharmacies.add(finess, "Pharmacie du banc", created_by="bench")
        PharmacyModel(PHARMACY).update(actions=[PharmacyModel.opening_hours.set(json.dumps(DECLARED_HOURS))])
        week = _records(1)
        found["one_pharmacy"] = _counted(week[:BATCH])
        found["replayed"] = _counted(week[:BATCH])
        mixed = [_records(1, seed=n, finess=finess)[:10] for n, finess in enumerate(others)]
        found["ten_pharmacies"] = _counted([record for part in mixed for record in part])
        night = [
            _stream_record(
                PHARMACY,
                10**6,
                "2026-11-03T02:00:00.000000Z",
                {
                    "actor": "pharmacist-a",
                    "role": "pharmacist",
                    "action": "read",
                    "outcome": "success",
                    "record_ids": ["rec-0000001"],
                    "source_ip": "",
                },
            )
        ]
        found["one_alert_raised"] = _counted(week[BATCH : 2 * BATCH - 1] + night)
    return found


def measure(weeks: int = 4, repeats: int = 3) -> dict[str, Any]:
    set_env()
    return {
        "unit": "CPU microseconds per journal event (median over repeats); AWS round trips per stream batch",
        "batch": BATCH,
        "cpu": cpu_per_event(weeks, repeats),
        "round_trips": round_trips(),
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=1)
    print()
