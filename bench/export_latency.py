"""Latency from `PUT /v1/tests/{id}/result` to `acknowledged`, on the local stack.

    .venv/bin/python -m bench.export_latency [--records 200] [--json-out F]

Starts the local stack (`python -m devtools.stack`, its own state dir and free ports) with the
sweeper every hour, so that what is measured is the trigger (the records table's stream read
the way Lambda's event source mapping reads it, devtools/streams.py, polled every second as the
mapping's batching window). Creates N tests without a result, then sets each result through the
API, one after the other as pharmacists would, noting the time each PUT was sent; once all are
acknowledged, reads each one's `acknowledged_at` from `GET /v1/tests/{id}/delivery` and reports
the latency's p50/p95/max (the stack's clock is this machine's; `acknowledged_at` is to the
second: each latency counts that second in full, an upper bound within a second). moto server
runs the transactions as moto does (a whole-table copy per item, on a table of N records). Not a
test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import summary

SWEEPER_EVERY_SECONDS = 3600  # the first sweep runs at start, before any result is set
ONE_SECOND = timedelta(seconds=1)


def _call(api: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        api.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def measure(records: int = 200, wait_seconds: float = 300.0) -> dict[str, Any]:
    from devtools.login import login_stack_user
    from testkit import harness
    from testkit.patients import screening_body

    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        stack = harness.launch(Path(tmp) / "state", "--export-every", str(SWEEPER_EVERY_SECONDS))
        try:
            info = harness.wait_ready(stack)
            api = info["api_url"]
            token = login_stack_user(info, "pharmacist-a")["AccessToken"]
            today = datetime.now(UTC).replace(microsecond=0).isoformat()
            ids = [
                _call(api, token, "POST", "/v1/tests", screening_body(i % 4, None, sampled_at=today))["id"]
                for i in range(records)
            ]
            put_at: dict[str, datetime] = {}
            for i, record_id in enumerate(ids):
                result = ("negative", "positive", "invalid")[i % 3]
                put_at[record_id] = datetime.now(UTC)
                _call(api, token, "PUT", f"/v1/tests/{record_id}/result", {"result": result})
            deadline = time.monotonic() + wait_seconds
            acked: dict[str, datetime] = {}
            while len(acked) < len(ids) and time.monotonic() < deadline:
                time.sleep(1.0)
                for record_id in ids:
                    if record_id in acked:
                        continue
                    view = _call(api, token, "GET", f"/v1/tests/{record_id}/delivery")
                    if view["state"] == "acknowledged" and view["acknowledged_at"]:
                        at = view["acknowledged_at"].replace("Z", "+00:00")
                        acked[record_id] = datetime.fromisoformat(at)
        finally:
            harness.stop(stack)
    latencies = sorted((acked[i] + ONE_SECOND - put_at[i]).total_seconds() for i in ids if i in acked)
    percentiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
    return {
        "records": records,
        "acknowledged": len(acked),
        "sweeper_every_seconds": SWEEPER_EVERY_SECONDS,
        "latency_seconds": summary(latencies, 2) if latencies else None,
        "p50_seconds": round(statistics.median(latencies), 2) if latencies else None,
        "p95_seconds": round(percentiles[18], 2) if latencies else None,
        "goal_p95_seconds": 10,
        "note": "upper bounds: acknowledged_at is to the second (RFC 3339), counted as its end",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args(argv)
    text = json.dumps(measure(args.records), indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
