"""The audit journal in DynamoDB: append-only hash chains, signed checkpoints, paginated reads.
Here the writers' side (append, read); the checkpoint function's is audit_checkpointer.py, the
tables read back for it and the verifier audit_items.py.

Storage
  One chain per pharmacy (partition key = FINESS) and one "platform" chain for events that name
  no pharmacy (refused authentications, platform actions). A link is written only with the
  condition that its seq does not exist yet, after reading the head with a consistent read: two
  writers that read the same head race for the same seq, one wins, the other re-reads the head and
  retries (bounded, jittered backoff). The chain therefore never forks. The head is cached per
  chain in the process to save the read; a stale cache only costs one failed condition.
  Links expire by TTL after `audit_retention_days`; checkpoints carry no event and do not expire.

Who may do what (infra/template/access.py, tests/infra)
  * Writers (the API, export and purge functions): GetItem/Query/PutItem/ConditionCheckItem on
    the events table, read on the checkpoints table, no right at all on the audit signing key.
    They append links and never write a checkpoint.
  * The checkpoint function (`DynamoDbCheckpointer`, hourly): reads the events, appends
    checkpoints, and alone may kms:Sign with the audit key (ECC_NIST_P256, ECDSA_SHA_256).
  * Anyone with the public key verifies (`operations/verify_audit.py`), without KMS.

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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError

from chalicelib.adapters.aws import AwsCalls, pynamodb_meta
from chalicelib.adapters.dynamodb.audit_items import (
    PUBLIC_KEY_CHAIN,
    journal_unavailable,
    latest_checkpoint,
    link_from_item,
    newest_link,
    raw_string,
)
from chalicelib.adapters.dynamodb.errors import is_conditional_failure, is_transaction_conflict
from chalicelib.adapters.dynamodb.models import AuditCheckpointModel, AuditEventModel
from chalicelib.adapters.dynamodb.transactions import write_together
from chalicelib.domain.audit_chain import (
    GENESIS,
    AuditEvent,
    Head,
    Link,
    chain_of,
    event_fields,
    format_time,
    next_link,
    parse_time,
    public_view,
)
from chalicelib.domain.errors import (
    CURSOR_NOT_ISSUED,
    CURSOR_OF_ANOTHER_LISTING,
    CURSOR_OF_ANOTHER_WINDOW,
    Rule,
    ServiceUnavailable,
    ValidationFailed,
)
from chalicelib.observability import logger
from chalicelib.ports import Change, Clock, PublishedKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_MAX_ATTEMPTS = 16  # a busy pharmacy has several writers racing for its chain head
_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.2


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


def _encode_cursor(chain: str, link: Link) -> str:
    raw = json.dumps({"c": chain, "s": link.seq, "t": link.time}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor(rule: Rule) -> ValidationFailed:
    return ValidationFailed([rule.at("cursor")])


CURSOR_MAX_SEQ = 10**15  # a chain of a billion events a day for 2,700 years
CURSOR_MAX_CHARS = 1024  # _encode_cursor gives about 100


def _decode_cursor(cursor: str, chain: str) -> tuple[int, str]:
    if len(cursor) > CURSOR_MAX_CHARS:
        raise _bad_cursor(CURSOR_NOT_ISSUED)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        seq, moment, owner = data["s"], data["t"], data["c"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise _bad_cursor(CURSOR_NOT_ISSUED) from exc
    # Exactly what _encode_cursor writes: a positive int seq (not a bool, not 60 digits, which
    # real DynamoDB would refuse), a time in the journal's own format.
    if (
        isinstance(seq, bool)
        or not isinstance(seq, int)
        or not 1 <= seq <= CURSOR_MAX_SEQ
        or not isinstance(moment, str)
        or not isinstance(owner, str)
    ):
        raise _bad_cursor(CURSOR_NOT_ISSUED)
    try:
        if format_time(parse_time(moment)) != moment:
            raise ValueError(moment)
    except ValueError as exc:
        raise _bad_cursor(CURSOR_NOT_ISSUED) from exc
    if owner != chain:  # a cursor from another pharmacy's journal is useless here
        raise _bad_cursor(CURSOR_OF_ANOTHER_LISTING)
    return seq, moment


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
        with journal_unavailable("append"):
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
        with journal_unavailable("append"):
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
        with journal_unavailable("head"):
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
        if limit < 1:  # the API's `limit` is checked at the edge (LIMIT_RANGE): this is a caller's bug
            raise ValueError("read needs a limit of at least 1")
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
                raise _bad_cursor(CURSOR_OF_ANOTHER_WINDOW)
            start_key = {"chain": {"S": chain}, "seq": {"N": str(seq)}, "time": {"S": moment}}
        with journal_unavailable("read"):
            # One more than asked tells whether a next page exists, so no cursor leads to an empty page.
            found = [link_from_item(item) for item in _query_by_time(chain, condition, start_key, limit + 1)]
        page = found[:limit]
        next_cursor = _encode_cursor(chain, page[-1]) if len(found) > limit else None
        return [public_view(link) for link in page], next_cursor

    def public_key(self) -> PublishedKey | None:
        """The audit key's public key as the checkpoint function published it, or None yet."""
        with journal_unavailable("public key"):
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
            **{
                name: raw_string(item, name)
                for name in ("key_id", "algorithm", "public_key_pem", "fingerprint")
            }
        )
