"""The operator command with the real collaborators (bootstrap: envelope cipher on moto KMS, the
hash-chained audit journal) against the fake receiver: run, redrive, loop until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib.domain.model import DeliveryState
from devtools import export as export_command
from devtools.fake_sidep import FakeSidep
from devtools.provision import put_sidep_certificate
from tests.fakes import FixedClock
from tests.integration.test_export_support import load, seed

pytestmark = pytest.mark.integration


@pytest.fixture
def sidep_env(aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSidep]:
    with FakeSidep(tmp_path / "sidep") as sidep:
        monkeypatch.setenv("SIDEP_URL", sidep.url)
        certificate = put_sidep_certificate(
            boto3.client("secretsmanager"), sidep.certs.ca, sidep.certs.client_cert, sidep.certs.client_key
        )
        monkeypatch.setenv("SIDEP_TLS_SECRET_ID", certificate["SIDEP_TLS_SECRET_ID"])
        monkeypatch.setenv("SIDEP_BATCH_SIZE", "7")
        monkeypatch.setenv("EXPORT_MAX_ATTEMPTS", "1")
        from chalicelib.config import get_settings

        get_settings.cache_clear()
        yield sidep


def real_cipher():  # type: ignore[no-untyped-def]
    from chalicelib import bootstrap

    return bootstrap.get_container().records.cipher


def test_run_exports_with_the_real_cipher_and_journal(
    sidep_env: FakeSidep, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib import bootstrap

    records = seed(10, FixedClock(), real_cipher())
    assert export_command.main(["run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["acknowledged"] == 10
    assert len(sidep_env.ledger()) == 10 and len(list(sidep_env.inbox())) == 2  # batches of 7
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)
    journal = bootstrap.get_container().journal
    exported = []
    for finess in {r.finess for r in records}:
        items, _ = journal.read(finess, start=None, end=None, limit=100, cursor=None)
        exported += [e for e in items if e.get("action") == "export"]
    assert sorted(i for e in exported for i in e["record_ids"]) == sorted(r.id for r in records)
    assert {e["outcome"] for e in exported} == {"success"}


def test_redrive_puts_dead_letters_back(sidep_env: FakeSidep, capsys: pytest.CaptureFixture[str]) -> None:
    records = seed(3, FixedClock(), real_cipher())
    sidep_env.set_faults(http500=True)
    assert export_command.main(["run"]) == 1  # one attempt allowed: straight to the dead letters
    assert all(load(r).delivery.state is DeliveryState.FAILED for r in records)
    capsys.readouterr()
    assert export_command.main(["redrive", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["redriven"] == 3
    sidep_env.clear_faults()
    export_command.main(["run"])
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)


def test_loop_runs_on_a_timer_and_stops_on_sigterm(sidep_env: FakeSidep) -> None:
    records = seed(4, FixedClock(), real_cipher())
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert export_command.main(["loop", "--every", "0.2"]) == 0
    finally:
        timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)


def test_the_scheduled_function_keeps_within_the_lambda_time(sidep_env: FakeSidep) -> None:
    records = seed(3, FixedClock(), real_cipher())
    # 10 s left is less than the safety margin: no batch starts
    assert export_command.scheduled_export(10_000)["leased"] == 0
    summary = export_command.scheduled_export(300_000)
    assert summary["acknowledged"] == 3
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)
