"""Acceptance of the journal's automatic review, on a stack of its own (what `make run` starts): an
exfiltration (one pharmacist reads 300 records in a few minutes) reaches the pharmacy's admin as an
alert through the API within one minute; the breach's scope lists exactly those 300 record ids for
that account and window; a normal day at another pharmacy raises no alert.

Its own stack: the other stack tests' traffic (and theirs ours) must not be counted by the review."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.login import login_stack_user
from devtools.stack import PROJECT_DIR
from testkit import harness
from testkit.patients import PATIENTS

# Its own stack (the module fixture), so not the shared stack's xdist group: it runs beside them.

A, B = "750000010", "130000029"  # the stack's seeded pharmacies (devtools/seed.py)
EXFILTRATED = 300
NORMAL_DAY = 25  # a small pharmacy's tests of a day
ALERT_WITHIN_SECONDS = 60


class Api:
    """One user's calls to the stack's API."""

    def __init__(self, stack: dict[str, Any], username: str) -> None:
        self.url = stack["api_url"]
        self.http = requests.Session()
        self.http.trust_env = False  # the stack is local: no proxy
        token = login_stack_user(stack, username)["AccessToken"]
        self.http.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        answer = self.http.request(method, self.url + path, json=body, timeout=30)
        assert answer.status_code == expect, (method, path, answer.status_code, answer.text[:300])
        return answer.json() if answer.content else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with harness.running(tmp_path_factory.mktemp("review-stack") / "state") as info:
        yield info


def _create(api: Api, count: int) -> list[str]:
    """`count` records at the caller's pharmacy, by batches of 100 (POST /v1/test-batches)."""
    sampled = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    ids: list[str] = []
    while len(ids) < count:
        items = [
            {
                "key": str(uuid.uuid4()),
                "patient": PATIENTS[(len(ids) + i) % len(PATIENTS)],
                "test": {"kind": "antigen", "device_id": "1232", "sampled_at": sampled, "result": "negative"},
            }
            for i in range(min(100, count - len(ids)))
        ]
        outcomes = api.call("POST", "/v1/test-batches", {"items": items})["items"]
        assert [o["outcome"] for o in outcomes] == ["created"] * len(items), outcomes
        ids += [o["id"] for o in outcomes]
    return ids


def _normal_day(stack: dict[str, Any]) -> None:
    """Pharmacy B's day: its pharmacist records the day's tests, reads a few back, lists the day;
    its admin reads the journal."""
    pharmacist = Api(stack, "pharmacist-b")
    ids = _create(pharmacist, NORMAL_DAY)
    for record_id in ids[:5]:
        pharmacist.call("GET", f"/v1/tests/{record_id}")
    pharmacist.call("GET", "/v1/tests")
    Api(stack, "admin-b").call("GET", "/v1/audit")


def _alerts(api: Api, finess: str, *, everything: bool = False) -> list[dict[str, Any]]:
    query = "?include_acknowledged=true&limit=100" if everything else "?limit=100"
    body = api.call("GET", f"/v1/admin/pharmacies/{finess}/alerts{query}")
    assert body["finess"] == finess
    alerts: list[dict[str, Any]] = body["alerts"]
    return alerts


def _same_hour_ahead(minutes: int) -> None:
    """Wait for the next UTC hour if this one ends within `minutes`: the review counts each actor's
    reads per UTC hour (domain/access_review.py), and 300 reads split over two hours are two
    counts under the hard threshold, which is what a slow exfiltration is, not this one."""
    now = datetime.now(UTC)
    if now.minute >= 60 - minutes:
        time.sleep((60 - now.minute) * 60 - now.second + 2)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _breach_scope(stack: dict[str, Any], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "operations.breach_scope",
            "--stack",
            str(Path(stack["state_dir"]) / "stack.json"),
            "--json",
            *args,
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_an_exfiltration_reaches_the_admin_within_a_minute_and_its_scope_is_exactly_what_was_read(
    stack: dict[str, Any],
) -> None:
    _normal_day(stack)
    # The records exist before the exfiltration: the pharmacy's admin recorded them.
    ids = _create(Api(stack, "admin-a"), EXFILTRATED)
    admin = Api(stack, "admin-a")
    assert [a for a in _alerts(admin, A) if a["subject"] == "pharmacist-a"] == []

    thief = Api(stack, "pharmacist-a")
    _same_hour_ahead(minutes=2)
    started = datetime.now(UTC)
    for record_id in ids:
        thief.call("GET", f"/v1/tests/{record_id}")
    finished = datetime.now(UTC)
    assert finished - started < timedelta(minutes=5), finished - started  # "in a few minutes"

    deadline = time.monotonic() + ALERT_WITHIN_SECONDS
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        found = [
            a for a in _alerts(admin, A) if a["detector"] == "bulk_reads" and a["subject"] == "pharmacist-a"
        ]
        if not found:
            time.sleep(2)
    assert found, f"no bulk_reads alert about pharmacist-a within {ALERT_WITHIN_SECONDS}s of the reads"
    alert = found[0]
    assert alert["count"] >= alert["threshold"] and alert["acknowledged_at"] is None
    assert set(alert["record_ids"]) <= set(ids) and alert["record_ids"]
    # ...and it is an event of the pharmacy's chain, which its admin reads in the journal.
    journal = admin.call("GET", f"/v1/audit?from={_stamp(started - timedelta(seconds=1))}&limit=500")
    raised = [
        e for e in journal["items"] if e["action"] == "alert_raised" and e["reason"] == alert["alert_id"]
    ]
    assert [(e["actor"], e["role"]) for e in raised] == [("review:bulk_reads", "system")]

    # The breach's scope of that account in that window: exactly the 300 ids, read.
    document = _breach_scope(
        stack,
        "--actor",
        "pharmacist-a",
        "--from",
        _stamp(started - timedelta(seconds=1)),
        "--to",
        _stamp(finished + timedelta(seconds=1)),
    )
    [pharmacy] = [p for p in document["pharmacies"] if p["records"]]
    assert pharmacy["pharmacy"] == A and pharmacy["status"] in ("verified", "worm"), pharmacy["findings"]
    assert {r["id"] for r in pharmacy["records"]} == set(ids)
    assert {action for r in pharmacy["records"] for action in r["actions"]} == {"read"}
    assert document["record_count"] == EXFILTRATED

    # The normal day at the other pharmacy raised nothing, the review having read past it.
    assert _alerts(Api(stack, "admin-b"), B, everything=True) == []

    # The admin acknowledges it: out of the open list, the first acknowledgement kept.
    acknowledged = admin.call("POST", f"/v1/admin/pharmacies/{A}/alerts/{alert['alert_id']}/acknowledgement")
    assert acknowledged["acknowledged_by"] == "admin-a"
    assert alert["alert_id"] not in [a["alert_id"] for a in _alerts(admin, A)]
