"""The journal's automatic review in the stack `make run` starts: its audit stream reader runs the
`review_access` handler beside the WORM copy, so a pharmacist listing 300 records raises a
`bulk_reads` alert on the pharmacy's chain within a minute, which its admin reads in the journal."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devtools.stack import PROJECT_DIR
from testkit.patients import screening_body

pytestmark = pytest.mark.xdist_group("stack")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _token(local_stack: dict[str, Any], user: str) -> str:
    stack_file = Path(local_stack["state_dir"], "stack.json")
    login = subprocess.run(
        ["make", "-s", "login", f"USER={user}", f"STACK_FILE={stack_file}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    return login.stdout.strip()


def _call(url: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with OPENER.open(request, timeout=60) as response:
        return json.loads(response.read())


def _journal(local_stack: dict[str, Any], token: str, since: datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor: str | None = ""
    while cursor is not None:
        query = {"from": since.strftime("%Y-%m-%dT%H:%M:%SZ"), **({"cursor": cursor} if cursor else {})}
        body = _call(f"{local_stack['api_url']}/v1/audit?{urllib.parse.urlencode(query)}", token)
        events += body["items"]
        cursor = body.get("next_cursor")
    return events


def test_a_pharmacist_listing_300_records_raises_an_alert_on_the_chain_within_a_minute(
    local_stack: dict[str, Any],
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    pharmacist, admin = _token(local_stack, "pharmacist-a"), _token(local_stack, "admin-a")
    sampled = (datetime.now(UTC) - timedelta(minutes=20)).isoformat(timespec="seconds")
    for _ in range(3):
        items = [{"key": str(uuid.uuid4()), **screening_body(i % 4, sampled_at=sampled)} for i in range(100)]
        answer = _call(f"{local_stack['api_url']}/v1/test-batches", pharmacist, {"items": items})
        assert {item["outcome"] for item in answer["items"]} == {"created"}
    today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    seen: set[str] = set()
    cursor: str | None = ""
    while cursor is not None:
        query = {"date": today, "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = _call(f"{local_stack['api_url']}/v1/tests?{urllib.parse.urlencode(query)}", pharmacist)
        seen |= {item["id"] for item in page["items"]}
        cursor = page.get("next_cursor")
    assert len(seen) >= 300
    listed = time.monotonic()
    alerts: list[dict[str, Any]] = []
    while not alerts and time.monotonic() - listed < 60:
        time.sleep(1)
        alerts = [e for e in _journal(local_stack, admin, since) if e["action"] == "alert_raised"]
    assert [(e["actor"], e["role"]) for e in alerts] == [("review:bulk_reads", "system")]
    assert set(alerts[0]["record_ids"]) <= seen
