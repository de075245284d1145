"""The audit journal's tables read back (chalicelib/adapters/dynamodb/journal.py writes them): items as
links and checkpoints, read tolerantly since a tampered item may not even deserialise; every chain
stored or known; a chain's head; the verification of a chain as the tables hold it; and the one
failure rule of the journal's storage and KMS calls (journal_unavailable: a 503, never silence).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamodb.models import AuditCheckpointModel, AuditEventModel, PharmacyModel
from chalicelib.domain.audit_chain import CHECKPOINT_PERIOD, PLATFORM_CHAIN, Head, Link, is_chain, parse_time
from chalicelib.domain.audit_checkpoints import Checkpoint, SignatureVerifier
from chalicelib.domain.audit_verification import (
    NO_EVIDENCE,
    ExpiryEvidence,
    SignedCheckpoints,
    VerificationReport,
    verify_chain,
)
from chalicelib.domain.audit_worm_check import image_names
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.observability import logger


@contextmanager
def journal_unavailable(what: str) -> Iterator[None]:
    """Every storage or KMS failure of the journal is a 503: the caller must not go on silently."""
    try:
        yield
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        code = getattr(exc, "cause_response_code", None) or type(exc).__name__
        logger.error("audit journal unavailable", extra={"operation": what, "error": code})
        raise ServiceUnavailable("The audit journal is unavailable; retry later.") from exc


# The checkpoints table's item that publishes the audit key's public key (not a chain: no FINESS
# starts with "#"), written by the checkpoint function, read by GET /v1/audit/public-key.
PUBLIC_KEY_CHAIN = "#public-key"


def _checkpoint_of(item: AuditCheckpointModel) -> Checkpoint:
    return Checkpoint(
        chain=item.chain,
        n=int(item.n),
        head_seq=int(item.head_seq),
        head_hash=item.head_hash,
        head_time=item.head_time,
        head_expires_at=None if item.head_expires_at is None else int(item.head_expires_at),
        signed_at=item.signed_at,
        prev=item.prev,
        signature=item.signature,
        key_id=item.key_id,
    )


# Raw (DynamoDB JSON) readers for the verifier: tolerant, since a tampered item may not even
# deserialise through the model (an `event` that is no longer JSON, a missing attribute).
def raw_string(item: dict[str, Any], name: str) -> str:
    value = item.get(name, {})
    return str(value.get("S", "")) if isinstance(value, dict) else ""


def _raw_n(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name, {})
    try:
        return int(value["N"]) if isinstance(value, dict) and "N" in value else None
    except (TypeError, ValueError):  # a file's {"N": [..]}, or 5,000 digits
        return None


def link_from_item(item: dict[str, Any]) -> Link:
    """A link from its DynamoDB JSON image (table, stream, WORM copy or export file), tolerantly."""
    text = raw_string(item, "event")
    try:
        event: Any = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a PutItem of 100,000 nested brackets
        event = {"unparseable": text}
    return Link(
        chain=raw_string(item, "chain"),
        seq=_raw_n(item, "seq") or 0,
        time=raw_string(item, "time"),
        event=event,
        prev_hash=raw_string(item, "prev_hash"),
        hash=raw_string(item, "hash"),
        expires_at=_raw_n(item, "expires_at"),
        prev_expires_at=_raw_n(item, "prev_expires_at"),
    )


def checkpoint_from_item(item: dict[str, Any]) -> Checkpoint:
    """A checkpoint from its DynamoDB JSON image, tolerantly (a forged one may lack attributes)."""
    return Checkpoint(
        chain=raw_string(item, "chain"),
        n=_raw_n(item, "n") or 0,
        head_seq=_raw_n(item, "head_seq") or 0,
        head_hash=raw_string(item, "head_hash"),
        head_time=raw_string(item, "head_time") or None,
        head_expires_at=_raw_n(item, "head_expires_at"),
        signed_at=raw_string(item, "signed_at"),
        prev=raw_string(item, "prev"),
        signature=raw_string(item, "signature"),
        key_id=raw_string(item, "key_id"),
    )


def _query_all(connection: Any, chain: str) -> Iterator[dict[str, Any]]:
    start_key: Any = None
    while True:
        page = connection.query(
            chain, consistent_read=True, scan_index_forward=True, exclusive_start_key=start_key
        )
        yield from page.get("Items", [])
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return


def _scan_chains(model: type[AuditEventModel] | type[AuditCheckpointModel]) -> set[str]:
    connection = model._get_connection()
    found: set[str] = set()
    start_key: Any = None
    while True:
        page = connection.scan(attributes_to_get=["chain"], exclusive_start_key=start_key)
        found |= {raw_string(item, "chain") for item in page.get("Items", [])}
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return {chain for chain in found if chain and not chain.startswith("#")}


# A chain's head is found past at most this many malformed items (each one query): more is an attack
# on availability, answered 503 rather than an unbounded walk.
MALFORMED_AT_HEAD_MAX = 100
_HASH_DIGITS = frozenset("0123456789abcdef")


def _well_formed_head(chain: str, item: dict[str, Any]) -> Head | None:
    """The head an item of `chain` makes, if it is a well-formed link of it; else None."""
    names = image_names(item)
    link = link_from_item(item)
    if names != (chain, link.seq) or len(link.hash) != 64 or not set(link.hash) <= _HASH_DIGITS:
        return None
    try:
        parse_time(link.time)
    except ValueError:
        return None
    return Head(link.seq, link.hash, link.time, link.expires_at)


def newest_link(chain: str) -> tuple[Head | None, list[dict[str, Any]]]:
    """The chain's newest well-formed link (consistent read), and the malformed items passed over
    to find it (a seq of 1.5 sorts among the links: it must neither stop nor extend the chain)."""
    connection = AuditEventModel._get_connection()
    skipped: list[dict[str, Any]] = []
    start_key: Any = None
    while len(skipped) <= MALFORMED_AT_HEAD_MAX:
        page = connection.query(
            chain, consistent_read=True, scan_index_forward=False, limit=1, exclusive_start_key=start_key
        )
        for item in page.get("Items", []):
            head = _well_formed_head(chain, item)
            if head is not None:
                return head, skipped
            skipped.append(item)
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return None, skipped
    raise ServiceUnavailable("The audit journal's head is unreadable; retry later.")


def latest_checkpoint(chain: str) -> Checkpoint | None:
    for item in AuditCheckpointModel.query(chain, scan_index_forward=False, limit=1, consistent_read=True):
        return _checkpoint_of(item)
    return None


def candidate_chains() -> set[str]:
    """Every pharmacy's FINESS as stored, the platform, and any chain already checkpointed -
    without scanning the events table, which holds a year of events. Unchecked: a pharmacy item
    may name anything (see `known_chains`)."""
    chains = {PLATFORM_CHAIN}
    with journal_unavailable("chains"):
        chains |= {str(p.finess) for p in PharmacyModel.scan(attributes_to_get=["finess"])}
        chains |= _scan_chains(AuditCheckpointModel)
    return chains


def known_chains() -> set[str]:
    """The candidate chains whose name is a chain ("platform" or a valid FINESS)."""
    return {chain for chain in candidate_chains() if is_chain(chain)}


def is_known_chain(chain: str) -> bool:
    """A chain the journal knows: a pharmacy's, the platform's, or one with a link or checkpoint."""
    if chain == PLATFORM_CHAIN:
        return True
    if not is_chain(chain):
        return False
    with journal_unavailable("chains"):
        if PharmacyModel.count(chain, limit=1) > 0:
            return True
        for model in (AuditEventModel, AuditCheckpointModel):
            for _item in model.query(chain, limit=1, consistent_read=True):
                return True
    return False


# --- verification (operator, auditor) ------------------------------------------------------------


def link_items(chain: str) -> Iterator[dict[str, Any]]:
    """Every stored link of `chain` in seq order, raw DynamoDB JSON (consistent), tampered or not."""
    with journal_unavailable("links"):
        yield from _query_all(AuditEventModel._get_connection(), chain)


def checkpoint_items(chain: str) -> list[dict[str, Any]]:
    with journal_unavailable("checkpoints"):
        return list(_query_all(AuditCheckpointModel._get_connection(), chain))


def stored_chains() -> set[str]:
    """Every chain with a link or a checkpoint (a chain deleted whole still has its checkpoints);
    an item under a name that is no chain is no chain's (the WORM consumer sets it aside)."""
    with journal_unavailable("chains"):
        found = _scan_chains(AuditEventModel) | _scan_chains(AuditCheckpointModel)
    return {chain for chain in found if is_chain(chain)}


def verify_stored(
    chain: str,
    verifier: SignatureVerifier,
    *,
    now: datetime,
    period: timedelta = CHECKPOINT_PERIOD,
    expiry: ExpiryEvidence = NO_EVIDENCE,
) -> VerificationReport:
    """Verify a chain as the tables hold it (a gap is excused only by `expiry`'s evidence)."""
    signed = SignedCheckpoints(
        [checkpoint_from_item(item) for item in checkpoint_items(chain)], verifier, period
    )
    return verify_chain(
        (link_from_item(item) for item in link_items(chain)), signed, chain=chain, now=now, expiry=expiry
    )
