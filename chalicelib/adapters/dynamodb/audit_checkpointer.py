"""The checkpoint function's side of the audit journal: the audit key in KMS signs every chain's head,
hourly, even when it did not move, and the public key is published where the API can serve it
(chalicelib/domain/audit_checkpoints.py declares what is signed).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.audit_items import (
    PUBLIC_KEY_CHAIN,
    candidate_chains,
    journal_unavailable,
    latest_checkpoint,
    newest_link,
)
from chalicelib.adapters.dynamodb.errors import is_conditional_failure
from chalicelib.adapters.dynamodb.models import AuditCheckpointModel
from chalicelib.domain.audit_chain import GENESIS, SIGNING_ALGORITHM, Head, is_chain
from chalicelib.domain.audit_checkpoints import Checkpoint, checkpoint_message, next_checkpoint
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.observability import AUDIT_QUARANTINED, count, logger
from chalicelib.ports import Clock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient


class KmsSigner:
    """ECDSA_SHA_256 signatures by the audit key in KMS: the private key never leaves KMS, and only
    the checkpoint function's role may use it."""

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self.key_id = key_id

    def sign(self, message: bytes) -> tuple[str, str]:
        """(base64 DER signature, the key's ARN as KMS reports it)."""
        answer = self._kms.sign(
            KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
        )
        return base64.b64encode(answer["Signature"]).decode(), str(answer.get("KeyId", self.key_id))

    def public_key(self) -> tuple[bytes, str]:
        """(DER SubjectPublicKeyInfo, the key's ARN)."""
        answer = self._kms.get_public_key(KeyId=self.key_id)
        return bytes(answer["PublicKey"]), str(answer.get("KeyId", self.key_id))


class DynamoDbCheckpointer:
    """The checkpoint function's side: sign every chain's head, hourly, even when it did not move."""

    def __init__(
        self, *, signer: KmsSigner, clock: Clock, set_aside: Callable[[str, Any, str], object] | None = None
    ) -> None:
        self._signer = signer
        self._clock = clock
        self._set_aside = set_aside

    def checkpoint(self, chain: str) -> Checkpoint:
        """Sign the chain's current head as the checkpoint after the newest one."""
        with journal_unavailable("checkpoint"):
            newest, malformed = newest_link(chain)
            for item in malformed:  # passed over, and set aside: the newest well-formed link is signed
                self._quarantine({"chain": chain, "item": item}, "a malformed item at the chain's head")
            head = GENESIS if newest is None else newest
            previous = latest_checkpoint(chain)
            if head is GENESIS and previous is not None:  # every link expired: the head lives on
                head = Head(
                    previous.head_seq, previous.head_hash, previous.head_time or "", previous.head_expires_at
                )
            unsigned = next_checkpoint(previous, chain, head, now=self._clock.now())
            signature, key_id = self._signer.sign(checkpoint_message(unsigned))
            cp = Checkpoint(**{**unsigned.__dict__, "signature": signature, "key_id": key_id})
            AuditCheckpointModel(
                chain,
                cp.n,
                head_seq=cp.head_seq,
                head_hash=cp.head_hash,
                head_time=cp.head_time,
                head_expires_at=cp.head_expires_at,
                signed_at=cp.signed_at,
                prev=cp.prev,
                signature=cp.signature,
                key_id=cp.key_id,
            ).save(condition=AuditCheckpointModel.n.does_not_exist())
        return cp

    def checkpoint_all(self, chains: list[str] | None = None) -> dict[str, int]:
        """The scheduled job: sign every chain's head; chain -> the head seq signed. A chain that
        fails is logged and the others still signed (the verifier reports a missed heartbeat)."""
        signed: dict[str, int] = {}
        failed = 0
        for chain in chains if chains is not None else sorted(candidate_chains()):
            if not is_chain(chain):  # a pharmacy item naming no FINESS: set aside, sign the others
                self._quarantine({"chain": chain}, "its name is not an audit chain")
                continue
            try:
                signed[chain] = self.checkpoint(chain).head_seq
            except ServiceUnavailable:
                failed += 1
            except PutError as exc:  # another run signed this number meanwhile: it has the heartbeat
                if not is_conditional_failure(exc):
                    raise
            except (TypeError, ValueError, KeyError):  # a malformed stored item of this chain
                self._quarantine({"chain": chain}, "its newest link or checkpoint is malformed")
        self.publish_public_key()
        logger.info("audit checkpoints written", extra={"chains": len(signed), "failed": failed})
        if failed:
            raise ServiceUnavailable(f"{failed} chain(s) could not be checkpointed; retry later.")
        return signed

    def _quarantine(self, item: dict[str, Any], reason: str) -> None:
        if self._set_aside is not None:
            self._set_aside("checkpoint", item, reason)
        else:  # no quarantine store (a test's checkpointer): the metric and the log line remain
            logger.error("audit item set aside", extra={"watcher": "checkpoint", "reason": reason})
            count(AUDIT_QUARANTINED)

    def publish_public_key(self) -> None:
        """Put the public key where the API (which has no right on the key) can serve it."""
        from chalicelib.adapters.audit_key import public_key_pem
        from chalicelib.domain.audit_checkpoints import public_key_fingerprint

        with journal_unavailable("public key"):
            der, key_id = self._signer.public_key()
            table = AuditCheckpointModel._get_connection()
            client = cast("DynamoDBClient", table.connection.client)  # PynamoDB's own botocore client
            client.put_item(
                TableName=table.table_name,
                Item={
                    "chain": {"S": PUBLIC_KEY_CHAIN},
                    "n": {"N": "0"},
                    "key_id": {"S": key_id},
                    "algorithm": {"S": SIGNING_ALGORITHM},
                    "public_key_pem": {"S": public_key_pem(der)},
                    "fingerprint": {"S": public_key_fingerprint(der)},
                },
            )
