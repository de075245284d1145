"""The operator command with the real collaborators (bootstrap: envelope cipher on moto KMS, the
hash-chained audit journal) against the fake receiver: run, redrive, loop until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from chalicelib.domain.model import DeliveryState
from chalicelib.ports import PersonalDataCipher
from devtools.fake_sidep import FakeSidep
from devtools.provision import put_sidep_certificate
from operations import export as export_command
from testkit.export_support import load, seed
from testkit.fakes import FixedClock


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


def real_cipher() -> PersonalDataCipher:
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


def test_the_trigger_sends_a_result_from_the_records_stream(sidep_env: FakeSidep) -> None:
    """A result set through the repository reaches SI-DEP on the next stream poll: the Chalice
    stream handler, run the way Lambda's event source mapping would on moto's stream."""
    import boto3

    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.api.streams import export_on_change
    from chalicelib.bootstrap import get_container
    from chalicelib.config import get_settings
    from chalicelib.domain import delivery
    from chalicelib.domain.model import ScreeningResult
    from devtools.streams import StreamPoller, streams_client
    from testkit.export_support import new_record
    from testkit.patients import patient

    settings = get_settings()
    poller = StreamPoller(
        get_container().aws.dynamodb(),
        streams_client(boto3.Session(region_name="eu-west-3")),
        settings.records_table,
        export_on_change,
    )
    repository = DynamoDbRecordRepository()
    pending = new_record(0, FixedClock().now(), result=None)
    repository.add(
        pending,
        real_cipher().encrypt(patient(0), finess=pending.finess, record_id=pending.id),
        "idx",
        expires_at=FixedClock().now(),
    )
    poller.poll_once()  # the creation: nothing to send yet
    assert sidep_env.ledger() == {}

    stored, _ = repository.get(pending.finess, pending.id)
    stored.test = replace(stored.test, result=ScreeningResult.POSITIVE)
    delivery.schedule_send(stored, get_container().clock.now())
    stored.version += 1
    repository.save(stored, expected_version=1)
    delivered = poller.poll_once()
    assert delivered >= 1
    assert load(pending).delivery.state is DeliveryState.ACKNOWLEDGED
    assert len(sidep_env.ledger()) == 1
    poller.poll_once()  # our own writes (lease, outcome) come back on the stream: nothing is resent
    assert set(sidep_env.ledger().values()) == {1}


def test_the_sweeper_fans_out_one_message_per_shard_and_each_consumer_sends_its_shard(
    sidep_env: FakeSidep, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS path: the schedule sends one SQS message per export-queue shard and sends nothing
    itself; each message's consumer exports its shard. SQS delivers at least once: a message
    delivered twice, or naming no shard, sends nothing more."""
    from chalicelib import bootstrap
    from chalicelib.adapters.dynamodb.models import export_queue_keys
    from chalicelib.config import get_settings
    from chalicelib.jobs import export_shard

    records = seed(12, FixedClock(), real_cipher())
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="export-shards")["QueueUrl"]
    monkeypatch.setenv("EXPORT_FANOUT_QUEUE_URL", url)
    get_settings.cache_clear()
    bootstrap.reset()
    assert export_command.scheduled_export(300_000) == {"fanned_out": len(export_queue_keys())}
    assert sidep_env.ledger() == {}
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in messages]
    assert sorted(json.loads(b)["shard"] for b in bodies) == sorted(export_queue_keys())
    summaries = [export_shard(body, 300_000) for body in [*bodies, bodies[0], '{"shard": "x"}', ""]]
    assert sum(s.get("acknowledged", 0) for s in summaries) == 12
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)
    assert len(sidep_env.ledger()) == 12 and set(sidep_env.ledger().values()) == {1}


def test_a_batch_without_an_answer_exits_1_and_retry_ends_the_backoff_journaled(
    sidep_env: FakeSidep, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import bootstrap

    monkeypatch.setenv("EXPORT_MAX_ATTEMPTS", "5")
    records = seed(3, FixedClock(), real_cipher())
    sidep_env.set_faults(http500=True)
    assert export_command.main(["run"]) == 1  # it exited 0 when every batch failed
    out = capsys.readouterr().out
    assert "batch NOT SENT: SI-DEP gave no answer (server_error: http 500)" in out
    assert all(
        load(r).delivery.state is DeliveryState.READY and load(r).delivery.attempts == 1 for r in records
    )
    sidep_env.clear_faults()
    assert export_command.main(["run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["leased"] == 0  # all in backoff
    assert export_command.main(["retry", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["retried"] == 3
    assert export_command.main(["retry", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["retried"] == 0  # nothing waits any more
    journal = bootstrap.get_container().journal
    retried = []
    for finess in {r.finess for r in records}:
        items, _ = journal.read(finess, start=None, end=None, limit=100, cursor=None)
        retried += [e for e in items if e.get("action") == "export_retry"]
    assert sorted(i for e in retried for i in e["record_ids"]) == sorted(r.id for r in records)
    assert export_command.main(["run"]) == 0
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)


def test_export_max_attempts_of_the_operator_is_honoured_for_its_run(
    sidep_env: FakeSidep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_MAX_ATTEMPTS", "8")
    records = seed(2, FixedClock(), real_cipher())
    sidep_env.set_faults(http500=True)
    assert export_command.main(["run", "--max-attempts", "1"]) == 1
    assert all(load(r).delivery.state is DeliveryState.FAILED for r in records)


def test_the_deployed_retry_runs_in_the_redrive_function_told_so_by_its_event(
    sidep_env: FakeSidep, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.api.schedules import redrive_dead_letters
    from operations.target import scheduled_event

    monkeypatch.setenv("EXPORT_MAX_ATTEMPTS", "5")
    records = seed(2, FixedClock(), real_cipher())
    sidep_env.set_faults(http500=True)
    assert export_command.main(["run"]) == 1
    assert redrive_dead_letters(scheduled_event("eu-west-3", {"action": "retry"}), None) == {"retried": 2}
    assert redrive_dead_letters(scheduled_event("eu-west-3"), None) == {"redriven": 0}
    assert all(load(r).delivery.state is DeliveryState.READY for r in records)


def test_the_sweepers_gauge_counts_a_result_waiting_out_its_backoff(
    sidep_env: FakeSidep, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest *due* record says nothing of one in backoff: the gauge reads the whole queue."""
    from chalicelib import jobs
    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.bootstrap import get_container

    monkeypatch.setenv("EXPORT_MAX_ATTEMPTS", "5")
    clock = FixedClock()
    first = seed(1, clock, real_cipher())
    clock.advance(minutes=5)
    seed(1, clock, real_cipher(), start=1)
    sidep_env.set_faults(http500=True)
    assert export_command.main(["run"]) == 1  # both now wait out a backoff: none is due
    queue = DynamoDbExportQueue(get_container().aws.dynamodb(), owner="test")
    assert queue.oldest_due(get_container().clock.now()) is None
    set_at = load(first[0]).updated_at
    assert queue.oldest_waiting_since() == set_at
    waited_at_least = (get_container().clock.now() - set_at).total_seconds()
    assert jobs._measure_unacknowledged() >= waited_at_least


@pytest.mark.parametrize("given", ["0", "-3", "one"])
def test_an_export_max_attempts_that_is_no_count_of_attempts_is_refused_not_read_as_one(
    sidep_env: FakeSidep, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    # `make export EXPORT_MAX_ATTEMPTS=0` ran with 1 (every failure a dead letter), silently
    records = seed(1, FixedClock(), real_cipher())
    with pytest.raises(SystemExit) as exit_:
        export_command.main(["run", f"--max-attempts={given}"])
    assert exit_.value.code == 2 and "--max-attempts" in capsys.readouterr().err
    assert load(records[0]).delivery.state is DeliveryState.READY  # nothing ran
