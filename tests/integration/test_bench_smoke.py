"""`make bench` machinery on tiny sizes: every figure is produced, written and plotted. No timing is
asserted (speed is the benchmark's business, not a test's): only the structure of the output."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """The bench sets its own environment (moto accounts, settings); leave the suite's as it was."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _tiny_package(path: Path) -> Path:
    """A stand-in deployment zip: an `app` and a `boto3` that import in no time."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "import json\nAPP = json.dumps({})\n")
        archive.writestr("boto3/__init__.py", "VERSION = '0'\n")
    return path


def test_a_quick_run_writes_every_figure(tmp_path: Path, restored_environ: None) -> None:
    from bench import run

    out = tmp_path / "results"
    assert (
        run.main(["--quick", "--out", str(out), "--zip", str(_tiny_package(tmp_path / "deployment.zip"))])
        == 0
    )

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["mode"] == "quick"
    assert {"date", "python", "cpu", "versions"} <= set(results["machine"])
    assert results["machine"]["versions"]["moto"] != "absent"

    create = results["create"]
    for variant in ("create", "create_idem", "floor", "naive"):
        figure = create["ms"][variant]
        assert figure["n"] == 2 and figure["min"] <= figure["median"] <= figure["max"]
    assert set(create["ratios"]) == {"create_vs_floor", "create_vs_naive", "create_idem_vs_floor"}
    # a cold process fetches one data key and one per-pharmacy index key; warm, a burst needs none;
    # at a pharmacy's pace (simulated cache clock) a 12 h data key still serves hours of creates;
    # the naive design pays per record
    kms = create["kms_calls"]
    assert kms["cold_process_first_10_creates"] == {"kms:GenerateDataKey": 1, "kms:GenerateMac": 1}
    assert "kms:GenerateDataKey" not in kms["by_operation"]
    assert kms["at_pace"]["by_operation"].get("kms:GenerateDataKey", 0) <= 1
    assert create["kms_calls"]["naive_per_record"] >= 1
    # a create is the membership read and one transaction (claim, record, audit event)
    trips = create["round_trips_per_create"]
    assert trips["create"] <= trips["goal"] == 2 and trips["create_with_idempotency_key"] <= 2
    assert trips["plaintext_floor"] == 1
    assert (
        create["dynamodb_calls_by_operation"]["dynamodb:TransactWriteItems"] >= create["kms_calls"]["creates"]
    )
    assert sum(create["breakdown"]["percent"].values()) == pytest.approx(100, abs=1)

    batch = results["batch"]  # a batch is the membership read, the claims' read and its transactions
    assert batch["round_trips"]["batch"] <= batch["round_trips_goal_batch"] == 6

    review = results["review"]  # per pharmacy in a stream batch: its state read, its hours, its state write
    assert review["round_trips"]["one_pharmacy"] == 3 and review["round_trips"]["replayed"] == 2
    assert review["round_trips"]["ten_pharmacies"] == 30
    assert review["cpu"]["alerts"] == 0 and review["cpu"]["us_per_event"]["n"] == 1
    assert batch["round_trips"]["one_by_one"] == 2 * batch["items"] and batch["round_trips"]["replay"] == 3

    export = results["export"]
    assert export["acknowledged"] == export["records"] == export["ledger_entries"]
    assert export["duplicates"] == 0
    assert export["kms_calls"] and set(export["kms_calls"]) == {"kms:Decrypt"}
    # leases and outcomes in transactions of up to 100 items: two per batch, not two per record
    assert export["dynamodb_calls"]["dynamodb:TransactWriteItems"] >= 2 * export["batches"]
    assert export["dynamodb_round_trips_per_record"] < 1
    # our CPU as profiled, and less the profiler's cost measured on the same export unprofiled
    assert export["own_cpu"]["own_cpu_ms_per_record"] > 0 and export["own_cpu"]["own_calls_per_record"] > 0
    assert 0 <= export["own_cpu_ms_per_record"] <= export["own_cpu"]["own_cpu_ms_per_record"]
    assert export["backlog_model"]["minutes"] > 0
    # records/s with an undo log (the run above), and once on moto's own transactions
    assert export["moto_transactions"] == "undo-log" and export["moto_as_is"]["records_per_second"] > 0
    assert export["own_cpu"]["dynamodb_calls"]["dynamodb:TransactWriteItems"] >= 2
    assert len(export["batch_throughput"]) == export["batches"]
    assert export["backlog_seconds_estimate"] > 0

    cold = results["cold_start"]
    assert cold["files"] == 2 and cold["zip_bytes"] > 0
    assert set(cold["import_ms"]) == {"app_precompiled", "app_source_only", "boto3"}

    rows = results["curves"]["rows"]
    assert [row["factor"] for row in rows] == [1, 10]
    assert rows[1]["records"] == 10 * rows[0]["records"]
    assert all(row["export_batches"] >= 1 and row["export_traced_peak_mib"] > 0 for row in rows)

    latency = results["export_latency"]
    assert latency["acknowledged"] == latency["records"]
    assert 0 < latency["p50_seconds"] <= latency["p95_seconds"]

    names = [t["target"] for t in results["targets"]]
    # every figure of bench/results.md: API and export, zip and unzipped sizes, the export at scale
    assert len(names) == 11
    assert names[6:8] == ["deployment zip ≤ 30 MiB", "unzipped ≤ 80 MiB"]
    assert all(t["measured"] is not None for t in results["targets"][8:])
    assert {t["verdict"].split()[0] for t in results["targets"]} <= {"met", "missed"}
    markdown = (out / "results.md").read_text(encoding="utf-8")
    for heading in (
        "## Targets",
        "## 1. Create path",
        "## 2. KMS calls",
        "## 3. Export throughput",
        "## 4. Cold start",
        "## 5. Costs that grow",
        "## 6. The export at national scale",
    ):
        assert heading in markdown
    for image in ("export_throughput.png", "cost_curves.png"):
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({image})" in markdown


def test_the_bench_undo_log_keeps_a_cancelled_transaction_all_or_nothing() -> None:
    """The bench's stand-in for moto's whole-table copies: a transaction whose second item fails
    its condition leaves the first item as it was, and a transaction that passes writes both."""
    import boto3
    from moto import mock_aws

    from bench.common import moto_transactions_with_an_undo_log

    with mock_aws(), moto_transactions_with_an_undo_log():
        ddb = boto3.client("dynamodb", region_name="eu-west-3")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for key in ("a", "b"):
            ddb.put_item(TableName="t", Item={"k": {"S": key}, "v": {"N": "1"}})

        def bump(key: str, expected: str) -> Any:
            return {
                "Update": {
                    "TableName": "t",
                    "Key": {"k": {"S": key}},
                    "UpdateExpression": "SET v = v + :one",
                    "ConditionExpression": "v = :expected",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":expected": {"N": expected}},
                }
            }

        with pytest.raises(ddb.exceptions.TransactionCanceledException) as cancelled:
            ddb.transact_write_items(TransactItems=[bump("a", "1"), bump("b", "7")])
        reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
        assert reasons == ["None", "ConditionalCheckFailed"]

        def value(key: str) -> str:
            return str(ddb.get_item(TableName="t", Key={"k": {"S": key}})["Item"]["v"]["N"])

        assert (value("a"), value("b")) == ("1", "1")
        ddb.transact_write_items(TransactItems=[bump("a", "1"), bump("b", "1")])
        assert (value("a"), value("b")) == ("2", "2")
