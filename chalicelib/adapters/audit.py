"""The audit journal in DynamoDB: append-only hash chains, KMS-MACed checkpoints, paginated reads.

Storage
  One chain per pharmacy (partition key = FINESS) and one "platform" chain for events that name
  no pharmacy (refused authentications, platform actions). A link is written only with the
  condition that its seq does not exist yet, after reading the head with a consistent read: two
  writers that read the same head race for the same seq, one wins, the other re-reads the head and
  retries (bounded, jittered backoff). The chain therefore never forks. The head is cached per
  chain in the process to save the read; a stale cache only costs one failed condition.
  Every `checkpoint_every` links (and on the scheduled `checkpoint_all`) the head's seq and hash
  are MACed with KMS GenerateMac (HMAC_SHA_256, the `audit_key_id` key) into the checkpoints table.
  Links expire by TTL after `audit_retention_days`; checkpoints carry no event and do not expire.
  IAM (infra): the API role may PutItem/Query/GetItem on both tables and GenerateMac on the audit
  key; it has no UpdateItem/DeleteItem on them and no kms:* management right on the key. Only the
  operator's role has VerifyMac (for `python -m devtools.verify_audit`).

The failure rule: no access to health data without its trace
  * Reads (read, list, delivery read, export, audit read): the event is appended after the data is
    fetched and BEFORE it is returned. If `append` raises ServiceUnavailable the request is
    answered 503 and the data is dropped: nothing leaves unjournaled.
  * Changes (create, set result, cancel, member add/remove, pharmacy onboarding): the event is
    appended right after the change is stored, in the same request. If that append fails the
    answer is 503; the change stays (no data was disclosed, and undoing a stored change could
    itself fail half-way), and the client's retry is safe (Idempotency-Key for a create; a result
    or a cancellation set twice is a no-op) and journals it. The journal cannot be written while
    DynamoDB is down, and then the change itself fails first, so the gap is narrow; the adapter
    logs every failed append at ERROR with the request id so an operator can reconcile.
    A stricter variant, if ever required: append an "attempt" event before the change (its
    failure refuses the request with nothing changed), then the outcome event after it.
  * Refusals (401/403/404) are journaled before the refusal is returned; if that append fails the
    answer becomes 503 rather than a silent refusal.
  Any DynamoDB or KMS error of the append path surfaces as ServiceUnavailable (a 503 with
  Retry-After), never as a silent success; a failed periodic checkpoint does not fail the append
  (the link is durable; the next checkpoint covers it) and is logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
import time as _time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PutError, PynamoDBException

from chalicelib.adapters.dynamodb.errors import is_conditional_failure
from chalicelib.adapters.dynamodb.models import AuditCheckpointModel, AuditEventModel, PharmacyModel
from chalicelib.config import Settings
from chalicelib.domain.errors import FieldError, ServiceUnavailable, ValidationFailed
from chalicelib.observability import logger
from chalicelib.services.audit import (
    GENESIS,
    PLATFORM_CHAIN,
    Checkpoint,
    Head,
    Link,
    VerificationReport,
    chain_of,
    checkpoint_due,
    checkpoint_message,
    event_fields,
    format_time,
    next_link,
    parse_time,
    public_view,
    verify_chain,
)
from chalicelib.services.ports import AuditEvent, Clock

MAC_ALGORITHM = "HMAC_SHA_256"
DEFAULT_MAX_ATTEMPTS = 16  # a busy pharmacy has several writers racing for its chain head
_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.2


class KmsMac:
    """HMAC_SHA_256 through KMS: the key never leaves KMS, the API may only use it."""

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self.key_id = key_id

    def generate(self, message: bytes) -> tuple[str, str]:
        """(base64 MAC, the key's ARN as KMS reports it)."""
        answer = self._kms.generate_mac(Message=message, KeyId=self.key_id, MacAlgorithm=MAC_ALGORITHM)
        return base64.b64encode(answer["Mac"]).decode(), str(answer.get("KeyId", self.key_id))

    def verify(self, message: bytes, mac: str) -> bool:
        """True if `mac` is this key's MAC of `message`; raises if KMS cannot answer.

        Always the configured key, never a key id read from the table: a forger could name his own.
        """
        try:
            raw = base64.b64decode(mac, validate=True)
        except (binascii.Error, ValueError):
            return False
        if not raw:
            return False
        try:
            answer = self._kms.verify_mac(
                Message=message, KeyId=self.key_id, MacAlgorithm=MAC_ALGORITHM, Mac=raw
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise
        return bool(answer.get("MacValid"))


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Every storage or KMS failure of the journal is a 503: the caller must not go on silently."""
    try:
        yield
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        code = getattr(exc, "cause_response_code", None) or type(exc).__name__
        logger.error("audit journal unavailable", extra={"operation": what, "error": code})
        raise ServiceUnavailable("The audit journal is unavailable; retry later.") from exc


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _link_of(item: AuditEventModel) -> Link:
    return Link(
        chain=item.chain,
        seq=int(item.seq),
        time=item.time,
        event=item.event,
        prev_hash=item.prev_hash,
        hash=item.hash,
        expires_at=_epoch(item.expires_at),
        prev_expires_at=None if item.prev_expires_at is None else int(item.prev_expires_at),
    )


def _checkpoint_of(item: AuditCheckpointModel) -> Checkpoint:
    return Checkpoint(
        chain=item.chain,
        seq=int(item.seq),
        hash=item.hash,
        mac=item.mac,
        key_id=item.key_id,
        created_at=item.created_at,
        head_time=item.head_time,
        head_expires_at=None if item.head_expires_at is None else int(item.head_expires_at),
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
    except ValueError:
        return None


def _raw_link(item: dict[str, Any]) -> Link:
    text = _raw_s(item, "event")
    try:
        event: Any = json.loads(text)
    except ValueError:
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


def _raw_checkpoint(item: dict[str, Any]) -> Checkpoint:
    head_time = _raw_s(item, "head_time")
    return Checkpoint(
        chain=_raw_s(item, "chain"),
        seq=_raw_n(item, "seq") or 0,
        hash=_raw_s(item, "hash"),
        mac=_raw_s(item, "mac"),
        key_id=_raw_s(item, "key_id"),
        created_at=_raw_s(item, "created_at"),
        head_time=head_time or None,
        head_expires_at=_raw_n(item, "head_expires_at"),
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


class DynamoDbAuditJournal:
    """The AuditJournal port over AuditEventModel / AuditCheckpointModel (tables bound by bind_models)."""

    def __init__(
        self,
        *,
        settings: Settings,
        kms_client: Any,
        clock: Clock,
        checkpoint_every: int | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = _time.sleep,
    ) -> None:
        self._mac = KmsMac(kms_client, settings.audit_key_id)
        self._clock = clock
        self._retention_days = settings.audit_retention_days
        configured = settings.audit_checkpoint_every
        self._every = int(configured if checkpoint_every is None else checkpoint_every)
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._heads: dict[str, Head] = {}
        self._lock = threading.Lock()

    # --- append ---------------------------------------------------------------------------------

    def append(self, event: AuditEvent) -> None:
        """Durably append `event` to its chain; ServiceUnavailable if it cannot."""
        fields = event_fields(event)
        chain = chain_of(event.finess)
        for attempt in range(self._max_attempts):
            head = self._cached_head(chain) if attempt == 0 else None
            if head is None:
                head = self.head(chain)
            link = next_link(head, chain, fields, now=self._clock.now(), retention_days=self._retention_days)
            if self._put(link):
                with self._lock:
                    self._heads[chain] = Head(link.seq, link.hash, link.time, link.expires_at)
                if checkpoint_due(link.seq, self._every):
                    self._checkpoint_quietly(chain, link)
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
        """Write `link` if its seq is free; False if another writer has it."""
        item = AuditEventModel(
            link.chain,
            link.seq,
            time=link.time,
            event=link.event,
            prev_hash=link.prev_hash,
            hash=link.hash,
            expires_at=_from_epoch(link.expires_at),
            prev_expires_at=link.prev_expires_at,
        )
        with _unavailable("append"):
            try:
                item.save(condition=AuditEventModel.seq.does_not_exist())
            except PutError as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True

    def head(self, chain: str) -> Head:
        """The chain's newest link (consistent read); if every link expired, the newest checkpoint."""
        with _unavailable("head"):
            for item in AuditEventModel.query(chain, scan_index_forward=False, limit=1, consistent_read=True):
                return Head(int(item.seq), item.hash, item.time, _epoch(item.expires_at))
            checkpoint = self._latest_checkpoint(chain)
        if checkpoint is None:
            return GENESIS
        return Head(checkpoint.seq, checkpoint.hash, checkpoint.head_time or "", checkpoint.head_expires_at)

    # --- checkpoints ----------------------------------------------------------------------------

    def _latest_checkpoint(self, chain: str) -> Checkpoint | None:
        for item in AuditCheckpointModel.query(
            chain, scan_index_forward=False, limit=1, consistent_read=True
        ):
            return _checkpoint_of(item)
        return None

    def _write_checkpoint(
        self, chain: str, seq: int, head_hash: str, head_time: str, expires: int | None
    ) -> None:
        message = checkpoint_message(chain, seq, head_hash, head_time, expires)
        mac, key_id = self._mac.generate(message)
        item = AuditCheckpointModel(
            chain,
            seq,
            hash=head_hash,
            mac=mac,
            key_id=key_id,
            created_at=format_time(self._clock.now()),
            head_time=head_time,
            head_expires_at=expires,
        )
        try:
            item.save(condition=AuditCheckpointModel.seq.does_not_exist())
        except PutError as exc:
            if not is_conditional_failure(exc):  # taken: another writer pinned the same head
                raise

    def _checkpoint_quietly(self, chain: str, link: Link) -> None:
        try:
            with _unavailable("checkpoint"):
                self._write_checkpoint(chain, link.seq, link.hash, link.time, link.expires_at)
        except ServiceUnavailable:
            logger.warning("audit checkpoint skipped", extra={"chain": chain, "seq": link.seq})

    def checkpoint(self, chain: str) -> int | None:
        """Pin the chain's current head if no checkpoint has yet; the pinned seq, or None."""
        with _unavailable("checkpoint"):
            for item in AuditEventModel.query(chain, scan_index_forward=False, limit=1, consistent_read=True):
                head = _link_of(item)
                break
            else:
                return None
            latest = self._latest_checkpoint(chain)
            if latest is not None and latest.seq >= head.seq:
                return None
            self._write_checkpoint(chain, head.seq, head.hash, head.time, head.expires_at)
        return head.seq

    def checkpoint_all(self, chains: list[str] | None = None) -> dict[str, int]:
        """The scheduled job: pin every chain's head that moved since its last checkpoint."""
        pinned: dict[str, int] = {}
        for chain in chains if chains is not None else sorted(self._known_chains()):
            seq = self.checkpoint(chain)
            if seq is not None:
                pinned[chain] = seq
        logger.info("audit checkpoints written", extra={"chains": len(pinned)})
        return pinned

    def _known_chains(self) -> set[str]:
        """Every pharmacy, the platform, and any chain already checkpointed (a FINESS named by a
        refused request) - without scanning the events table, which holds a year of events."""
        chains = {PLATFORM_CHAIN}
        with _unavailable("chains"):
            chains |= {p.finess for p in PharmacyModel.scan(attributes_to_get=["finess"])}
            chains |= self._scan_chains(AuditCheckpointModel)
        return chains

    @staticmethod
    def _scan_chains(model: type[AuditEventModel] | type[AuditCheckpointModel]) -> set[str]:
        connection = model._get_connection()
        found: set[str] = set()
        start_key: Any = None
        while True:
            page = connection.scan(attributes_to_get=["chain"], exclusive_start_key=start_key)
            found |= {_raw_s(item, "chain") for item in page.get("Items", [])}
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                found.discard("")
                return found

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
            found = [
                _link_of(item)
                for item in AuditEventModel.by_time.query(
                    chain,
                    range_key_condition=condition,
                    scan_index_forward=True,
                    limit=limit + 1,
                    last_evaluated_key=start_key,
                )
            ]
        page = found[:limit]
        next_cursor = _encode_cursor(chain, page[-1]) if len(found) > limit else None
        return [public_view(link) for link in page], next_cursor

    # --- verification (operator) ----------------------------------------------------------------

    def links(self, chain: str) -> Iterator[Link]:
        """Every stored link of `chain` in seq order, read raw (consistent), tampered or not."""
        connection = AuditEventModel._get_connection()
        start_key: Any = None
        while True:
            page = connection.query(
                chain, consistent_read=True, scan_index_forward=True, exclusive_start_key=start_key
            )
            for item in page.get("Items", []):
                yield _raw_link(item)
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return

    def checkpoints(self, chain: str) -> list[Checkpoint]:
        connection = AuditCheckpointModel._get_connection()
        found: list[Checkpoint] = []
        start_key: Any = None
        while True:
            page = connection.query(
                chain, consistent_read=True, scan_index_forward=True, exclusive_start_key=start_key
            )
            found.extend(_raw_checkpoint(item) for item in page.get("Items", []))
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return found

    def chains(self) -> set[str]:
        """Every chain with a link or a checkpoint (a chain deleted whole still has its checkpoints)."""
        with _unavailable("chains"):
            return self._scan_chains(AuditEventModel) | self._scan_chains(AuditCheckpointModel)

    def verify(self, chain: str) -> VerificationReport:
        return verify_chain(
            self.links(chain),
            self.checkpoints(chain),
            self._mac.verify,
            chain=chain,
            now=self._clock.now(),
        )
