"""A batch of 100 records (`POST /v1/test-batches`) beside 100 single creates: AWS round trips and
server time per record, on moto through the Chalice test client, one process, one pharmacy.

  batch         100 new items, each with its key: the membership read and 3 TransactWriteItems
                (chunks of 49 records and claims, and one journal event each)
  one_by_one    the same 100 records as 100 `POST /v1/tests` with an Idempotency-Key
  replay        the first batch sent again whole (a cut answer): every chunk finds its keys
                taken, and each item answers its first record as a single replay does
Round trips are every AWS call that reaches moto (DynamoDB and KMS alike, bench/common.CallCounter).
Time is wall time around the request; moto's transactions run with an undo log (bench/common),
as the create path's figures do.

    .venv/bin/python -m bench.batch_path     (prints its JSON; `bench.run --only batch` keeps it)
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

from bench.common import CallCounter, moto_account, moto_transactions_with_an_undo_log, set_env, summary
from bench.create_path import _sampled, _world

ITEMS = 100


def _items(count: int) -> list[dict[str, Any]]:
    from testkit.patients import screening_body

    return [{"key": str(uuid.uuid4()), **screening_body(i % 4, sampled_at=_sampled())} for i in range(count)]


def measure(repeats: int = 3, items: int = ITEMS) -> dict[str, Any]:
    set_env()
    with moto_account() as env, moto_transactions_with_an_undo_log():
        client, headers = _world(env)

        def post_batch(batch: list[dict[str, Any]]) -> tuple[float, int]:
            with CallCounter() as counter:
                started = time.perf_counter()
                answer = client.http.post(
                    "/v1/test-batches", headers=headers, body=json.dumps({"items": batch})
                )
                elapsed = time.perf_counter() - started
            outcomes = (
                {o["outcome"] for o in json.loads(answer.body)["items"]} if answer.status_code == 200 else {}
            )
            if outcomes != {"created"}:
                raise RuntimeError(f"batch failed: {answer.status_code} {answer.body[:200]!r}")
            return elapsed, sum(counter.calls.values())

        def one_by_one(batch: list[dict[str, Any]]) -> tuple[float, int]:
            elapsed = 0.0
            with CallCounter() as counter:
                for item in batch:
                    body = {k: v for k, v in item.items() if k != "key"}
                    started = time.perf_counter()
                    answer = client.http.post(
                        "/v1/tests",
                        headers={**headers, "Idempotency-Key": item["key"]},
                        body=json.dumps(body),
                    )
                    elapsed += time.perf_counter() - started
                    if answer.status_code != 201:
                        raise RuntimeError(f"create failed: {answer.status_code}")
            return elapsed, sum(counter.calls.values())

        post_batch(_items(items))  # warm-up: the cold caches' KMS calls are not a batch's
        runs: dict[str, list[tuple[float, int]]] = {"batch": [], "one_by_one": [], "replay": []}
        for _ in range(repeats):  # interleaved: load changes hit every variant alike
            first = _items(items)
            runs["batch"].append(post_batch(first))
            runs["replay"].append(post_batch(first))
            runs["one_by_one"].append(one_by_one(_items(items)))

    return {
        "unit": f"per {items} records: AWS round trips; ms per record (median and spread over repeats)",
        "repeats": repeats,
        "items": items,
        "round_trips": {name: max(trips for _, trips in values) for name, values in runs.items()},
        "round_trips_goal_batch": 6,
        "ms_per_record": {
            name: summary([1000 * seconds / items for seconds, _ in values]) for name, values in runs.items()
        },
        "ms_per_batch": summary([1000 * seconds for seconds, _ in runs["batch"]]),
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=1)
    print()
