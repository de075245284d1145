"""The audit journal on moto: tampering, found by the verifier and the operator command."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3

from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import parse_time
from chalicelib.domain.audit_verification import (
    CHECKPOINT_FORGED,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_SKIPPED,
    DELETED,
    EDITED,
    REORDERED,
    STALE,
    TABLE_MISSING,
    TRUNCATED,
    WORM_DIFFERS,
    WORM_MISSING,
)
from operations import verify_audit
from tests.integration.audit_journal.support import (
    HOUR,
    StepClock,
    cli,
    copy_to_worm,
    delete_checkpoint,
    delete_raw,
    ev,
    findings,
    put_raw,
    raw_item,
    report_of,
    verdict,
)

# Each attack is what a writer's role (PutItem on the events table) or an administrator could do;
# the verifier names it with the public key alone.


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
