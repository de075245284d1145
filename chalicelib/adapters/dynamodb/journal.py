"""The audit journal in DynamoDB: append-only hash chains, signed checkpoints, paginated reads.

Storage
  One chain per pharmacy (partition key = FINESS) and one "platform" chain for events that name
  no pharmacy (refused authentications, platform actions). A link is written only with the
  condition that its seq does not exist yet, after reading the head with a consistent read: two
  writers that read the same head race for the same seq, one wins, the other re-reads the head and
  retries (bounded, jittered backoff). The chain therefore never forks. The head is cached per
  chain in the process to save the read; a stale cache only costs one failed condition.
  Links expire by TTL after `audit_retention_days`; checkpoints carry no event and do not expire.

Who may do what (infra/template.py, tests/infra)
  * Writers (the API, export and purge functions): GetItem/Query/PutItem/ConditionCheckItem on
    the events table, read on the checkpoints table, no right at all on the audit signing key.
    They append links and never write a checkpoint.
  * The checkpoint function (`DynamoDbCheckpointer`, hourly): reads the events, appends
    checkpoints, and alone may kms:Sign with the audit key (ECC_NIST_P256, ECDSA_SHA_256).
  * Anyone with the public key verifies (`devtools/verify_audit.py`), without KMS.

The failure rule: no access to health data without its trace
  * Reads (read, list, delivery read, export, audit read): the event is appended after the data is
    fetched and BEFORE it is returned. If `append` raises ServiceUnavailable the request is
    answered 503 and the data is dropped: nothing leaves unjournaled.
  * Changes: the change and its event are one DynamoDB transaction (`append(event, changes)`):
    either both are stored or neither. A create costs the membership read and that transaction.
  * Refusals (401/403/404) are journaled before the refusal is returned; if that append fails the
    answer becomes 503 rather than a silent refusal.
  Any DynamoDB error of the append path surfaces as ServiceUnavailable (a 503 with Retry-After),
  never as a silent success.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import threading
import time as _time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, PynamoDBException

from chalicelib.adapters.aws import AwsCalls, pynamodb_meta
from chalicelib.adapters.dynamodb.errors import is_conditional_failure, is_transaction_conflict
from chalicelib.adapters.dynamodb.models import AuditCheckpointModel, AuditEventModel, PharmacyModel
from chalicelib.adapters.dynamodb.transactions import write_together
from chalicelib.domain.audit_chain import (
    GENESIS,
    PLATFORM_CHAIN,
    SIGNING_ALGORITHM,
    AuditEvent,
    Checkpoint,
    ExpiryEvidence,
    Head,
    Link,
    SignatureVerifier,
    VerificationReport,
    chain_of,
    checkpoint_message,
    event_fields,
    format_time,
    image_names,
    is_chain,
    next_checkpoint,
    next_link,
    parse_time,
    public_view,
    verify_chain,
)
from chalicelib.domain.errors import FieldError, ServiceUnavailable, ValidationFailed
from chalicelib.observability import AUDIT_QUARANTINED, count, logger
from chalicelib.ports import Change, Clock, PublishedKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

# The checkpoints table's item that publishes the audit key's public key (not a chain: no FINESS
# starts with "#"), written by the checkpoint function, read by GET /v1/audit/public-key.
PUBLIC_KEY_CHAIN = "#public-key"
DEFAULT_MAX_ATTEMPTS = 16  # a busy pharmacy has several writers racing for its chain head
_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.2


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


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Every storage or KMS failure of the journal is a 503: the caller must not go on silently."""
    try:
        yield
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        code = getattr(exc, "cause_response_code", None) or type(exc).__name__
        logger.error("audit journal unavailable", extra={"operation": what, "error": code})
        raise ServiceUnavailable("The audit journal is unavailable; retry later.") from exc


def _from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def request_token(link: Link) -> str:
    """The ClientRequestToken of the transaction that writes `link` (36 characters at most): the
    same for botocore's retries of that transaction, another for the next attempt at another seq."""
    digest = hashlib.sha256(f"{link.chain}|{link.seq}|{link.hash}".encode()).hexdigest()
    return str(uuid.UUID(hex=digest[:32]))


def _item_of(link: Link) -> AuditEventModel:
    return AuditEventModel(
        link.chain,
        link.seq,
        time=link.time,
        event=link.event,
        prev_hash=link.prev_hash,
        hash=link.hash,
        expires_at=_from_epoch(link.expires_at),
        prev_expires_at=link.prev_expires_at,
    )


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
def _raw_s(item: dict[str, Any], name: str) -> str:
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
    text = _raw_s(item, "event")
    try:
        event: Any = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a PutItem of 100,000 nested brackets
        event = {"unparseable": text}
    return Link(
        chain=_raw_s(item, "chain"),
        seq=_raw_n(item, "seq") or 0,
        time=_raw_s(item, "time"),
        event=event,
        prev_hash=_raw_s(item, "prev_hash"),
        hash=_raw_s(item, "hash"),
        expires_at=_raw_n(item, "expires_at"),
        prev_expires_at=_raw_n(item, "prev_expires_at"),
    )


def checkpoint_from_item(item: dict[str, Any]) -> Checkpoint:
    """A checkpoint from its DynamoDB JSON image, tolerantly (a forged one may lack attributes)."""
    return Checkpoint(
        chain=_raw_s(item, "chain"),
        n=_raw_n(item, "n") or 0,
        head_seq=_raw_n(item, "head_seq") or 0,
        head_hash=_raw_s(item, "head_hash"),
        head_time=_raw_s(item, "head_time") or None,
        head_expires_at=_raw_n(item, "head_expires_at"),
        signed_at=_raw_s(item, "signed_at"),
        prev=_raw_s(item, "prev"),
        signature=_raw_s(item, "signature"),
        key_id=_raw_s(item, "key_id"),
    )


def _encode_cursor(chain: str, link: Link) -> str:
    raw = json.dumps({"c": chain, "s": link.seq, "t": link.time}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("cursor", message)])


CURSOR_MAX_SEQ = 10**15  # a chain of a billion events a day for 2,700 years
CURSOR_MAX_CHARS = 1024  # _encode_cursor gives about 100


def _decode_cursor(cursor: str, chain: str) -> tuple[int, str]:
    if len(cursor) > CURSOR_MAX_CHARS:
        raise _bad_cursor("is not a cursor this API issued")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        seq, moment, owner = data["s"], data["t"], data["c"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise _bad_cursor("is not a cursor this API issued") from exc
    # Exactly what _encode_cursor writes: a positive int seq (not a bool, not 60 digits, which
    # real DynamoDB would refuse), a time in the journal's own format.
    if (
        isinstance(seq, bool)
        or not isinstance(seq, int)
        or not 1 <= seq <= CURSOR_MAX_SEQ
        or not isinstance(moment, str)
        or not isinstance(owner, str)
    ):
        raise _bad_cursor("is not a cursor this API issued")
    try:
        if format_time(parse_time(moment)) != moment:
            raise ValueError(moment)
    except ValueError as exc:
        raise _bad_cursor("is not a cursor this API issued") from exc
    if owner != chain:  # a cursor from another pharmacy's journal is useless here
        raise _bad_cursor("belongs to another journal")
    return seq, moment


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


def _query_by_time(chain: str, condition: Any, start_key: Any, wanted: int) -> list[dict[str, Any]]:
    """Up to `wanted` raw items of a chain by time. Raw, read as the verifier reads them
    (`link_from_item`): an item a writer made unparseable is shown, never a 500 for the whole page."""
    connection = AuditEventModel._get_connection()
    items: list[dict[str, Any]] = []
    while True:
        page = connection.query(
            chain,
            range_key_condition=condition,
            index_name=AuditEventModel.by_time.Meta.index_name,
            scan_index_forward=True,
            limit=wanted - len(items),
            exclusive_start_key=start_key,
        )
        items += page.get("Items", [])
        start_key = page.get("LastEvaluatedKey")
        if len(items) >= wanted or not start_key:
            return items[:wanted]


def _scan_chains(model: type[AuditEventModel] | type[AuditCheckpointModel]) -> set[str]:
    connection = model._get_connection()
    found: set[str] = set()
    start_key: Any = None
    while True:
        page = connection.scan(attributes_to_get=["chain"], exclusive_start_key=start_key)
        found |= {_raw_s(item, "chain") for item in page.get("Items", [])}
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
    with _unavailable("chains"):
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
    with _unavailable("chains"):
        if PharmacyModel.count(chain, limit=1) > 0:
            return True
        for model in (AuditEventModel, AuditCheckpointModel):
            for _item in model.query(chain, limit=1, consistent_read=True):
                return True
    return False


class DynamoDbAuditJournal:
    """The AuditJournal port over AuditEventModel (tables bound by bind_models). It appends and
    reads; it holds no key and writes no checkpoint."""

    def __init__(
        self,
        *,
        retention_days: int,
        calls: AwsCalls,
        clock: Clock,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = _time.sleep,
    ) -> None:
        self._clock = clock
        self._retention_days = retention_days
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._heads: dict[str, Head] = {}
        self._lock = threading.Lock()
        self._chain_locks: dict[str, threading.Lock] = {}
        self._connection = Connection(region=calls.region, host=calls.endpoint_url, **pynamodb_meta(calls))

    # --- append ---------------------------------------------------------------------------------

    def append(self, event: AuditEvent, changes: Sequence[Change] = ()) -> None:
        """Durably append `event` to its chain, with `changes` in the same DynamoDB transaction
        (each change's condition and the link's sequence condition together); ServiceUnavailable if
        it cannot, a change's own conflict if its condition fails: either way nothing was written.
        A lost race for the sequence number re-reads the head and tries again, changes included."""
        chain = chain_of(event.finess)
        # One append at a time per chain in this process: its threads (`chalice local`, the local
        # stack's API) take turns with the cached head instead of racing for the same seq. Racing,
        # a writer that lost had to read the head, and check its own link, before trying again,
        # while each newcomer wrote at once from the cache: under load one lost 16 times in a row
        # (a 503, seen by the soak). Writers in other processes still race, and retry below.
        with self._chain_lock(chain):
            self._append(event, changes, chain)

    def _chain_lock(self, chain: str) -> threading.Lock:
        with self._lock:
            return self._chain_locks.setdefault(chain, threading.Lock())

    def _append(self, event: AuditEvent, changes: Sequence[Change], chain: str) -> None:
        fields = event_fields(event)
        for attempt in range(self._max_attempts):
            head = self._cached_head(chain) if attempt == 0 else None
            if head is None:
                head = self.head(chain)
            link = next_link(head, chain, fields, now=self._clock.now(), retention_days=self._retention_days)
            if self._put(link) if not changes else self._transact(link, changes):
                with self._lock:
                    self._heads[chain] = Head(link.seq, link.hash, link.time, link.expires_at)
                return
            # Another writer took this seq: forget the head, back off a little, re-read.
            with self._lock:
                self._heads.pop(chain, None)
            ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)
            self._sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not a secret
        logger.error(
            "audit append gave up under contention",
            extra={"chain": chain, "attempts": self._max_attempts, "request_id": event.request_id},
        )
        raise ServiceUnavailable("The audit journal is busy; retry later.", retry_after_seconds=1)

    def _cached_head(self, chain: str) -> Head | None:
        with self._lock:
            return self._heads.get(chain)

    def _put(self, link: Link) -> bool:
        """Write `link` if its seq is free; False if another writer has it (or is writing it)."""
        item = _item_of(link)
        with _unavailable("append"):
            try:
                item.save(condition=AuditEventModel.seq.does_not_exist())
            except PutError as exc:
                # the seq is taken, or another writer's transaction is writing it right now
                if is_conditional_failure(exc) or is_transaction_conflict(exc):
                    return False
                raise
        return True

    def _transact(self, link: Link, changes: Sequence[Change]) -> bool:
        """Write the changes and `link` in one transaction; False if another writer has the seq."""
        item = _item_of(link)
        with _unavailable("append"):
            return write_together(
                self._connection,
                changes,
                then=lambda t: t.save(item, condition=AuditEventModel.seq.does_not_exist()),
                token=request_token(link),
                committed=lambda: self._stored(link),
            )

    def _stored(self, link: Link) -> bool:
        """Whether this very link is in the chain: its transaction committed, whatever answer was
        lost (the link's hash covers the event, its request id and its time)."""
        try:
            stored = AuditEventModel.get(
                link.chain, link.seq, consistent_read=True, attributes_to_get=["hash"]
            )
        except AuditEventModel.DoesNotExist:
            return False
        return bool(stored.hash == link.hash)

    def head(self, chain: str) -> Head:
        """The chain's newest link (consistent read); if every link expired, the newest checkpoint."""
        with _unavailable("head"):
            head, _malformed = newest_link(chain)  # the WORM consumer sets those aside
            if head is not None:
                return head
            checkpoint = latest_checkpoint(chain)
        if checkpoint is None:
            return GENESIS
        return Head(
            checkpoint.head_seq, checkpoint.head_hash, checkpoint.head_time or "", checkpoint.head_expires_at
        )

    # --- read -----------------------------------------------------------------------------------
    def read(
        self,
        finess: str,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A pharmacy's events, oldest first, with `start <= time <= end`; an opaque cursor bound to it."""
        if not finess:
            raise ValueError("read needs a pharmacy")
        if limit < 1:
            raise ValidationFailed([FieldError("limit", "must be at least 1")])
        chain = chain_of(finess)
        low = format_time(start) if start is not None else None
        high = format_time(end) if end is not None else None
        if low is not None and high is not None:
            condition: Any = AuditEventModel.time.between(low, high)
        elif low is not None:
            condition = AuditEventModel.time >= low
        elif high is not None:
            condition = AuditEventModel.time <= high
        else:
            condition = None
        start_key: dict[str, Any] | None = None
        if cursor:
            seq, moment = _decode_cursor(cursor, chain)
            if (low is not None and moment < low) or (high is not None and moment > high):
                raise _bad_cursor("does not belong to this time window")
            start_key = {"chain": {"S": chain}, "seq": {"N": str(seq)}, "time": {"S": moment}}
        with _unavailable("read"):
            # One more than asked tells whether a next page exists, so no cursor leads to an empty page.
            found = [link_from_item(item) for item in _query_by_time(chain, condition, start_key, limit + 1)]
        page = found[:limit]
        next_cursor = _encode_cursor(chain, page[-1]) if len(found) > limit else None
        return [public_view(link) for link in page], next_cursor

    def public_key(self) -> PublishedKey | None:
        """The audit key's public key as the checkpoint function published it, or None yet."""
        with _unavailable("public key"):
            table = AuditCheckpointModel._get_connection()
            client = cast("DynamoDBClient", table.connection.client)  # PynamoDB's own botocore client
            answer = client.get_item(
                TableName=table.table_name,
                Key={"chain": {"S": PUBLIC_KEY_CHAIN}, "n": {"N": "0"}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        if not item:
            return None
        return PublishedKey(
            **{name: _raw_s(item, name) for name in ("key_id", "algorithm", "public_key_pem", "fingerprint")}
        )


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
        with _unavailable("checkpoint"):
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
        from chalicelib.domain.audit_chain import public_key_fingerprint, public_key_pem

        with _unavailable("public key"):
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


# --- verification (operator, auditor) ------------------------------------------------------------


def link_items(chain: str) -> Iterator[dict[str, Any]]:
    """Every stored link of `chain` in seq order, raw DynamoDB JSON (consistent), tampered or not."""
    with _unavailable("links"):
        yield from _query_all(AuditEventModel._get_connection(), chain)


def checkpoint_items(chain: str) -> list[dict[str, Any]]:
    with _unavailable("checkpoints"):
        return list(_query_all(AuditCheckpointModel._get_connection(), chain))


def stored_chains() -> set[str]:
    """Every chain with a link or a checkpoint (a chain deleted whole still has its checkpoints);
    an item under a name that is no chain is no chain's (the WORM consumer sets it aside)."""
    with _unavailable("chains"):
        found = _scan_chains(AuditEventModel) | _scan_chains(AuditCheckpointModel)
    return {chain for chain in found if is_chain(chain)}


def verify_stored(
    chain: str,
    verifier: SignatureVerifier,
    *,
    now: datetime,
    period: Any = None,
    expiry: ExpiryEvidence | None = None,
) -> VerificationReport:
    """Verify a chain as the tables hold it (a gap is excused only by `expiry`'s evidence)."""
    kwargs: dict[str, Any] = {} if period is None else {"period": period}
    if expiry is not None:
        kwargs["expiry"] = expiry
    return verify_chain(
        (link_from_item(item) for item in link_items(chain)),
        [checkpoint_from_item(item) for item in checkpoint_items(chain)],
        verifier,
        chain=chain,
        now=now,
        **kwargs,
    )
