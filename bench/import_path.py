"""A spreadsheet upload (`POST /v1/imports`, the presigned PUT, the processing function): rows per
second and AWS round trips per 100 rows, on moto through the Chalice test client, one process.

  upload        10,000 valid rows (distinct patients' tests): the processing's first read (encoding,
                header, row count), then chunks of 100 rows through the batch service
  reupload      the same file through a second import: every row finds its claim (its key is the
                test's, not the import's): one claims' read and one journal event per chunk
Round trips are every AWS call of the processing that reaches moto: DynamoDB and KMS
(bench/common.CallCounter) and S3 (the file's reads, the state and the report), counted here; not
the queue's receive and delete, which Lambda's event source mapping makes. Time is wall time around the
processing (the notification's handler), moto's transactions with an undo log as elsewhere.

    .venv/bin/python -m bench.import_path [--rows 10000]   (prints its JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from bench.common import CallCounter, moto_account, moto_transactions_with_an_undo_log, set_env
from bench.create_path import _world

ROWS = 10_000
_S3_HOSTS = ("s3.", "depistage-imports")  # path-style and virtual-hosted S3 addresses
HEADER = "nir;nom;prenom;date_naissance;sexe;type_test;dispositif;preleve_le;resultat"


def sheet(rows: int) -> bytes:
    """`rows` valid rows, each its own test (a patient of testkit's four, a minute of its own)."""
    from testkit.patients import PATIENTS

    start = datetime.now(ZoneInfo("Europe/Paris")) - timedelta(minutes=rows + 10)
    lines = [HEADER]
    for i in range(rows):
        p = PATIENTS[i % 4]
        day = p["birth_date"]
        sampled = (start + timedelta(minutes=i)).strftime("%d/%m/%Y %H:%M")
        cells = [p["nir"], p["last_name"], p["first_name"], f"{day[8:10]}/{day[5:7]}/{day[0:4]}", p["sex"]]
        lines.append(";".join([*cells, "antigen", "1232", sampled, "negative"]))
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


@contextmanager
def s3_calls() -> Iterator[Counter[str]]:
    """S3's calls (a REST protocol: no X-Amz-Target for CallCounter), by method."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    counted: Counter[str] = Counter()

    def process_request(stubber: Any, request: Any) -> Any:
        if not request.headers.get("X-Amz-Target") and urlparse(str(request.url)).netloc.startswith(
            _S3_HOSTS
        ):
            counted[f"s3:{request.method}"] += 1
        return original(stubber, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign,assignment]
    try:
        yield counted
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


def _upload(client: Any, headers: dict[str, str], raw: bytes) -> str:
    from testkit.import_files import put_file

    answer = client.http.post("/v1/imports", headers=headers, body="")
    if answer.status_code != 201:
        raise RuntimeError(f"POST /v1/imports: {answer.status_code}")
    ticket = json.loads(answer.body)
    if put_file(ticket["upload_url"], raw) != 200:
        raise RuntimeError("the presigned PUT failed")
    return str(ticket["status"])


def _processed(client: Any, headers: dict[str, str], status_path: str) -> tuple[float, dict[str, int], Any]:
    from testkit.import_files import process_uploads

    with CallCounter() as counter, s3_calls() as s3:
        started = time.perf_counter()
        process_uploads()
        elapsed = time.perf_counter() - started
    status = json.loads(client.http.get(status_path, headers=headers).body)
    # the queue's receive and delete are the event source mapping's (the local worker's), not the
    # function's: they are not the processing's round trips
    calls = {op: n for op, n in {**counter.calls, **s3}.items() if not op.startswith("amazonsqs:")}
    return elapsed, calls, status


def measure(rows: int = ROWS) -> dict[str, Any]:
    set_env()
    with moto_account() as env, moto_transactions_with_an_undo_log():
        client, headers = _world(env)
        raw = sheet(rows)
        runs: dict[str, Any] = {}
        for name in ("upload", "reupload"):
            seconds, calls, status = _processed(client, headers, _upload(client, headers, raw))
            if (status["state"], status["created"]) != ("done", rows):
                raise RuntimeError(f"{name}: {status}")
            total = sum(calls.values())
            runs[name] = {
                "seconds": round(seconds, 2),
                "rows_per_second": round(rows / seconds, 1),
                "round_trips": total,
                "round_trips_per_100_rows": round(100 * total / rows, 2),
                "by_operation": dict(sorted(calls.items())),
            }
    return {
        "unit": "one upload of `rows` rows processed in one process on moto",
        "rows": rows,
        "file_bytes": len(raw),
        **runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    json.dump(measure(parser.parse_args().rows), sys.stdout, indent=1)
    print()
