"""`make bench` machinery on tiny sizes: every figure is produced, written and plotted. No timing is
asserted (speed is the benchmark's business, not a test's): only the structure of the output."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


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
    assert create["dynamodb_calls_by_operation"]["dynamodb:PutItem"] >= create["kms_calls"]["creates"]
    assert sum(create["breakdown"]["percent"].values()) == pytest.approx(100, abs=1)

    export = results["export"]
    assert export["acknowledged"] == export["records"] == export["ledger_entries"]
    assert export["duplicates"] == 0
    assert export["kms_calls"] and set(export["kms_calls"]) == {"kms:Decrypt"}
    # leases and outcomes in transactions of up to 100 items: two per batch, not two per record
    assert export["dynamodb_calls"]["dynamodb:TransactWriteItems"] >= 2 * export["batches"]
    assert export["dynamodb_round_trips_per_record"] < 1
    assert export["own_cpu_ms_per_record"] > 0 and export["backlog_model"]["minutes"] > 0
    assert len(export["batch_throughput"]) == export["batches"]
    assert export["backlog_seconds_estimate"] > 0

    cold = results["cold_start"]
    assert cold["files"] == 2 and cold["zip_bytes"] > 0
    assert set(cold["import_ms"]) == {"app_precompiled", "app_source_only", "boto3"}

    rows = results["curves"]["rows"]
    assert [row["factor"] for row in rows] == [1, 10]
    assert rows[1]["records"] == 10 * rows[0]["records"]
    assert all(row["export_batches"] >= 1 and row["export_traced_peak_mib"] > 0 for row in rows)

    names = [t["target"] for t in results["targets"]]
    assert len(names) == 8  # the six of issue 7, then the zip and unzipped sizes of issue 15
    assert names[-2:] == ["deployment zip ≤ 30 MiB", "unzipped ≤ 80 MiB"]
    assert {t["verdict"].split()[0] for t in results["targets"]} <= {"met", "missed"}
    markdown = (out / "results.md").read_text(encoding="utf-8")
    for heading in (
        "## Targets",
        "## 1. Create path",
        "## 2. KMS calls",
        "## 3. Export throughput",
        "## 4. Cold start",
        "## 5. Costs that grow",
    ):
        assert heading in markdown
    for image in ("export_throughput.png", "cost_curves.png"):
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({image})" in markdown
