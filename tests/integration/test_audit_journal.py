"""The DynamoDB audit journal against moto: append, read, checkpoints, contention, tampering, failures."""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table
from pynamodb.exceptions import PutError

from chalicelib.adapters.audit import DynamoDbAuditJournal
from chalicelib.adapters.dynamodb.models import AuditEventModel, PharmacyModel, bind_models
from chalicelib.config import get_settings
from chalicelib.domain.errors import ServiceUnavailable, ValidationFailed
from chalicelib.services.audit import (
    CHECKPOINT_FORGED,
    DELETED,
    EDITED,
    PLATFORM_CHAIN,
    REORDERED,
    TRUNCATED,
    parse_time,
)
from chalicelib.services.ports import AuditEvent
from devtools import verify_audit
from devtools.provision import provision

pytestmark = pytest.mark.integration


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
    with mock_aws():
        yield provision(boto3.Session(region_name="eu-west-3"))


@pytest.fixture
def account(shared_account: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in shared_account.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    bind_models(get_settings())
    return shared_account


_serial = itertools.count(1)


@pytest.fixture
def pharmacies(account: dict[str, str]) -> tuple[str, str]:
    """Two FINESS no other test of the module writes to."""
    n = next(_serial)
    return f"75{n:07d}", f"69{n:07d}"


@pytest.fixture
def journal(account: dict[str, str], clock: StepClock) -> DynamoDbAuditJournal:
    return make_journal(clock)


def make_journal(clock: Any, **kwargs: Any) -> DynamoDbAuditJournal:
    kwargs.setdefault("checkpoint_every", 5)
    kwargs.setdefault("sleep", lambda _s: None)
    return DynamoDbAuditJournal(
        settings=get_settings(), kms_client=boto3.client("kms"), clock=clock, **kwargs
    )


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional put atomically; moto in-process checks then writes without a
    lock, so threads could both pass the check. Serialise moto's put to model the real service."""
    lock = threading.Lock()
    original = Table.put_item

    def put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(Table, "put_item", put_item)


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


def verdict(journal: DynamoDbAuditJournal, chain: str) -> tuple[int, str]:
    report = journal.verify(chain)
    broken = report.first_broken
    assert broken is not None, report.summary()
    return broken.seq, broken.kind


def cli(journal: DynamoDbAuditJournal | None, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_audit.run(list(args), journal=journal, out=out)
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


def test_concurrent_appends_keep_one_unbroken_chain(pharmacies: tuple[str, str], atomic_moto: None) -> None:
    """Four writers (four processes' worth: each its own head cache) append to one chain at once."""
    a, _ = pharmacies
    clock = StepClock()
    conflicts: list[float] = []  # one backoff per lost race
    journals = [
        make_journal(clock, checkpoint_every=10, max_attempts=50, sleep=conflicts.append) for _ in range(4)
    ]
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
    report = journals[0].verify(a)
    assert report.ok, report.summary()
    assert (report.first_seq, report.last_seq, report.events_checked) == (1, 36, 36)
    items = journals[0].read(a, start=None, end=None, limit=100, cursor=None)[0]
    expected = [f"prime-{w}" for w in range(4)] + [f"w{w}-{i}" for w in range(4) for i in range(per_writer)]
    assert sorted(e["request_id"] for e in items) == sorted(expected)
    assert report.checkpoints_checked == 3  # seq 10, 20, 30
    assert len(conflicts) >= 3  # the three stale caches lost at least one race each


def test_a_stale_head_cache_costs_a_retry_not_a_fork(pharmacies: tuple[str, str], clock: StepClock) -> None:
    a, _ = pharmacies
    first, second = make_journal(clock), make_journal(clock)
    first.append(ev(1, a))
    second.append(ev(2, a))  # first's cached head (seq 1) is now stale
    first.append(ev(3, a))
    items = first.read(a, start=None, end=None, limit=9, cursor=None)[0]
    assert [e["request_id"] for e in items] == ["req-1", "req-2", "req-3"]
    assert first.verify(a).ok


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
    bind_models(get_settings())
    with pytest.raises(ServiceUnavailable):
        journal.append(ev(2, a))  # cached head: the put itself fails
    with pytest.raises(ServiceUnavailable):
        make_journal(clock).append(ev(3, a))  # no cache: the head read fails
    with pytest.raises(ServiceUnavailable):
        journal.read(a, start=None, end=None, limit=5, cursor=None)


def test_a_failed_checkpoint_does_not_fail_the_append(pharmacies: tuple[str, str], clock: StepClock) -> None:
    a, _ = pharmacies

    class KmsDown:
        def generate_mac(self, **_kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "KMSInternalException", "Message": "down"}}, "GenerateMac")

    journal = DynamoDbAuditJournal(
        settings=get_settings(), kms_client=KmsDown(), clock=clock, checkpoint_every=1
    )
    journal.append(ev(1, a))
    assert seqs(journal, a) == [1]
    assert journal.checkpoints(a) == []


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoints_every_k_and_on_schedule(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, b = pharmacies
    for i in range(12):
        journal.append(ev(i, a))
    journal.append(ev(1, b))
    assert [c.seq for c in journal.checkpoints(a)] == [5, 10]
    assert journal.checkpoint_all([a, b]) == {a: 12, b: 1}
    assert journal.checkpoint_all([a, b]) == {}  # nothing moved since
    cps = journal.checkpoints(a)
    assert [c.seq for c in cps] == [5, 10, 12]
    arn = boto3.client("kms").describe_key(KeyId=get_settings().audit_key_id)["KeyMetadata"]["Arn"]
    assert cps[-1].key_id and cps[-1].key_id in arn  # moto answers the key id, KMS the ARN
    assert journal.verify(a).ok and journal.verify(b).ok


def test_checkpoint_all_finds_the_chains_itself(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> None:
    a, b = pharmacies
    PharmacyModel(b, name="Pharmacie B", created_at="2026-11-29T09:00:00Z", created_by="admin").save()
    journal.append(ev(1, b))
    journal.append(ev(2, None))
    pinned = journal.checkpoint_all()
    assert pinned[b] == 1 and PLATFORM_CHAIN in pinned
    journal.append(ev(3, a))  # a chain of no pharmacy, already checkpointed once, is found again
    journal.checkpoint(a)
    journal.append(ev(4, a))
    assert journal.checkpoint_all()[a] == 2


# --- tampering in the table, found by the verifier and the operator command --------------------


@pytest.fixture
def chain_of_12(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str]
) -> tuple[DynamoDbAuditJournal, str]:
    a, _ = pharmacies
    for i in range(12):
        journal.append(ev(i, a))
    code, out = cli(journal, "--chain", a)
    assert code == 0, out
    assert "intact" in out
    return journal, a


def test_an_edited_event_is_named(chain_of_12: tuple[DynamoDbAuditJournal, str]) -> None:
    journal, a = chain_of_12
    item = raw_item(a, 7)
    item["event"] = {"S": item["event"]["S"].replace('"user-0"', '"user-2"')}
    put_raw(item)
    assert verdict(journal, a) == (7, EDITED)
    code, out = cli(journal, "--chain", a)
    assert code == 1 and "first broken link seq 7: edited" in out


def test_an_event_made_unreadable_is_named(chain_of_12: tuple[DynamoDbAuditJournal, str]) -> None:
    journal, a = chain_of_12
    item = raw_item(a, 3)
    item["event"] = {"S": "{not json"}
    del item["prev_hash"]
    put_raw(item)
    assert verdict(journal, a)[0] == 3


def test_a_deleted_event_is_named(chain_of_12: tuple[DynamoDbAuditJournal, str]) -> None:
    journal, a = chain_of_12
    delete_raw(a, 8)
    assert verdict(journal, a) == (8, DELETED)
    code, out = cli(journal, "--chain", a, "--json")
    assert code == 1 and json.loads(out)["chains"][0]["first_broken"]["seq"] == 8
    assert json.loads(out)["chains"][0]["first_broken"]["kind"] == "deleted"


def test_two_swapped_events_are_named(chain_of_12: tuple[DynamoDbAuditJournal, str]) -> None:
    journal, a = chain_of_12
    four, five = raw_item(a, 4), raw_item(a, 5)
    four["seq"], five["seq"] = {"N": "5"}, {"N": "4"}
    put_raw(four)
    put_raw(five)
    assert verdict(journal, a) == (4, REORDERED)


def test_the_newest_events_deleted_are_named_through_the_checkpoint(
    chain_of_12: tuple[DynamoDbAuditJournal, str],
) -> None:
    journal, a = chain_of_12
    journal.checkpoint(a)
    delete_raw(a, 11)
    delete_raw(a, 12)
    assert verdict(journal, a) == (11, TRUNCATED)


def test_a_forged_checkpoint_is_named(chain_of_12: tuple[DynamoDbAuditJournal, str]) -> None:
    journal, a = chain_of_12
    put_raw(
        {
            "chain": {"S": a},
            "seq": {"N": "12"},
            "hash": raw_item(a, 12)["hash"],
            "mac": {"S": "bm90IGEgbWFj"},
            "key_id": {"S": "arn:aws:kms:eu-west-3:000000000000:key/attacker"},
            "created_at": {"S": "2026-11-29T10:00:00.000000Z"},
        },
        table=get_settings().audit_checkpoints_table,
    )
    assert verdict(journal, a) == (12, CHECKPOINT_FORGED)


def test_a_whole_chain_deleted_is_named_through_its_checkpoints(
    chain_of_12: tuple[DynamoDbAuditJournal, str],
) -> None:
    journal, a = chain_of_12
    for seq in range(1, 13):
        delete_raw(a, seq)
    assert a in journal.chains()  # found through its checkpoints
    code, out = cli(journal, "--chain", a)
    assert code == 1 and f"chain {a}" in out and "seq 1: truncated" in out


def test_the_command_builds_its_journal_from_the_environment(
    pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, b = pharmacies
    make_journal(clock).append(ev(1, a))
    code, out = cli(None, "--chain", a, "--json")
    assert code == 0 and [(c["chain"], c["ok"]) for c in json.loads(out)["chains"]] == [(a, True)]
    make_journal(clock).append(ev(1, b))
    make_journal(clock).append(ev(2, b))
    delete_raw(b, 1)
    code, out = cli(None, "--chain", a, "--chain", b)
    assert code == 1 and "1 intact, 1 broken" in out


def test_the_command_says_when_it_cannot_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIT_KEY_ID", raising=False)
    assert cli(None, "--all")[0] == 2
