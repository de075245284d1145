"""The audit journal on moto: signed checkpoints and the heartbeat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.audit_key import public_key_verifier
from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer, KmsSigner
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.dynamodb.models import PharmacyModel
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import PLATFORM_CHAIN
from chalicelib.domain.errors import ServiceUnavailable
from operations import verify_audit
from tests.integration.audit_journal.support import StepClock, ev, make_checkpointer, report_of

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


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
