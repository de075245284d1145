"""The audit journal on moto: an insider with the API role's PutItem, and items crafted to stop a
watcher."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer, KmsSigner
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.worm import S3WormCopy
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import PLATFORM_CHAIN, format_time
from chalicelib.domain.audit_verification import DELETED, MALFORMED, TABLE_MISSING, WORM_DIFFERS, WORM_FORGED
from operations import verify_audit
from tests.integration.audit_journal.support import (
    HOUR,
    StepClock,
    cli,
    copy_to_worm,
    ddb,
    delete_raw,
    ev,
    findings,
    make_checkpointer,
    make_journal,
    put_raw,
    raw_item,
    report_of,
    seqs,
)


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
