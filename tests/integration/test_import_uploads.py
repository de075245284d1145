"""The upload path on moto: POST /v1/imports, the presigned PUT, the bucket's ObjectCreated
notification on the imports queue, the processing function, the status and the per-row report.

The 10,000-row file is mostly invalid rows (they exercise the reading, the rules and the report
at full length) with a slice of valid ones created through the batch service: the bench makes the
full valid run (bench/import_path.py)."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from typing import Any

import boto3

from chalicelib.config import get_settings
from testkit.import_files import process_uploads, put_file
from testkit.patients import PATIENTS, personal_needles
from tests.conftest import World

HEADER = "nir;nom;prenom;date_naissance;sexe;type_test;dispositif;preleve_le;resultat"
BAD_NIR = "1 23 45 67 890 123 45"
VALID_EVERY = 50  # 200 valid rows of 10,000


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def big_file(rows: int) -> bytes:
    lines = [HEADER]
    for i in range(rows):
        p = PATIENTS[i % 4]
        day = p["birth_date"]
        nir = p["nir"] if i % VALID_EVERY == 0 else BAD_NIR
        sampled = f"{1 + i // 1440 % 28:02d}/11/2026 {i // 60 % 24:02d}:{i % 60:02d}"
        lines.append(
            ";".join(
                [
                    *(nir, p["last_name"], p["first_name"], f"{day[8:10]}/{day[5:7]}/{day[0:4]}"),
                    *(p["sex"], "antigen", "1232", sampled, "negative"),
                ]
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def start(world: World, user: str = "pharmacist-a") -> dict[str, Any]:
    answer = world.call("POST", "/v1/imports", user)
    assert answer.status_code == 201, answer.body
    ticket: dict[str, Any] = body_of(answer)
    assert answer.headers["Location"] == ticket["status"] == f"/v1/imports/{ticket['id']}"
    return ticket


def test_a_ten_thousand_row_upload_is_processed_with_a_per_row_report_and_memory_flat(world: World) -> None:
    warm = start(world)  # the first import loads the rules' reference data: not the file's cost
    put_file(warm["upload_url"], big_file(10))
    process_uploads()
    ticket = start(world)
    assert (ticket["method"], ticket["content_type"]) == ("PUT", "text/csv")
    assert body_of(world.call("GET", ticket["status"], "pharmacist-a"))["state"] == "waiting"
    raw = big_file(10_000)
    assert put_file(ticket["upload_url"], raw) == 200
    tracemalloc.start()
    try:
        assert process_uploads() >= 1  # with S3's test event, sent when the notification was set
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # moto in process hands botocore each object whole (S3 streams it): the file (0.9 MB) and the
    # report are in memory at their reads and writes, and a bound beside them does not grow with
    # the rows; the 10,000 rows parsed whole would take tens of MB (tests/unit/test_import_service.py
    # compares 500 rows with 4,000 on a store that streams).
    assert peak < 8 * len(raw), (peak, len(raw))
    status = body_of(world.call("GET", ticket["status"], "pharmacist-a"))
    assert (status["state"], status["rows_done"], status["created"], status["invalid"]) == (
        "done",
        10_000,
        200,
        9_800,
    )
    assert status["report"] == f"/v1/imports/{ticket['id']}/report"
    assert world.call("GET", status["report"], "pharmacist-a").status_code == 400  # no Accept: text/csv
    report = world.call("GET", status["report"], "pharmacist-a", Accept="text/csv")
    assert report.status_code == 200 and report.headers["Content-Type"].startswith("text/csv")
    text = report.body.decode("utf-8-sig") if isinstance(report.body, bytes) else str(report.body)
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["row", "column", "code", "message"]
    assert len(rows) == 1 + 9_800 and {r[1] for r in rows[1:]} == {"nir"}
    assert rows[1][0] == "3"  # the header is row 1, the first data row (valid) row 2
    assert BAD_NIR not in text and not [n for n in personal_needles() if n in text]
    settings = get_settings()
    s3 = boto3.Session(region_name=settings.region).client("s3")
    left = s3.list_objects_v2(Bucket=settings.imports_bucket, Prefix="uploads/").get("KeyCount", 0)
    assert left == 0  # the file (health data) is deleted once imported


def test_a_redelivered_notification_creates_nothing_twice(world: World) -> None:
    ticket = start(world)
    raw = big_file(150)
    put_file(ticket["upload_url"], raw)
    settings = get_settings()
    sqs = boto3.Session(region_name=settings.region).client("sqs")
    queue = sqs.get_queue_url(QueueName="depistage-imports")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    [notification] = [m["Body"] for m in received if "ObjectCreated" in m["Body"]]  # not S3's test event
    sqs.send_message(QueueUrl=queue, MessageBody=notification)  # delivered again, while the file is there
    sqs.send_message(QueueUrl=queue, MessageBody=notification)
    assert process_uploads() >= 2
    status = body_of(world.call("GET", ticket["status"], "pharmacist-a"))
    assert (status["state"], status["created"]) == ("done", 3)
    day = body_of(world.call("GET", "/v1/tests?date=2026-11-01&limit=100", "pharmacist-a"))  # sampling day
    assert len(day["items"]) == 3


def test_the_upload_store_answers_none_for_a_missing_object_and_unavailable_for_a_fault(world: World) -> None:
    from chalicelib.adapters.s3_imports import S3ImportFiles
    from chalicelib.domain.errors import ServiceUnavailable

    settings = get_settings()
    s3 = boto3.Session(region_name=settings.region).client("s3")
    files, missing = S3ImportFiles(s3, settings.imports_bucket), "00000000-0000-4000-8000-000000000001"
    assert files.uploaded("750000010", missing) is None
    assert files.status("750000010", missing) is None and files.report("750000010", missing) is None
    gone = S3ImportFiles(s3, "depistage-no-such-bucket")
    for read in (gone.status, gone.report):  # a GET names its error (a HEAD has no body to say it)
        try:
            read("750000010", missing)
        except ServiceUnavailable as refusal:
            assert "750000010" not in str(refusal) and missing not in str(refusal)
        else:
            raise AssertionError(f"{read.__name__}: a fault read as a missing object")
