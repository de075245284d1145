"""The WORM copy's stream consumer (the Chalice `audit_to_worm` handler) on moto: replays, a crash
mid-batch, two consumers at once. Each ends with the copy equal to the table, one version per key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamodb.audit_items import link_items
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.worm import S3WormCopy, object_key
from chalicelib.bootstrap import audit_journal, bind_tables
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import AuditEvent
from devtools.audit_jobs import audit_stream_poller
from devtools.provision import provision
from operations.verify_audit import quarantined_items

CHAIN = "750000010"


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDbAuditJournal]:
    with mock_aws():
        env = provision(boto3.Session(region_name="eu-west-3"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        bind_tables(get_settings())
        yield audit_journal(get_settings(), Clock(), sleep=lambda _s: None)


def append(journal: DynamoDbAuditJournal, count: int) -> None:
    for i in range(count):
        journal.append(
            AuditEvent(
                action="read",
                outcome="success",
                actor="u",
                role="pharmacist",
                finess=CHAIN,
                record_ids=(f"r{i}",),
            )
        )


def copy_state() -> tuple[dict[int, Any], list[int]]:
    """The copy (oldest versions) and the number of versions per key."""
    s3 = boto3.client("s3")
    bucket = get_settings().audit_worm_bucket
    images = {seq: image for (_chain, seq), image in S3WormCopy(s3, bucket).chain_images(CHAIN)}
    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"audit/{CHAIN}/").get("Versions", [])
    per_key: dict[str, int] = {}
    for version in versions:
        per_key[version["Key"]] = per_key.get(version["Key"], 0) + 1
    return images, sorted(per_key.values())


def table_images() -> dict[int, Any]:
    return {int(item["seq"]["N"]): item for item in link_items(CHAIN)}


def test_a_replayed_stream_changes_nothing(account: DynamoDbAuditJournal) -> None:
    append(account, 5)
    assert audit_stream_poller().poll_once() == 5
    assert audit_stream_poller().poll_once() == 5  # a new consumer from TRIM_HORIZON: all replays
    images, versions = copy_state()
    assert images == table_images() and versions == [1] * 5
    key = object_key(CHAIN, 3)
    assert key == f"audit/{CHAIN}/000000000003.json"


def test_a_crash_mid_batch_resumes_without_loss_or_double(
    account: DynamoDbAuditJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(account, 6)
    original = S3WormCopy.put
    calls = {"n": 0}

    def crash_on_the_fourth(self: S3WormCopy, chain: str, seq: int, image: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 4:
            raise ConnectionError("S3 went away mid-batch")
        return original(self, chain, seq, image)

    monkeypatch.setattr(S3WormCopy, "put", crash_on_the_fourth)
    poller = audit_stream_poller()
    with pytest.raises(ConnectionError):
        poller.poll_once()
    assert len(copy_state()[0]) == 3  # three copied, the batch failed
    assert poller.poll_once() == 6  # the whole batch again: three replays, three new
    images, versions = copy_state()
    assert images == table_images() and versions == [1] * 6


def test_two_consumers_at_once_leave_one_copy(account: DynamoDbAuditJournal) -> None:
    import threading

    append(account, 8)
    first, second = audit_stream_poller(), audit_stream_poller()
    errors: list[BaseException] = []

    def run(poller: Any) -> None:
        try:
            poller.poll_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    images, versions = copy_state()
    assert images == table_images() and versions == [1] * 8


def test_the_copy_keeps_stream_order_per_chain(
    account: DynamoDbAuditJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(account, 4)
    order: list[int] = []
    original = S3WormCopy.put

    def record(self: S3WormCopy, chain: str, seq: int, image: dict[str, Any]) -> str:
        order.append(seq)
        return original(self, chain, seq, image)

    monkeypatch.setattr(S3WormCopy, "put", record)
    audit_stream_poller().poll_once()
    assert order == [1, 2, 3, 4]


def test_a_failed_transaction_leaves_no_event_in_the_copy(account: DynamoDbAuditJournal) -> None:
    # moto undoes a failed transaction by restoring a copy of each table it named (with the copy's
    # stream): the event the transaction put on the stream before failing must not reach the copy.
    from chalicelib.adapters.dynamodb.directory import DynamoDbPharmacies
    from chalicelib.domain.errors import Conflict

    pharmacies = DynamoDbPharmacies(Clock())
    pharmacies.add(CHAIN, "Pharmacie", created_by="t")
    poller = audit_stream_poller()
    append(account, 3)
    poller.poll_once()
    onboarding = AuditEvent(
        action="onboard_pharmacy", outcome="success", actor="op", role="platform_admin", finess=CHAIN
    )
    with pytest.raises(Conflict):  # onboarded already: neither the pharmacy nor its event is written
        account.append(onboarding, [pharmacies.add_change(CHAIN, "Pharmacie", created_by="t")])
    poller.poll_once()
    append(account, 1)
    poller.poll_once()
    images, versions = copy_state()
    assert sorted(images) == sorted(table_images()) == [1, 2, 3, 4]
    assert versions == [1, 1, 1, 1]
    assert images == table_images()


def put_raw(item: dict[str, Any]) -> None:
    boto3.client("dynamodb").put_item(TableName=get_settings().audit_table, Item=item)


@pytest.mark.parametrize(
    "poison",
    [
        {"chain": {"S": "platform"}, "seq": {"N": "1.5"}},  # a seq that is no integer
        {"chain": {"S": "7" * 1100}, "seq": {"N": "1"}},  # a chain name over 1 KiB
        {"chain": {"S": f"{CHAIN}/x"}, "seq": {"N": "1"}},  # a look-alike chain
    ],
    ids=["seq-1.5", "chain-over-1KiB", "look-alike-chain"],
)
def test_a_poison_item_is_set_aside_and_the_next_event_copied_within_one_cycle(
    account: DynamoDbAuditJournal, monkeypatch: pytest.MonkeyPatch, poison: dict[str, Any]
) -> None:
    from chalicelib.adapters import worm

    counted: list[str] = []
    monkeypatch.setattr(worm, "count", lambda name, value=1: counted.append(name), raising=False)
    put_raw({**poison, "time": {"S": "2026-11-29T09:00:00.000000Z"}, "event": {"S": "{}"}})
    append(account, 1)  # a well-formed event after it
    poller = audit_stream_poller()
    assert poller.poll_once() == 2  # one cycle, no exception: the copy of every chain goes on
    images, versions = copy_state()
    assert images == table_images() and list(images) == [1] and versions == [1]
    copy = S3WormCopy(boto3.client("s3"), get_settings().audit_worm_bucket)
    assert copy.quarantined() == 1 and counted == ["AuditQuarantined"]
    # what the operator's status shows (operations/status.py)
    assert quarantined_items(get_settings(), boto3.Session(region_name="eu-west-3")) == 1
    assert audit_stream_poller().poll_once() == 2  # a new consumer replays the stream
    assert copy.quarantined() == 1  # and finds the item already set aside


def test_the_worm_key_names_one_link_and_refuses_any_other_name() -> None:
    from chalicelib.adapters.worm import key_names

    assert key_names(object_key(CHAIN, 3)) == (CHAIN, 3)
    assert key_names("audit/platform/000000000001.json") == ("platform", 1)
    for name, seq in ((f"{CHAIN}/x", 1), ("999", 1), (CHAIN, 0), (CHAIN, 10**12)):
        with pytest.raises(ValueError):
            object_key(name, seq)
    for key in (
        f"audit/{CHAIN}/x/000000000001.json",
        f"audit/{CHAIN}/1.json",
        "audit/quarantine/worm/ab.json",
    ):
        assert key_names(key) is None


def test_the_verifier_reads_the_first_version_even_when_a_second_came_in_the_same_second() -> None:
    """S3 lists a key's versions newest first, and LastModified has whole seconds: a second version
    written in the same second as the copy (the consumer's PutObject right, without If-None-Match)
    was read as the 'oldest', since the first one listed won a tie."""
    import io
    import json

    same_second = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    key = object_key(CHAIN, 1)
    bodies = {
        "v-first": {"seq": {"N": "1"}, "said": "first"},
        "v-second": {"seq": {"N": "1"}, "said": "later"},
    }
    versions = [
        {"Key": key, "VersionId": "v-second", "LastModified": same_second, "IsLatest": True},
        {"Key": key, "VersionId": "v-first", "LastModified": same_second, "IsLatest": False},
    ]

    class Listing:
        def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
            return [{"Versions": versions}]

    class FakeS3:
        def get_paginator(self, _name: str) -> Listing:
            return Listing()

        def get_object(self, *, Bucket: str, Key: str, VersionId: str) -> dict[str, Any]:
            return {"Body": io.BytesIO(json.dumps(bodies[VersionId]).encode())}

    images = dict(S3WormCopy(FakeS3(), "bucket").chain_images(CHAIN))  # type: ignore[arg-type]
    assert images == {(CHAIN, 1): bodies["v-first"]}


def test_the_operators_status_reads_each_chains_worm_lag(account: DynamoDbAuditJournal) -> None:
    # `make status` exited 2 on every stack with a WORM copy: it built the chain's prefix with
    # object_key(chain, 0), which the journal's names check refuses (no seq 0); and an object in the
    # chain's prefix that is no link's key (a writer of the bucket's) must not stop it either
    from operations.status import worm_lag

    append(account, 3)
    assert audit_stream_poller().poll_once() == 3
    s3 = boto3.client("s3")
    bucket = get_settings().audit_worm_bucket
    s3.put_object(Bucket=bucket, Key=f"audit/{CHAIN}/notes.json", Body=b"{}")
    append(account, 1)  # not copied yet
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    lag = worm_lag((s3, bucket), CHAIN, 4, now)
    assert (lag["worm_seq"], lag["worm_behind"]) == (3, 1) and lag["worm_lag_seconds"] > 0


def test_one_unreadable_head_does_not_stop_the_operators_status(account: DynamoDbAuditJournal) -> None:
    # an audit writer's PutItem (no condition): a head whose time is no time made status exit 2,
    # hiding every other signal, SI-DEP's first
    from operations.status import attention, audit_chains

    boto3.client("dynamodb").put_item(
        TableName=get_settings().audit_table,
        Item={"chain": {"S": CHAIN}, "seq": {"N": "1"}, "time": {"S": "not a time"}},
    )
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    (entry,) = audit_chains([CHAIN], now)
    assert entry["stale"] and entry["unreadable"]
    found: dict[str, Any] = {
        "sidep": None,
        "dead_letters": {"records": 0},
        "last_export_run": None,
        "audit_chains": [entry],
        "retention": {"unacknowledged_near_cap": []},
    }
    assert any(CHAIN in reason for reason in attention(found))
