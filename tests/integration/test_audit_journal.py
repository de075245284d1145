"""The audit journal on moto: append, read, signed checkpoints, the WORM copy, tampering, failures."""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer, KmsSigner
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.dynamodb.models import AuditEventModel, PharmacyModel
from chalicelib.adapters.worm import S3WormCopy
from chalicelib.bootstrap import audit_journal, bind_tables
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import PLATFORM_CHAIN, AuditEvent, format_time, parse_time
from chalicelib.domain.audit_checkpoints import public_key_verifier
from chalicelib.domain.audit_verification import (
    CHECKPOINT_FORGED,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_SKIPPED,
    DELETED,
    EDITED,
    MALFORMED,
    REORDERED,
    STALE,
    TABLE_MISSING,
    TRUNCATED,
    WORM_DIFFERS,
    WORM_FORGED,
    WORM_MISSING,
    VerificationReport,
)
from chalicelib.domain.errors import ServiceUnavailable, ValidationFailed
from chalicelib.domain.finess import check_digit
from devtools import verify_audit
from devtools.audit_jobs import audit_stream_poller
from devtools.provision import provision

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class StepClock:
    """Each call is one second later: deterministic times, and a window can be cut between events."""

    def __init__(self, start: datetime = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)) -> None:
        self.moment = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self.moment += timedelta(seconds=1)
            return self.moment


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(scope="module")
def shared_account() -> Iterator[dict[str, str]]:
    """One provisioned moto account for the module (provisioning costs seconds); each test writes
    its own chains, so tests stay independent. Tests that break the account use `aws`."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)  # set by an earlier module's operator command
        with mock_aws():
            yield provision(boto3.Session(region_name="eu-west-3"))


@pytest.fixture
def account(shared_account: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in shared_account.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    bind_tables(get_settings())
    return shared_account


_serial = itertools.count(1)


@pytest.fixture
def pharmacies(account: dict[str, str]) -> tuple[str, str]:
    """Two FINESS no other test of the module writes to."""
    n = next(_serial)
    return valid_finess(f"75{n:06d}"), valid_finess(f"69{n:06d}")


def valid_finess(prefix8: str) -> str:
    return prefix8 + check_digit(prefix8)


@pytest.fixture
def journal(account: dict[str, str], clock: StepClock) -> DynamoDbAuditJournal:
    return make_journal(clock)


def make_journal(clock: Any, **kwargs: Any) -> DynamoDbAuditJournal:
    kwargs.setdefault("sleep", lambda _s: None)
    return audit_journal(get_settings(), clock, **kwargs)


def make_checkpointer(clock: Any) -> DynamoDbCheckpointer:
    return DynamoDbCheckpointer(
        signer=KmsSigner(boto3.client("kms"), get_settings().audit_key_id), clock=clock
    )


def report_of(chain: str, clock: StepClock, *, worm: bool = True) -> VerificationReport:
    """What the verifier says of the chain as AWS holds it, now (the clock's time)."""
    source = verify_audit.AwsSource(worm=worm)
    now = clock.now()
    verifier = public_key_verifier(source.public_key())
    return verify_audit.verify_document(
        source.document(chain, now), verifier, now=now, period=timedelta(hours=1)
    )


_pollers: dict[str, Any] = {}


def copy_to_worm() -> int:
    """Run the stream consumer over what the audit stream got since its last run (one consumer per
    account, as Lambda's event source mapping keeps its position)."""
    poller = _pollers.setdefault(
        get_settings().audit_worm_bucket + get_settings().audit_key_id, audit_stream_poller()
    )
    return int(poller.poll_once())


def ev(i: int, finess: str | None, **overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "action": "read",
        "outcome": "success",
        "actor": f"user-{i % 3}",
        "role": "pharmacist",
        "finess": finess,
        "record_ids": (f"rec-{i}",),
        "request_id": f"req-{i}",
        "source_ip": "192.0.2.7",
        "user_agent": "depistage-app/2.1",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def ddb() -> Any:
    return boto3.client("dynamodb")


def key(chain: str, seq: int) -> dict[str, Any]:
    return {"chain": {"S": chain}, "seq": {"N": str(seq)}}


def raw_item(chain: str, seq: int) -> dict[str, Any]:
    table = get_settings().audit_table
    return dict(ddb().get_item(TableName=table, Key=key(chain, seq), ConsistentRead=True)["Item"])


def put_raw(item: dict[str, Any], table: str | None = None) -> None:
    ddb().put_item(TableName=table or get_settings().audit_table, Item=item)


def delete_raw(chain: str, seq: int) -> None:
    ddb().delete_item(TableName=get_settings().audit_table, Key=key(chain, seq))


def verdict(chain: str, clock: StepClock) -> tuple[int, str]:
    report = report_of(chain, clock)
    broken = report.first_broken
    assert broken is not None, report.summary()
    return broken.seq, broken.kind


def findings(chain: str, clock: StepClock) -> list[tuple[int, str]]:
    return sorted((f.seq, f.kind) for f in report_of(chain, clock).findings)


def cli(clock: StepClock, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_audit.run(list(args), out=out, clock=clock.now)
    return code, out.getvalue()


def seqs(journal: DynamoDbAuditJournal, chain: str, **window: Any) -> list[int]:
    items, _ = journal.read(chain, start=window.get("start"), end=window.get("end"), limit=500, cursor=None)
    return [e["seq"] for e in items]


# --- append and read ---------------------------------------------------------------------------


def test_append_then_read_oldest_first_with_the_contract_fields(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    for i in range(3):
        journal.append(ev(i, a))
    items, cursor = journal.read(a, start=None, end=None, limit=10, cursor=None)
    assert cursor is None
    assert [e["seq"] for e in items] == [1, 2, 3]
    first = items[0]
    assert first["time"] == "2026-11-29T09:00:01.000000Z"
    assert first["actor"] == "user-0" and first["role"] == "pharmacist" and first["finess"] == a
    assert first["action"] == "read" and first["record_ids"] == ["rec-0"] and first["outcome"] == "success"
    assert first["request_id"] == "req-0" and first["source_ip"] == "192.0.2.7"
    assert first["user_agent"] == "depistage-app/2.1" and first["reason"] == ""
    assert len(first["hash"]) == 64


def test_read_pages_with_a_cursor_and_a_time_window(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    for i in range(7):
        journal.append(ev(i, a))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        items, cursor = journal.read(a, start=None, end=None, limit=3, cursor=cursor)
        seen += [e["seq"] for e in items]
        if cursor is None:
            break
    assert seen == list(range(1, 8))
    # One event a second from 09:00:01: events 3..5 fall in [09:00:03, 09:00:05], bounds included.
    start, end = parse_time("2026-11-29T09:00:03.000000Z"), parse_time("2026-11-29T09:00:05.000000Z")
    items, cursor = journal.read(a, start=start, end=end, limit=2, cursor=None)
    assert [e["seq"] for e in items] == [3, 4] and cursor
    items, cursor = journal.read(a, start=start, end=end, limit=2, cursor=cursor)
    assert [e["seq"] for e in items] == [5] and cursor is None
    assert seqs(journal, a, start=start) == [3, 4, 5, 6, 7]
    assert seqs(journal, a, end=end) == [1, 2, 3, 4, 5]


def test_a_cursor_is_bound_to_its_pharmacy(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, b = pharmacies
    for i in range(3):
        journal.append(ev(i, a))
        journal.append(ev(i, b))
    _, cursor = journal.read(a, start=None, end=None, limit=1, cursor=None)
    assert cursor is not None
    with pytest.raises(ValidationFailed) as refused:
        journal.read(b, start=None, end=None, limit=1, cursor=cursor)
    assert refused.value.errors[0].field == "cursor"
    for garbage in ("not-a-cursor", "eyJ4IjoxfQ", "!!!"):
        with pytest.raises(ValidationFailed):
            journal.read(a, start=None, end=None, limit=1, cursor=garbage)
    assert {e["finess"] for e in journal.read(b, start=None, end=None, limit=10, cursor=None)[0]} == {b}


def test_events_without_a_pharmacy_go_to_the_platform_chain(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    marker = f"expired-{a}"
    journal.append(ev(1, None, action="authenticate", outcome="denied", actor="anonymous", reason=marker))
    platform = journal.read(PLATFORM_CHAIN, start=None, end=None, limit=500, cursor=None)[0]
    assert [e["reason"] for e in platform if e["reason"] == marker] == [marker]
    assert seqs(journal, a) == []


def test_links_expire_after_the_configured_retention(
    account: dict[str, str], pharmacies: tuple[str, str], monkeypatch: pytest.MonkeyPatch, clock: StepClock
) -> None:
    a, _ = pharmacies
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    make_journal(clock).append(ev(1, a))
    item = raw_item(a, 1)
    written = parse_time(item["time"]["S"])
    assert int(item["expires_at"]["N"]) == int((written + timedelta(days=30)).timestamp())
    ttl = ddb().describe_time_to_live(TableName=get_settings().audit_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


# --- one chain under contention ----------------------------------------------------------------


def test_concurrent_appends_keep_one_unbroken_chain(pharmacies: tuple[str, str]) -> None:
    """Four writers (four processes' worth: each its own head cache) append to one chain at once."""
    a, _ = pharmacies
    clock = StepClock()
    conflicts: list[float] = []  # one backoff per lost race
    journals = [make_journal(clock, max_attempts=50, sleep=conflicts.append) for _ in range(4)]
    for w, journal in enumerate(journals):  # each caches a head; all but the last are now stale
        journal.append(ev(w, a, request_id=f"prime-{w}"))
    per_writer = 8
    barrier = threading.Barrier(len(journals))
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                journals[w].append(ev(w * 100 + i, a, request_id=f"w{w}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(len(journals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = report_of(a, clock, worm=False)
    assert report.ok, report.summary()
    assert (report.first_seq, report.last_seq, report.events_checked) == (1, 36, 36)
    items = journals[0].read(a, start=None, end=None, limit=100, cursor=None)[0]
    expected = [f"prime-{w}" for w in range(4)] + [f"w{w}-{i}" for w in range(4) for i in range(per_writer)]
    assert sorted(e["request_id"] for e in items) == sorted(expected)
    assert len(conflicts) >= 3  # the three stale caches lost at least one race each


def test_a_stale_head_cache_costs_a_retry_not_a_fork(pharmacies: tuple[str, str], clock: StepClock) -> None:
    a, _ = pharmacies
    first, second = make_journal(clock), make_journal(clock)
    first.append(ev(1, a))
    second.append(ev(2, a))  # first's cached head (seq 1) is now stale
    first.append(ev(3, a))
    items = first.read(a, start=None, end=None, limit=9, cursor=None)[0]
    assert [e["request_id"] for e in items] == ["req-1", "req-2", "req-3"]
    assert report_of(a, clock, worm=False).ok


def test_endless_contention_ends_in_service_unavailable(
    pharmacies: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pharmacies
    pauses: list[float] = []
    contended = make_journal(StepClock(), max_attempts=4, sleep=pauses.append)
    monkeypatch.setattr(
        PutError, "cause_response_code", property(lambda _e: "ConditionalCheckFailedException")
    )

    def taken(self: AuditEventModel, *args: Any, **kwargs: Any) -> Any:
        raise PutError("taken")

    monkeypatch.setattr(AuditEventModel, "save", taken)
    with pytest.raises(ServiceUnavailable):
        contended.append(ev(1, a))
    assert len(pauses) == 4 and all(0 <= p <= 0.2 for p in pauses)


def test_a_failing_table_is_a_503_never_a_silent_success(
    pharmacies: tuple[str, str], clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pharmacies
    journal = make_journal(clock)
    journal.append(ev(1, a))
    monkeypatch.setenv("AUDIT_TABLE", "depistage-audit-gone")  # every call now fails (ResourceNotFound)
    get_settings.cache_clear()
    bind_tables(get_settings())
    with pytest.raises(ServiceUnavailable):
        journal.append(ev(2, a))  # cached head: the put itself fails
    with pytest.raises(ServiceUnavailable):
        make_journal(clock).append(ev(3, a))  # no cache: the head read fails
    with pytest.raises(ServiceUnavailable):
        journal.read(a, start=None, end=None, limit=5, cursor=None)


def test_the_writers_journal_holds_no_key_and_writes_no_checkpoint(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, _ = pharmacies
    for i in range(5):
        journal.append(ev(i, a))
    assert not hasattr(journal, "_signer") and not hasattr(journal, "_mac")
    assert verify_audit.AwsSource().document(a, clock.now())["checkpoints"] == []


# --- signed checkpoints, the heartbeat ----------------------------------------------------------


def test_the_schedule_signs_every_head_even_when_nothing_moved(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, b = pharmacies
    for i in range(12):
        journal.append(ev(i, a))
    journal.append(ev(1, b))
    signer = make_checkpointer(clock)
    assert signer.checkpoint_all([a, b]) == {a: 12, b: 1}
    assert signer.checkpoint_all([a, b]) == {a: 12, b: 1}  # the heartbeat: signed again, unmoved
    cps = verify_audit.AwsSource().document(a, clock.now())["checkpoints"]
    assert [int(c["n"]["N"]) for c in cps] == [1, 2]
    assert [int(c["head_seq"]["N"]) for c in cps] == [12, 12]
    arn = boto3.client("kms").describe_key(KeyId=get_settings().audit_key_id)["KeyMetadata"]["Arn"]
    assert cps[-1]["key_id"]["S"] in arn
    assert report_of(a, clock, worm=False).ok and report_of(b, clock, worm=False).ok


def test_checkpoint_all_finds_the_chains_itself(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, b = pharmacies
    PharmacyModel(b, name="Pharmacie B", created_at="2026-11-29T09:00:00Z", created_by="admin").save()
    journal.append(ev(1, b))
    journal.append(ev(2, None))
    signer = make_checkpointer(clock)
    pinned = signer.checkpoint_all()
    assert pinned[b] == 1 and PLATFORM_CHAIN in pinned
    journal.append(ev(3, a))  # a chain of no pharmacy, already checkpointed once, is found again
    signer.checkpoint(a)
    journal.append(ev(4, a))
    assert signer.checkpoint_all()[a] == 2


def test_the_public_key_is_published_for_the_api(journal: DynamoDbAuditJournal, clock: StepClock) -> None:
    make_checkpointer(clock).checkpoint_all([])
    published = journal.public_key()
    assert published is not None and published.algorithm == "ECDSA_SHA_256"
    der = boto3.client("kms").get_public_key(KeyId=get_settings().audit_key_id)["PublicKey"]
    assert callable(public_key_verifier(published.public_key_pem.encode()))  # a P-256 key
    assert published.fingerprint == __import__("hashlib").sha256(der).hexdigest()


def test_a_failed_signature_fails_the_run_but_not_the_other_chains(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, b = pharmacies
    journal.append(ev(1, a))
    journal.append(ev(1, b))

    class FlakyKms:
        def __init__(self) -> None:
            self.real = boto3.client("kms")
            self.calls = 0

        def sign(self, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise ClientError({"Error": {"Code": "KMSInternalException", "Message": "down"}}, "Sign")
            return self.real.sign(**kwargs)

        def get_public_key(self, **kwargs: Any) -> Any:
            return self.real.get_public_key(**kwargs)

    signer = DynamoDbCheckpointer(
        signer=KmsSigner(cast("KMSClient", FlakyKms()), get_settings().audit_key_id), clock=clock
    )
    with pytest.raises(ServiceUnavailable):
        signer.checkpoint_all([a, b])
    docs = verify_audit.AwsSource().document
    assert docs(a, clock.now())["checkpoints"] == [] and len(docs(b, clock.now())["checkpoints"]) == 1


# --- tampering, found by the verifier and the operator command ----------------------------------
# Each attack is what a writer's role (PutItem on the events table) or an administrator could do;
# the verifier names it with the public key alone.

HOUR = timedelta(hours=1)


@pytest.fixture
def chain_of_12(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> tuple[DynamoDbAuditJournal, str]:
    """Twelve events over three hours, signed hourly (heads 4, 8, 12), copied to the WORM bucket."""
    a, _ = pharmacies
    signer = make_checkpointer(clock)
    for hour in range(3):
        for i in range(4):
            journal.append(ev(hour * 4 + i, a))
        signer.checkpoint(a)
        clock.moment += HOUR
    clock.moment -= HOUR
    copy_to_worm()
    code, out = cli(clock, "--chain", a)
    assert code == 0, out
    assert "intact" in out and "12 compared with the WORM copy" in out
    return journal, a


def test_an_edited_event_is_named(chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock) -> None:
    _journal, a = chain_of_12
    item = raw_item(a, 7)
    item["event"] = {"S": item["event"]["S"].replace('"user-0"', '"user-2"')}
    put_raw(item)
    assert verdict(a, clock) == (7, EDITED)
    assert (7, WORM_DIFFERS) in findings(a, clock)
    code, out = cli(clock, "--chain", a)
    assert code == 1 and "first broken link seq 7: edited" in out


def test_an_event_rewritten_with_the_chain_recomputed_is_named_by_the_signed_checkpoint(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """What the API role could do with PutItem alone: rewrite the `read` of seq 6 into a `list` and
    recompute every hash after it. The chain is consistent again; the signed checkpoints are not,
    and no writer can sign new ones (it has no right on the key: tests/infra)."""
    from chalicelib.domain.audit_chain import Head, next_link

    _journal, a = chain_of_12
    previous = raw_item(a, 5)
    head = Head(5, previous["hash"]["S"], previous["time"]["S"], int(previous["expires_at"]["N"]))
    for seq in range(6, 13):
        item = raw_item(a, seq)
        fields = __import__("json").loads(item["event"]["S"])
        if seq == 6:
            fields["action"] = "list"
        link = next_link(head, a, fields, now=parse_time(item["time"]["S"]), retention_days=365)
        item.update(
            {
                "event": {"S": __import__("json").dumps(fields)},
                "prev_hash": {"S": link.prev_hash},
                "hash": {"S": link.hash},
                "time": {"S": link.time},
                "expires_at": {"N": str(link.expires_at)},
            }
        )
        put_raw(item)
        head = Head(seq, link.hash, link.time, link.expires_at)
    found = findings(a, clock)
    assert verdict(a, clock) == (6, WORM_DIFFERS) or (8, CHECKPOINT_MISMATCH) in found
    assert (8, CHECKPOINT_MISMATCH) in found and (12, CHECKPOINT_MISMATCH) in found
    assert not any(kind in (EDITED, REORDERED) for _seq, kind in found)  # the bare chain is fooled
    assert {seq for seq, kind in found if kind == WORM_DIFFERS} == set(range(6, 13))
    report = report_of(a, clock, worm=False)
    assert report.first_broken is not None and (report.first_broken.seq, report.first_broken.kind) == (
        8,
        CHECKPOINT_MISMATCH,
    )


def test_an_event_made_unreadable_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    _journal, a = chain_of_12
    item = raw_item(a, 3)
    item["event"] = {"S": "{not json"}
    del item["prev_hash"]
    put_raw(item)
    assert verdict(a, clock)[0] == 3


def test_a_deleted_middle_event_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    _journal, a = chain_of_12
    delete_raw(a, 8)
    assert verdict(a, clock) == (8, DELETED)
    assert (8, TABLE_MISSING) in findings(a, clock)
    code, out = cli(clock, "--chain", a, "--json")
    assert code == 1 and json.loads(out)["chains"][0]["first_broken"]["seq"] == 8
    assert json.loads(out)["chains"][0]["first_broken"]["kind"] == "deleted"


def test_a_reordered_pair_is_named(chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock) -> None:
    _journal, a = chain_of_12
    four, five = raw_item(a, 4), raw_item(a, 5)
    four["seq"], five["seq"] = {"N": "5"}, {"N": "4"}
    put_raw(four)
    put_raw(five)
    assert verdict(a, clock) == (4, REORDERED)


def delete_checkpoint(chain: str, n: int) -> None:
    ddb().delete_item(
        TableName=get_settings().audit_checkpoints_table, Key={"chain": {"S": chain}, "n": {"N": str(n)}}
    )


def test_the_newest_events_deleted_are_named_through_the_checkpoint(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    _journal, a = chain_of_12
    delete_raw(a, 11)
    delete_raw(a, 12)
    assert verdict(a, clock) == (11, TRUNCATED)


def test_a_deleted_tail_with_its_newest_checkpoint_is_named_within_two_periods(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """Cut events 9..12 and checkpoint 3 (which pinned them): what is left is a valid chain with a
    valid checkpoint (head 8). The heartbeat makes its age the tell; the WORM copy names the events."""
    _journal, a = chain_of_12
    for seq in range(9, 13):
        delete_raw(a, seq)
    delete_checkpoint(a, 3)
    without_copy = report_of(a, clock, worm=False)
    assert without_copy.ok, "within the hour the cut is not yet visible from the tables alone"
    assert {(s, k) for s, k in findings(a, clock) if k == TABLE_MISSING} == {
        (s, TABLE_MISSING) for s in range(9, 13)
    }
    clock.moment += HOUR + timedelta(minutes=1)  # checkpoint 2 is now over two periods old
    report = report_of(a, clock, worm=False)
    assert report.first_broken is not None and (report.first_broken.seq, report.first_broken.kind) == (
        9,
        STALE,
    )
    code, out = cli(clock, "--chain", a, "--no-worm")
    assert code == 1 and "stale" in out


def test_a_deleted_middle_checkpoint_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    _journal, a = chain_of_12
    delete_checkpoint(a, 2)
    assert verdict(a, clock) == (12, CHECKPOINT_SKIPPED)


def test_a_forged_checkpoint_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """A checkpoint written by someone without the key (the writers cannot even write the table):
    signed with his own P-256 key, or not signed at all."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from chalicelib.adapters.dynamodb.audit_items import checkpoint_from_item
    from chalicelib.domain.audit_chain import Head
    from chalicelib.domain.audit_checkpoints import checkpoint_message, next_checkpoint

    _journal, a = chain_of_12
    cps = verify_audit.AwsSource().document(a, clock.now())["checkpoints"]
    last = checkpoint_from_item(cps[-1])
    head = raw_item(a, 12)
    forged = next_checkpoint(
        last, a, Head(12, head["hash"]["S"], head["time"]["S"], int(head["expires_at"]["N"])), now=clock.now()
    )
    attacker = ec.generate_private_key(ec.SECP256R1())
    signature = (
        __import__("base64")
        .b64encode(attacker.sign(checkpoint_message(forged), ec.ECDSA(hashes.SHA256())))
        .decode()
    )
    item = dict(cps[-1])
    item.update(
        {
            "n": {"N": "4"},
            "prev": {"S": forged.prev},
            "signed_at": {"S": forged.signed_at},
            "signature": {"S": signature},
            "key_id": {"S": "arn:aws:kms:eu-west-3:000000000000:key/attacker"},
        }
    )
    put_raw(item, table=get_settings().audit_checkpoints_table)
    assert verdict(a, clock) == (12, CHECKPOINT_FORGED)


def test_an_event_absent_from_the_worm_copy_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    journal, a = chain_of_12
    journal.append(ev(13, a))  # the stream consumer has not run since
    assert report_of(a, clock).ok  # a link younger than the stream's lag may not be copied yet
    clock.moment += timedelta(minutes=20)
    assert verdict(a, clock) == (13, WORM_MISSING)
    copy_to_worm()
    assert report_of(a, clock).ok


def test_a_rewrite_after_the_copy_never_replaces_the_copy(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    _journal, a = chain_of_12
    item = raw_item(a, 2)
    item["event"] = {"S": item["event"]["S"].replace('"read"', '"list"')}
    put_raw(item)  # the stream carries this MODIFY to the consumer
    copy_to_worm()
    assert (2, WORM_DIFFERS) in findings(a, clock)
    s3 = boto3.client("s3")
    versions = s3.list_object_versions(
        Bucket=get_settings().audit_worm_bucket, Prefix=f"audit/{a}/000000000002"
    )
    assert len(versions["Versions"]) == 1  # the first copy stands alone


def test_a_whole_chain_deleted_is_named_through_its_checkpoints(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    _journal, a = chain_of_12
    for seq in range(1, 13):
        delete_raw(a, seq)
    assert a in verify_audit.AwsSource().chains()  # found through its checkpoints and its copy
    code, out = cli(clock, "--all")
    assert code == 1 and f"chain {a}" in out and "seq 1: truncated" in out, out


# --- offline verification ---------------------------------------------------------------------


def test_an_exported_chain_verifies_offline_with_the_public_key_alone(
    chain_of_12: tuple[DynamoDbAuditJournal, str],
    clock: StepClock,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    _journal, a = chain_of_12
    key, exported = tmp_path / "audit-public-key.pem", tmp_path / "chain.json"
    assert cli(clock, "--save-public-key", str(key))[0] == 0
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    code, out = cli(clock, "--export", a, "--out", str(exported))
    assert code == 0 and "12 events, 3 checkpoints" in out
    document = json.loads(exported.read_text())
    assert document["format"] == "depistage-audit-export/1" and len(document["worm"]) == 12

    # No AWS from here on: no credentials, and any client would fail.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AUDIT_KEY_ID"):
        monkeypatch.delenv(name, raising=False)

    def no_aws(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("offline verification called AWS")

    monkeypatch.setattr(boto3, "client", no_aws)
    monkeypatch.setattr(boto3, "Session", no_aws)
    code, out = cli(clock, "--file", str(exported), "--public-key", str(key))
    assert code == 0 and "intact" in out, out
    document["events"][4]["event"]["S"] = document["events"][4]["event"]["S"].replace("rec-4", "rec-x")
    exported.write_text(json.dumps(document))
    code, out = cli(clock, "--file", str(exported), "--public-key", str(key))
    assert code == 1 and "first broken link seq 5: edited" in out
    later = format_time(parse_time(document["exported_at"]) + 3 * HOUR)
    assert "stale" in cli(clock, "--file", str(exported), "--public-key", str(key), "--now", later)[1]
    other = tmp_path / "other.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, out = cli(clock, "--file", str(exported), "--public-key", str(other))
    assert code == 1 and "checkpoint_forged" in out


def test_the_command_builds_its_source_from_the_environment(
    pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, b = pharmacies
    make_journal(clock).append(ev(1, a))
    code, out = cli(clock, "--chain", a, "--json")
    assert code == 0 and [(c["chain"], c["ok"]) for c in json.loads(out)["chains"]] == [(a, True)]
    make_journal(clock).append(ev(1, b))
    make_journal(clock).append(ev(2, b))
    delete_raw(b, 1)
    code, out = cli(clock, "--chain", a, "--chain", b)
    assert code == 1 and "1 intact, 1 broken" in out


def test_the_command_says_when_it_cannot_verify(monkeypatch: pytest.MonkeyPatch, clock: StepClock) -> None:
    monkeypatch.delenv("AUDIT_KEY_ID", raising=False)
    assert cli(clock, "--all")[0] == 2
    assert cli(clock, "--file", "/nonexistent.json", "--public-key", "/nonexistent.pem")[0] == 2


# --- an insider with the API role's PutItem, and items crafted to stop a watcher ----------------


def test_an_event_deleted_by_an_insider_with_put_item_alone_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API role may PutItem on the audit table with no condition. It rewrites an event with an
    expiry in the past (its hash recomputed) so that TTL removes it, writes the next link with a
    prev_expires_at in the past, and plants a decoy link of chain `<finess>/x`: the deletion is
    still named, from the first WORM version, and the decoy never reaches the chain's copy."""
    from chalicelib.adapters import worm
    from chalicelib.adapters.dynamodb.audit_items import link_from_item
    from chalicelib.domain.audit_chain import Link, link_hash

    journal, a = chain_of_12
    journal.append(ev(12, a))  # seq 13: a pharmacist reads a record
    copy_to_worm()
    counted: list[str] = []
    monkeypatch.setattr(worm, "count", lambda name, value=1: counted.append(name), raising=False)

    past = int((clock.moment - timedelta(days=1)).timestamp())
    item = raw_item(a, 13)
    link = link_from_item(item)
    forged_hash = link_hash(replace(link, expires_at=past))
    put_raw({**item, "expires_at": {"N": str(past)}, "hash": {"S": forged_hash}})  # PutItem
    copy_to_worm()  # the consumer sees the rewrite: it never replaces the copy, and it is counted
    delete_raw(a, 13)  # DynamoDB's TTL service removes the item: its expiry is in the past

    time = format_time(clock.now())
    event = json.loads(item["event"]["S"])
    expires = int((clock.moment + timedelta(days=365)).timestamp())
    nxt = {
        "chain": {"S": a},
        "seq": {"N": "14"},
        "time": {"S": time},
        "event": {"S": json.dumps(event)},
        "prev_hash": {"S": forged_hash},
        "expires_at": {"N": str(expires)},
        "prev_expires_at": {"N": str(past)},
        "hash": {"S": link_hash(Link(a, 14, time, event, forged_hash, "", expires, past))},
    }
    put_raw(nxt)  # PutItem: the next link vouches that seq 13 was due
    put_raw({**item, "chain": {"S": f"{a}/x"}, "expires_at": {"N": str(past)}})  # PutItem: the decoy
    copy_to_worm()
    make_checkpointer(clock).checkpoint(a)  # the next hour's checkpoint signs head 14

    found = findings(a, clock)
    assert (13, DELETED) in found and (13, TABLE_MISSING) in found, found
    # The rewrite was counted (an alarm, not only a log line); the decoy's chain is no chain.
    assert counted == ["AuditWormDiffers", "AuditQuarantined"]
    bucket = get_settings().audit_worm_bucket
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"audit/{a}/x/")
    assert listed.get("KeyCount", 0) == 0  # no object of a look-alike chain
    assert S3WormCopy(boto3.client("s3"), bucket).quarantined() >= 1
    code, out = cli(clock, "--chain", a)
    assert code == 1 and "table_missing" in out and "deleted" in out


def test_a_decoy_planted_under_a_look_alike_key_is_not_the_copy(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """Objects the old consumer could write under `audit/<finess>/x/` are not listed with the chain,
    and an object under the chain's own prefix whose content names another link is worm_forged."""
    _journal, a = chain_of_12
    s3, bucket = boto3.client("s3"), get_settings().audit_worm_bucket
    image = raw_item(a, 3)
    s3.put_object(Bucket=bucket, Key=f"audit/{a}/x/000000000003.json", Body=json.dumps(image).encode())
    forged = {**image, "seq": {"N": "3"}, "chain": {"S": f"{a}/x"}}
    s3.put_object(Bucket=bucket, Key=f"audit/{a}/000000000020.json", Body=json.dumps(forged).encode())
    found = findings(a, clock)
    assert found == [(20, WORM_FORGED)], found


def test_a_pharmacy_item_naming_no_finess_is_set_aside_and_every_chain_signed(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    """A pharmacy item whose FINESS is `#public-key` sorted first among the chains, was read as a
    checkpoint (the published key's item) and raised: no chain was signed that hour."""
    a, _ = pharmacies
    journal.append(ev(1, a))
    pharmacies_table = get_settings().pharmacies_table
    poison = {
        "finess": {"S": "#public-key"},
        "name": {"S": "x"},
        "created_at": {"S": "x"},
        "created_by": {"S": "x"},
    }
    put_raw(poison, pharmacies_table)
    put_raw({**poison, "finess": {"S": a}}, pharmacies_table)
    quarantine = S3WormCopy(boto3.client("s3"), get_settings().audit_worm_bucket)
    signer = DynamoDbCheckpointer(
        signer=KmsSigner(boto3.client("kms"), get_settings().audit_key_id),
        clock=clock,
        set_aside=quarantine.quarantine,
    )
    try:
        before = quarantine.quarantined()
        signer.checkpoint_all()  # publishes the public key under "#public-key" too
        signed = signer.checkpoint_all()  # the next hour: the published key is there to misread
        assert a in signed and PLATFORM_CHAIN in signed and "#public-key" not in signed
        assert len(verify_audit.AwsSource().document(a, clock.now())["checkpoints"]) == 2
        assert quarantine.quarantined() == before + 1  # set aside once, however many runs
    finally:
        for finess in ("#public-key", a):
            ddb().delete_item(TableName=pharmacies_table, Key={"finess": {"S": finess}})


def test_a_malformed_item_at_a_chains_head_neither_stops_nor_extends_the_chain(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    """An item of seq 2.5 (PutItem, no other attribute) sorts last: it was read as the head, so the
    next append failed (no hash) or chained onto it, and the signer raised for that chain."""
    a, b = pharmacies
    journal.append(ev(1, a))
    journal.append(ev(2, a))
    journal.append(ev(1, b))
    put_raw({"chain": {"S": a}, "seq": {"N": "2.5"}, "event": {"S": "{}"}})
    quarantine = S3WormCopy(boto3.client("s3"), get_settings().audit_worm_bucket)
    before = quarantine.quarantined()
    signer = DynamoDbCheckpointer(
        signer=KmsSigner(boto3.client("kms"), get_settings().audit_key_id),
        clock=clock,
        set_aside=quarantine.quarantine,
    )
    assert signer.checkpoint_all([a, b]) == {a: 2, b: 1}  # the newest well-formed link is signed
    assert quarantine.quarantined() == before + 1
    make_journal(clock).append(ev(3, a))  # a writer without a cached head
    assert raw_item(a, 3)["prev_hash"] == raw_item(a, 2)["hash"]
    assert signer.checkpoint_all([a, b]) == {a: 3, b: 1}
    found = findings(a, clock)
    assert found == [(0, MALFORMED)], found  # only the item is named: the chain is whole


def test_the_journal_refuses_a_chain_that_is_not_a_finess_at_write(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, _ = pharmacies
    for name in (f"{a}/x", a[:-1] + str((int(a[-1]) + 1) % 10), "#public-key", "7" * 1100):
        with pytest.raises(ValueError):
            journal.append(ev(1, name))
        assert (
            ddb().query(
                TableName=get_settings().audit_table,
                KeyConditionExpression="chain = :c",
                ExpressionAttributeValues={":c": {"S": name}},
            )["Items"]
            == []
        )
    journal.append(ev(1, a))  # a FINESS with its key is a chain


def test_a_mistyped_chain_is_no_verdict(
    pharmacies: tuple[str, str], clock: StepClock, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = pharmacies
    make_journal(clock).append(ev(1, a))
    for chain in ("999", b, f"{a}/x"):  # not a FINESS; a FINESS with no event, checkpoint or pharmacy
        code, _out = cli(clock, "--chain", chain)
        assert code == 2 and "unknown chain" in capsys.readouterr().err
    assert cli(clock, "--chain", a)[0] == 0


def test_offline_freshness_is_judged_now_not_at_the_files_own_date(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock, tmp_path: Any
) -> None:
    """A truncated export (the last 8 events and 2 checkpoints cut) whose exported_at is backdated
    to when the first checkpoint was fresh: judged at its own date it was intact (exit 0)."""
    _journal, a = chain_of_12
    key, exported = tmp_path / "key.pem", tmp_path / "chain.json"
    cli(clock, "--save-public-key", str(key))
    cli(clock, "--export", a, "--out", str(exported))
    document = json.loads(exported.read_text())
    cut = {
        "events": [e for e in document["events"] if int(e["seq"]["N"]) <= 4],
        "checkpoints": [c for c in document["checkpoints"] if int(c["n"]["N"]) == 1],
        "worm": [w for w in document["worm"] if int(w.get("image", w)["seq"]["N"]) <= 4],
        "exported_at": document["checkpoints"][0]["signed_at"]["S"],
    }
    exported.write_text(json.dumps({**document, **cut}))
    clock.moment += HOUR  # verified an hour after the export
    code, out = cli(clock, "--file", str(exported), "--public-key", str(key))
    assert code == 1 and "stale" in out, out
    asof = cut["exported_at"]
    assert cli(clock, "--file", str(exported), "--public-key", str(key), "--as-of", asof)[0] == 0
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({**document, "chain": "999", "events": [], "checkpoints": [], "worm": []}))
    assert cli(clock, "--file", str(unknown), "--public-key", str(key))[0] == 2


def expired_image(item: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """`item` rewritten with another expiry and its own hash recomputed: what a writer can make."""
    from chalicelib.adapters.dynamodb.audit_items import link_from_item
    from chalicelib.domain.audit_chain import link_hash

    link = link_from_item(item)
    forged = {**item, "expires_at": {"N": str(expires_at)}}
    return {**forged, "hash": {"S": link_hash(replace(link, expires_at=expires_at))}}


def test_a_worm_entry_forged_in_an_export_file_excuses_no_deleted_event(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock, tmp_path: Any
) -> None:
    """Whoever writes the export file writes its "worm" entries: event 6 dropped from the events and
    its WORM image replaced by one that says it expired yesterday (its hash recomputed) was filed
    as expired by retention, exit 0."""
    _journal, a = chain_of_12
    key, exported = tmp_path / "key.pem", tmp_path / "chain.json"
    cli(clock, "--save-public-key", str(key))
    cli(clock, "--export", a, "--out", str(exported))
    document = json.loads(exported.read_text())
    past = int((clock.moment - timedelta(days=1)).timestamp())
    document["events"] = [e for e in document["events"] if e["seq"]["N"] != "6"]
    for entry in document["worm"]:
        if entry["image"]["seq"]["N"] == "6":
            entry["image"] = expired_image(entry["image"], past)
    exported.write_text(json.dumps(document))
    code, out = cli(clock, "--file", str(exported), "--public-key", str(key))
    assert code == 1 and "seq 6: deleted" in out, out


def planted_link(chain: str, seq: int, clock: StepClock, expires_at: int) -> dict[str, Any]:
    """What an insider writes at the next seq before a genuine event takes it: a well-formed link
    that follows the head, with the expiry it likes and a valid hash."""
    from chalicelib.adapters.dynamodb.audit_items import link_from_item
    from chalicelib.domain.audit_chain import Link, link_hash

    head = link_from_item(raw_item(chain, seq - 1))
    time, event = format_time(clock.now()), {"action": "noise"}
    planted = Link(chain, seq, time, event, head.hash, "", expires_at, head.expires_at)
    return {
        "chain": {"S": chain},
        "seq": {"N": str(seq)},
        "time": {"S": time},
        "event": {"S": json.dumps(event)},
        "prev_hash": {"S": head.hash},
        "expires_at": {"N": str(expires_at)},
        "prev_expires_at": {"N": str(head.expires_at)},
        "hash": {"S": link_hash(planted)},
    }


def test_a_link_planted_before_the_genuine_one_cannot_vouch_for_its_expiry(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """With PutItem alone (and TTL): the insider writes seq 13 itself, already expired, so that the
    first WORM version of seq 13 is theirs; TTL removes it, the next genuine event takes seq 13 (its
    copy is refused and counted), is rewritten to expire and removed by TTL too. The first WORM
    version said 'expired': the genuine event vanished with the verifier's verdict intact."""
    _journal, a = chain_of_12
    past = int((clock.moment - timedelta(days=1)).timestamp())
    planted = planted_link(a, 13, clock, past)
    put_raw(planted)  # PutItem: seq 13 is the insider's, expired from its first version
    copy_to_worm()
    delete_raw(a, 13)  # TTL
    fresh = make_journal(clock)
    fresh.append(ev(13, a))  # the genuine event takes seq 13; its copy is refused (counted)
    fresh.append(ev(14, a))
    copy_to_worm()
    make_checkpointer(clock).checkpoint(a)
    put_raw(expired_image(raw_item(a, 13), past))  # PutItem: the genuine link made to expire
    delete_raw(a, 13)  # TTL
    copy_to_worm()
    assert (13, DELETED) in findings(a, clock)


def test_an_event_nested_too_deep_to_parse_blinds_neither_the_signer_nor_the_verifier(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> None:
    """PutItem of a link whose event is 100,000 nested brackets (100 kB, well within an item's 400):
    json.loads raised RecursionError, which no watcher caught. The signer's run stopped at that
    chain (every chain after it unsigned, hour after hour: stale, as if cut), `verify_audit --all`
    gave no verdict for any chain, and every append to that chain failed."""
    from chalicelib.adapters.dynamodb.audit_items import link_from_item

    a, b = pharmacies
    journal.append(ev(1, a))
    journal.append(ev(1, b))
    head = raw_item(a, 1)
    put_raw({**head, "seq": {"N": "2"}, "event": {"S": "[" * 100_000}, "prev_hash": head["hash"]})
    assert link_from_item(raw_item(a, 2)).event == {"unparseable": "[" * 100_000}
    signer = make_checkpointer(clock)
    assert signer.checkpoint_all([a, b]) == {a: 2, b: 1}
    make_journal(clock).append(ev(3, a))  # a writer without a cached head goes on
    copy_to_worm()
    code, out = cli(clock, "--chain", a, "--chain", b)
    assert code == 1 and "1 intact, 1 broken" in out and "seq 2: edited" in out, out
    assert seqs(journal, a) == [1, 2, 3]  # the pharmacy admin still reads the journal, this link too


def test_a_rewrite_before_the_consumer_runs_never_becomes_the_first_version(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """PutItem rewrites seq 13 to expire before the stream's consumer has run: the copy takes the
    INSERT's own image (NEW_IMAGE), not the table's item as it stands when the copy is made."""
    journal, a = chain_of_12
    journal.append(ev(12, a))
    genuine = raw_item(a, 13)
    past = int((clock.moment - timedelta(days=1)).timestamp())
    put_raw(expired_image(genuine, past))  # the INSERT and this MODIFY reach the consumer together
    journal.append(ev(13, a))
    copy_to_worm()
    images = dict(S3WormCopy(boto3.client("s3"), get_settings().audit_worm_bucket).chain_images(a))
    assert images[(a, 13)] == genuine
    assert (13, WORM_DIFFERS) in findings(a, clock)
    delete_raw(a, 13)  # TTL
    assert (13, DELETED) in findings(a, clock)
    without_copy = report_of(a, clock, worm=False)  # --no-worm: the checkpoints' time alone
    assert (13, DELETED) in [(f.seq, f.kind) for f in without_copy.findings]


def test_an_administrator_who_plants_the_first_version_then_deletes_the_new_tail_is_named(
    chain_of_12: tuple[DynamoDbAuditJournal, str], clock: StepClock
) -> None:
    """With DeleteItem, within the hour: plant seq 13 already expired, let the consumer copy it,
    delete it; the genuine event takes seq 13 (its copy refused), and is deleted before the next
    checkpoint. No link follows it and no checkpoint pins it: the planted copy's own expiry was
    trusted, and nothing but the AuditWormDiffers alarm named it."""
    _journal, a = chain_of_12
    past = int((clock.moment - timedelta(days=1)).timestamp())
    put_raw(planted_link(a, 13, clock, past))
    copy_to_worm()
    delete_raw(a, 13)
    make_journal(clock).append(ev(12, a))  # the genuine event, seq 13
    copy_to_worm()
    delete_raw(a, 13)
    assert (13, TABLE_MISSING) in findings(a, clock)
