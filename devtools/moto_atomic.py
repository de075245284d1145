"""moto's DynamoDB made to behave as DynamoDB does, at DynamoDB's cost: one implementation for the
local stack (`make run`), the tests (tests/conftest.py) and the bench (bench/common.py).

    python -m devtools.moto_atomic -H 127.0.0.1 -p 5000     # moto server, as `python -m moto.server`

What it changes in moto, and why:
  * isolation: one lock around every table and stream operation. DynamoDB runs a
    TransactWriteItems in isolation from every other write, and a single-item write's condition
    and write are one step; moto checks, then writes, from several server threads.
  * transactions all or nothing through an undo log: moto deep-copies every table a transaction
    names, stream included, once per item, and puts the copies back if one item fails (a write
    another thread made meanwhile is then lost, and the cost grows with the table: the export's
    100-item transactions made moto grow by gigabytes). Here a transaction notes each item it
    touches before writing it and, if one item fails, puts those items back and drops the stream
    records it wrote: no reader ever sees a failed transaction, and the cost is the items'.
  * `ClientRequestToken` honoured: DynamoDB answers a TransactWriteItems retried with the same token
    within 10 minutes as the first call succeeded, without applying it twice (the same token with
    other items is an IdempotentParameterMismatchException). moto ignores the token, so a retry
    after a lost answer (botocore's own, on a read timeout) applied the transaction again. A
    transaction and its retries take turns on their token's own lock; only the transaction itself
    holds the one lock (moto's checks of the request, which parse every item's expressions, do
    not), and tokens expire oldest first.
  * streams trimmed: DynamoDB keeps a stream record 24 hours, moto forever (with both images). Here a
    record goes after 24 hours, or as soon as every reader of the shard has passed it. A reader
    stands where the shard iterator it asks for, or reads with, starts (it completed what came
    before), and each such position holds the records after it for READER_SILENCE_SECONDS (the
    local stack's readers ask for an iterator at every pass, from the last record they completed,
    and read on page by page). A stream no reader asked for keeps its records 24 hours. A reader
    that asks for records already trimmed reads from the oldest kept (DynamoDB:
    TrimmedDataAccessException). Shard iterators expire after 15 minutes, as DynamoDB's (moto
    keeps every one it made).
  * queries read their partition: moto sorts every item of the table for each query; here a
    base-table query looks at its partition only, an index query at the items holding its index
    key, kept per value of each indexed attribute as items are put, updated, deleted or put back
    (as DynamoDB keeps an index), so that no index query walks the table: the export's queue
    query, under the one lock, held every create for a time that grew with the records table.
  * S3 ListObjectVersions without copies: moto deep-copies every version of every object of the
    bucket (its body included) for each page it answers, whatever the prefix, only to mark which
    version is the latest; the audit WORM copy holds one object per journal link, and
    `verify_audit --all` lists each chain's (moto then grew by gigabytes). Here a page is chosen by
    moto's own walk over the versions themselves, and only the versions it answers are wrapped
    with their "latest" mark: nothing stored is copied or changed.

Where the one lock's time goes, opt-in: with DEPISTAGE_MOTO_PROFILE=<file> (a soak's or `make
run`'s environment passes it on), the server writes every DEPISTAGE_MOTO_PROFILE_SECONDS (30) one
JSON line: per operation (DynamoDB's target with its table and index, a transaction's tables and
size, S3's action) the count, the time waiting for the lock and holding it (sum and max), and the
requests' wall and CPU time; with each table's item count and stream length then.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Every operation that reads or writes table contents (a read during a transaction that then
# fails would see items that are then put back).
_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
    "batch_write_item",
)
# A stream read during a transaction that then fails would see records of writes undone.
_STREAM_OPERATIONS = ("describe_stream", "get_shard_iterator", "get_records")
_LOCK = threading.RLock()

REQUEST_TOKEN_SECONDS = 600.0  # DynamoDB: a ClientRequestToken is valid 10 minutes
STREAM_RETENTION = timedelta(hours=24)  # DynamoDB keeps a stream record 24 hours
ITERATOR_SECONDS = 900.0  # DynamoDB: a shard iterator expires after 15 minutes
# A position a reader stood at (asked for a shard iterator there, or read with one) holds the
# records after it back this long. Every reader of the local stack (devtools/streams.StreamPoller)
# asks for one from where it stands at each pass and reads on page by page, so this is far longer
# than a pass; a consumer started meanwhile from TRIM_HORIZON still replays what was just passed.
READER_SILENCE_SECONDS = 120.0


def _serialise(cls: type, names: tuple[str, ...]) -> None:
    for name in names:
        original = getattr(cls, name, None)
        if original is None or getattr(original, "_serialised", False):
            continue

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(*args, **kwargs)

        functools.update_wrapper(serialised, original)
        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(cls, name, serialised)


# --- transactions: an undo log of the items touched ------------------------------------------------


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


_Reason = tuple[str | None, str | None, dict[str, Any] | None]  # (code, message, item): moto's
_WRITTEN: _Reason = (None, None, None)


class _UndoLog:
    """What a transaction changed, to put back if one of its items fails: each item it wrote as it
    was before, and each stream's length before (the records of a transaction undone are dropped)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.streams = [
            (table.stream_shard, len(table.stream_shard.items))
            for table in backend.tables.values()
            if table.stream_shard is not None
        ]
        self.items: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def note(self, table_name: str, key: dict[str, Any], current: Any) -> None:
        self.items.append((table_name, key, current.to_json()["Attributes"] if current else None))

    def roll_back(self) -> None:
        for table_name, key, attributes in reversed(self.items):
            if attributes is None:
                self.backend.delete_item(table_name, key)
            else:
                self.backend.put_item(table_name, attributes)
        for shard, length in self.streams:
            del shard.items[length:]


def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    """DynamoDBBackend.transact_write_items with the same checks, outcomes and CancellationReasons
    as moto's, but undone through the items it touched instead of copies of whole tables."""
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        undo = _UndoLog(backend)
        targets: set[tuple[str, str]] = set()
        reasons: list[_Reason] = []
        try:
            for entry in transact_items:
                if len(entry) > 1:
                    raise TransactWriteSingleOpException
                reasons.append(_write_item(backend, entry, targets, undo))
        except (TransactWriteSingleOpException, MultipleTransactionsException, MockValidationException):
            undo.roll_back()  # the whole request is refused, not one item cancelled
            raise
        if any(code is not None for code, _, _ in reasons):
            undo.roll_back()
            raise TransactionCanceledException(reasons)


def _write_item(
    backend: Any, entry: dict[str, Any], targets: set[tuple[str, str]], undo: _UndoLog
) -> _Reason:
    """One item of a transaction, checked then written (noted in `undo` first): its cancellation
    reason, or _WRITTEN. A request moto refuses whole (an item named twice, an invalid
    expression) raises."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
    )

    original_item: dict[str, Any] | None = None
    try:
        op_type, op = _operation(entry)
        table_name = op["TableName"]
        key = _target(backend, op_type, op, targets)
        current = backend.get_item(table_name, key)
        if not _condition_holds(op, current):
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                original_item = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=original_item)
        if op_type != "ConditionCheck":
            undo.note(table_name, key, current)
            _apply(backend, op_type, op, key)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as exc:
        return ("ConditionalCheckFailed", str(exc.message), original_item)
    except Exception as exc:  # moto's: any other failure is that item's cancellation reason
        return (type(exc).__name__, str(exc), original_item)
    return _WRITTEN


def _operation(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    op_type, op = next(iter(entry.items()))
    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
        raise ValueError("Unsupported transaction operation")
    return op_type, op


def _target(backend: Any, op_type: str, op: dict[str, Any], targets: set[tuple[str, str]]) -> dict[str, Any]:
    """The item's key, which no other item of the transaction may name."""
    from moto.dynamodb.exceptions import MultipleTransactionsException

    key = _key_of(backend, op_type, op)
    target = (str(op["TableName"]), str(dict(sorted(key.items()))))
    if target in targets:
        raise MultipleTransactionsException()
    targets.add(target)
    return key


def _condition_holds(op: dict[str, Any], current: Any) -> bool:
    from moto.dynamodb.comparisons import get_filter_expression

    condition = op.get("ConditionExpression")
    if condition is None:
        return True
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    return bool(get_filter_expression(condition, names, values).expr(current))


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, key)
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames"),
            expression_attribute_values=op.get("ExpressionAttributeValues"),
        )


# --- ClientRequestToken ---------------------------------------------------------------------------


def _digest(items: Any) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


_TOKENS_MADE = threading.Lock()  # a backend's _RequestTokens is made once


class _RequestTokens:
    """The tokens of the transactions that succeeded, oldest first (so expiring them costs only
    those expired), and striped locks: a transaction and its retries (one token) run one after
    the other, while other transactions go on."""

    STRIPES = 64

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.known: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self.stripes = [threading.Lock() for _ in range(self.STRIPES)]

    def stripe(self, token: str) -> threading.Lock:
        return self.stripes[hash(token) % self.STRIPES]

    def digest_of(self, token: str) -> str | None:
        now = time.monotonic()
        with self.guard:
            while self.known and now - next(iter(self.known.values()))[0] > REQUEST_TOKEN_SECONDS:
                self.known.popitem(last=False)
            found = self.known.get(token)
        return found[1] if found else None

    def remember(self, token: str, digest: str) -> None:
        with self.guard:
            self.known[token] = (time.monotonic(), digest)


def _honouring_request_token(original: Any) -> Any:
    """DynamoHandler.transact_write_items (the API call, which sees the token) that answers a
    retried transaction as its first success, within REQUEST_TOKEN_SECONDS. Only the transaction
    itself holds the one lock (in DynamoDBBackend.transact_write_items): moto's checks of the
    request (its expressions parsed) and the answer do not, and a retry waits for its first
    attempt on the token's own stripe."""

    def handler(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        from moto.core.responses import ActionResult
        from moto.dynamodb.exceptions import DynamodbException

        backend = self.dynamodb_backend
        digest = _digest(self.body.get("TransactItems"))
        with _TOKENS_MADE:
            tokens = backend.__dict__.get("_request_tokens")
            if tokens is None:
                tokens = backend.__dict__["_request_tokens"] = _RequestTokens()
        with tokens.stripe(token):
            known = tokens.digest_of(token)
            if known is not None:
                if known != digest:
                    raise DynamodbException(
                        "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                        "The ClientRequestToken names another transaction.",
                    )
                return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
            answer = original(self)
            tokens.remember(token, digest)  # only a transaction that succeeded is remembered
            return answer

    return functools.update_wrapper(handler, original)


# --- queries read their partition -------------------------------------------------------------------


def _partition_query(original: Any) -> Any:
    """Table.query that looks only at the queried partition. moto builds its candidates from
    `all_items()`, every item of the table sorted, for each query (the head of an audit chain, the
    export's queue index), under the one lock above: a query's cost grew with the table, DynamoDB's
    does not. Here a base-table query's candidates are `items[hash]` (moto keeps
    `items[hash][range]` when the table has a range key), already in range-key order, and an
    index query's are the items whose index hash attributes match, unsorted (moto sorts them
    itself). moto's own matching, order, paging and filters then run unchanged on them."""

    # Table.query's own signature, kept: moto calls it with these arguments
    def query(  # noqa: PLR0913
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, Any]] | None = None,
        range_key_conditions: Any = None,
        **filter_kwargs: Any,
    ) -> Any:
        from moto.dynamodb.models.dynamo_type import Item

        if index_name is None:
            partition = self.items.get(hash_key) if hash_key is not None else None  # no defaultdict entry
            if partition is None:
                candidates: list[Any] = []
            elif self.range_key_attr is None:
                candidates = [partition]
            else:
                keys = _range_keys(self, hash_key, partition)
                if limit and exclusive_start_key is None and not filter_kwargs:
                    keys = _first_keys(keys, limit, scan_index_forward, range_comparison, range_objs)
                candidates = [partition[key] for key in keys]
        elif hash_key_conditions:
            wanted = list(hash_key_conditions)
            candidates = [
                item
                for item in _index_partition(self, index_name, wanted)
                if isinstance(item, Item)
                and all(_equal(item.attrs.get(name), value) for name, value in wanted)
            ]
        else:
            candidates = None  # type: ignore[assignment]
        if candidates is not None:
            self.__dict__["_query_candidates"] = candidates
        try:
            return original(
                self,
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection_expressions,
                index_name,
                consistent_read,
                filter_expression,
                hash_key_conditions=hash_key_conditions,
                range_key_conditions=range_key_conditions,
                **filter_kwargs,
            )
        finally:
            self.__dict__.pop("_query_candidates", None)

    return functools.update_wrapper(query, original)


def _index_partition(table: Any, index_name: str, wanted: list[tuple[str, Any]]) -> Iterator[Any]:
    """The items whose attribute `index_name`'s hash key names holds the queried value, through
    the members kept per attribute value (below); every item if the index is unknown here."""
    names = [
        key["AttributeName"]
        for index in (*table.global_indexes, *table.indexes)
        if index.name == index_name
        for key in index.schema
        if key["KeyType"] == "HASH"
    ]
    value = dict(wanted).get(names[0]) if names else None
    if value is None:
        yield from _unsorted_items(table)
        return
    for hash_key, range_key in _members(table, names[0]).get(value, {}):
        partition = table.items.get(hash_key)
        item = partition if table.range_key_attr is None else (partition or {}).get(range_key)
        if item is not None:
            yield item


def _members(table: Any, attribute: str) -> dict[Any, dict[tuple[Any, Any], None]]:
    """Per value of `attribute`, the keys of the items holding it, in the order they came: built
    by one walk over the table the first time an index on it is queried, then kept by
    _reindex as items are put, updated and deleted (as DynamoDB keeps an index)."""
    kept: dict[str, dict[Any, dict[tuple[Any, Any], None]]] = table.__dict__.setdefault("_members", {})
    members = kept.get(attribute)
    if members is None:
        members = kept[attribute] = {}
        table.__dict__.setdefault("_member_of", {})[attribute] = {}
        for item in _unsorted_items(table):
            _place(table, attribute, (item.hash_key, item.range_key), item)
    return members


def _place(table: Any, attribute: str, key: tuple[Any, Any], item: Any) -> None:
    """Move the item at `key` (None: gone) to the members of its value of `attribute`."""
    members = table.__dict__["_members"][attribute]
    member_of: dict[tuple[Any, Any], Any] = table.__dict__["_member_of"][attribute]
    old = member_of.pop(key, None)
    if old is not None:
        keys = members[old]
        del keys[key]
        if not keys:
            del members[old]
    value = item.attrs.get(attribute) if item is not None else None
    if value is not None and value.type in ("S", "N", "B"):  # a key's types (a list has no hash)
        members.setdefault(value, {})[key] = None
        member_of[key] = value


def _reindex(table: Any, key: tuple[Any, Any], item: Any) -> None:
    """Keep every attribute's members (_members) as the item at `key` changes (None: deleted)."""
    for attribute in table.__dict__.get("_members", {}):
        _place(table, attribute, key, item)


def _reindexing_updates(original: Any) -> Any:
    """DynamoDBBackend.update_item, which changes the item in place: its members follow."""

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = original(self, table_name, *args, **kwargs)
        _reindex(self.get_table(table_name), (item.hash_key, item.range_key), item)
        return item

    return functools.update_wrapper(update_item, original)


def _range_keys(table: Any, hash_key: Any, partition: dict[Any, Any]) -> list[Any]:
    """The partition's range keys in order, kept per partition as items come and go (below), so
    that reading an audit chain's head costs no sort of the chain."""
    kept: dict[Any, list[Any]] = table.__dict__.setdefault("_range_keys", {})
    keys = kept.get(hash_key)
    if keys is None or len(keys) != len(partition):
        keys = kept[hash_key] = sorted(partition, key=_cast)
    return keys


def _cast(key: Any) -> Any:
    return key.cast_value


def _first_keys(keys: list[Any], limit: int, forward: bool, comparison: Any, bounds: Any) -> list[Any]:
    """The keys moto's loop reads for a page of `limit` (in ascending order, as moto sorts them):
    up to the limit-th that meets the range condition, and one more (which tells moto to answer a
    LastEvaluatedKey)."""
    picked: list[Any] = []
    met = 0
    for key in keys if forward else reversed(keys):
        picked.append(key)
        if met == limit:
            break
        if comparison is None or key.compare(comparison, bounds):
            met += 1
    return picked if forward else picked[::-1]


def _keeping_range_keys_on_put(original: Any) -> Any:
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        keys = _kept_keys(self, item_attrs.get(self.hash_key_attr))
        if keys is None or self.range_key_attr not in item_attrs:
            stored = original(self, item_attrs, *args, **kwargs)
            _reindex(self, (stored.hash_key, stored.range_key), stored)
            return stored
        from moto.dynamodb.models.dynamo_type import DynamoType

        hash_value = DynamoType(item_attrs[self.hash_key_attr])
        range_value = DynamoType(item_attrs[self.range_key_attr])
        new = range_value not in self.items.get(hash_value, {})
        answer = original(self, item_attrs, *args, **kwargs)
        if new:
            bisect.insort(keys, range_value, key=_cast)
        _reindex(self, (answer.hash_key, answer.range_key), answer)
        return answer

    return functools.update_wrapper(put_item, original)


def _keeping_range_keys_on_delete(original: Any) -> Any:
    def delete_item(self: Any, hash_key: Any, range_key: Any, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, hash_key, range_key, *args, **kwargs)
        keys = self.__dict__.get("_range_keys", {}).get(hash_key) if self.range_key_attr else None
        if answer is not None and keys is not None:
            keys.remove(range_key)
        if answer is not None:
            _reindex(self, (answer.hash_key, answer.range_key), None)
        return answer

    return functools.update_wrapper(delete_item, original)


def _kept_keys(table: Any, hash_attribute: Any) -> list[Any] | None:
    if table.range_key_attr is None or hash_attribute is None or "_range_keys" not in table.__dict__:
        return None
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        return table.__dict__["_range_keys"].get(DynamoType(hash_attribute))  # type: ignore[no-any-return]
    except Exception:  # moto's put_item refuses what is not a key
        return None


def _equal(found: Any, expected: Any) -> bool:
    return bool(found) and bool(found == expected)  # moto's own test (an absent attribute is None)


def _unsorted_items(table: Any) -> Iterator[Any]:
    for partition in table.items.values():
        if table.range_key_attr is None:
            yield partition
        else:
            yield from partition.values()


def _all_items(original: Any) -> Any:
    """Table.all_items, or the candidates a query chose above while it runs (under the lock)."""

    def all_items(self: Any) -> Any:
        candidates = self.__dict__.get("_query_candidates")
        return list(candidates) if candidates is not None else original(self)

    return functools.update_wrapper(all_items, original)


# --- streams trimmed --------------------------------------------------------------------------------


def _offset(shard: Any) -> int:
    """How many of the shard's first records were trimmed (sequence numbers keep counting)."""
    return int(shard.__dict__.get("_trimmed", 0))


def _add(shard: Any, old: Any, new: Any) -> None:
    """StreamShard.add whose sequence numbers count the records trimmed. (moto's hand-off to its
    own Lambda event source mappings is left out: the local stack polls streams itself.)"""
    from moto.dynamodb.models.table import StreamRecord

    view = shard.table.stream_specification["StreamViewType"]
    event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    seq = shard.starting_sequence_number + _offset(shard) + len(shard.items)
    shard.items.append(StreamRecord(shard.table, view, event, old, new, seq))


def _get(shard: Any, start: int, quantity: int) -> list[dict[str, Any]]:
    """StreamShard.get from a sequence number; one before the trim horizon reads from it (a
    reader that far behind on DynamoDB would get TrimmedDataAccessException)."""
    index = max(0, start - shard.starting_sequence_number - _offset(shard))
    return [record.to_json() for record in shard.items[index : index + quantity]]


def _trim(shard: Any) -> None:
    """Drop the records older than STREAM_RETENTION and those every live claim has passed."""
    now = time.monotonic()
    claims = [(at, seq) for at, seq in shard.__dict__.get("_claims", []) if now - at < READER_SILENCE_SECONDS]
    shard.__dict__["_claims"] = claims
    base = shard.starting_sequence_number + _offset(shard)
    passed = max(0, min(seq for _, seq in claims) - base) if claims else 0
    oldest = datetime.now(UTC).replace(tzinfo=None) - STREAM_RETENTION
    expired = 0
    for record in shard.items:
        created = record.record["dynamodb"]["ApproximateCreationDateTime"]
        if created.replace(tzinfo=None) >= oldest:
            break
        expired += 1
    count = min(len(shard.items), max(passed, expired))
    if count:
        del shard.items[:count]
        shard.__dict__["_trimmed"] = _offset(shard) + count


def _claim(iterator: Any) -> None:
    """A reader stands where the iterator it asks for, or reads with, starts."""
    shard = iterator.stream_shard
    shard.__dict__.setdefault("_claims", []).append((time.monotonic(), int(iterator.sequence_number)))


def _iterator_init(original: Any) -> Any:
    def init(
        self: Any, streams_backend: Any, stream_shard: Any, kind: str, sequence_number: Any = None
    ) -> None:
        original(self, streams_backend, stream_shard, kind, sequence_number)
        if kind in ("TRIM_HORIZON", "LATEST"):
            self.sequence_number += _offset(stream_shard)
        self.created = time.monotonic()

    return functools.update_wrapper(init, original)


def _claiming_iterator(original: Any) -> Any:
    """get_shard_iterator: a reader's position is where the iterator it asks for starts."""

    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            iterator = original(self, *args, **kwargs)
            _claim(iterator)
            _trim(iterator.stream_shard)
            return iterator

    return functools.update_wrapper(get_shard_iterator, original)


def _reading_iterators(original: Any) -> Any:
    """get_records: the reader stands where the iterator it reads with starts (it completed what
    came before: a reader that failed a batch asks for a new iterator from before it). A reader
    that reads page after page without asking for a new iterator (the local trigger's pass, which
    goes on while records keep coming) so moves on and lets the stream be trimmed behind it.
    Then iterators older than DynamoDB's 15 minutes are forgotten (moto keeps every iterator it
    ever made, one per page read)."""

    def get_records(self: Any, iterator_arn: str, limit: int) -> Any:
        with _LOCK:
            iterator = self.shard_iterators.get(iterator_arn)
            answer = original(self, iterator_arn, limit)
            if iterator is not None:
                _claim(iterator)
                _trim(iterator.stream_shard)
            now = time.monotonic()
            stale = [
                arn
                for arn, it in self.shard_iterators.items()
                if now - it.__dict__.get("created", now) > ITERATOR_SECONDS
            ]
            for arn in stale:
                del self.shard_iterators[arn]
            return answer

    return functools.update_wrapper(get_records, original)


# --- S3 ListObjectVersions without copies -----------------------------------------------------------


class _Listed:
    """A stored object version as a listing answers it: the version itself, read-only, with its
    "latest" mark (moto marked a deep copy of every version of the bucket instead)."""

    __slots__ = ("_version", "is_latest")

    def __init__(self, version: Any, is_latest: bool) -> None:
        self._version = version
        self.is_latest = is_latest

    def __getattr__(self, name: str) -> Any:
        return getattr(self._version, name)


def _listing_without_copies(original: Any) -> Any:
    """S3Backend.list_object_versions with moto's walk, order, prefixes, markers and answers (moto
    5's loop, step for step: select the versions after the markers, page them, wrap those
    answered), over the stored versions instead of their copies."""

    # S3Backend.list_object_versions's own signature, kept: moto calls it with these arguments
    def list_object_versions(  # noqa: PLR0913
        self: Any,
        bucket_name: str,
        delimiter: str | None = None,
        key_marker: str | None = None,
        max_keys: int | None = 1000,
        prefix: str = "",
        version_id_marker: str | None = None,
    ) -> tuple[list[Any], list[str], list[Any], str | None, str | None]:
        bucket = self.get_bucket(bucket_name)
        selected = _after_markers(_versions_newest_first(bucket), key_marker, version_id_marker)
        page = _page(selected, prefix, delimiter, key_marker, max_keys)
        requested_versions, delete_markers = _wrapped(page.versions)
        return (
            requested_versions,
            sorted(page.common_prefixes),
            delete_markers,
            page.next_key_marker,
            page.next_version_id_marker,
        )

    return functools.update_wrapper(list_object_versions, original)


def _versions_newest_first(bucket: Any) -> Iterator[tuple[Any, bool]]:
    """Every stored version of the bucket by name, newest first, with its "latest" mark."""
    from moto.core.utils import unix_time_millis

    all_versions = [version for _, versions in bucket.keys.iterlists() for version in versions]
    all_versions.sort(key=lambda r: (r.name, -unix_time_millis(r.last_modified)))
    last_name = None
    for version in all_versions:
        yield version, version.name != last_name
        last_name = version.name


def _after_markers(
    versions: Iterator[tuple[Any, bool]], key_marker: str | None, version_id_marker: str | None
) -> Iterator[tuple[Any, bool]]:
    """The versions moto lists after its markers (the version that ends the skip is skipped too)."""
    skip_versions = True
    for version, is_latest in versions:
        if skip_versions:
            if key_marker is None:
                skip_versions = False
            elif not version_id_marker:
                skip_versions = version.name < key_marker
                continue
            elif version.name == key_marker and version.version_id == version_id_marker:
                skip_versions = False
                continue
            else:
                continue
        yield version, is_latest


@dataclass
class _VersionsPage:
    versions: list[tuple[Any, bool]] = field(default_factory=list)
    common_prefixes: set[str] = field(default_factory=set)
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None

    @property
    def size(self) -> int:
        return len(self.versions) + len(self.common_prefixes)


def _page(
    versions: Iterator[tuple[Any, bool]],
    prefix: str,
    delimiter: str | None,
    key_marker: str | None,
    max_keys: int | None,
) -> _VersionsPage:
    """The versions (and common prefixes) of one page, and the markers of the next."""
    page = _VersionsPage()
    last_item_added: Any = None
    for version, is_latest in versions:
        if not version.name.startswith(prefix):
            continue
        common_prefix = _common_prefix(version.name, prefix, delimiter)
        if common_prefix == key_marker and common_prefix is not None:
            continue
        if common_prefix is not None:
            page.common_prefixes.add(common_prefix)
        if max_keys is not None and page.size >= max_keys:
            page.next_key_marker = _next_key_marker(version, common_prefix, last_item_added)
            if common_prefix is None and last_item_added is not None:
                page.next_version_id_marker = last_item_added.version_id
            break
        if common_prefix is None:
            last_item_added = version
            page.versions.append((version, is_latest))
    return page


def _common_prefix(name: str, prefix: str, delimiter: str | None) -> str | None:
    """The common prefix `name` rolls up into (up to the delimiter after `prefix`), if any."""
    if not delimiter or delimiter not in name[len(prefix) :]:
        return None
    end_of_delimiter = len(prefix) + name[len(prefix) :].index(delimiter) + len(delimiter)
    return name[0:end_of_delimiter]


def _next_key_marker(version: Any, common_prefix: str | None, last_item_added: Any) -> str:
    """moto's NextKeyMarker: the common prefix met, else the last version listed's key (else the
    version met's)."""
    if common_prefix is not None:
        return common_prefix
    return str(last_item_added.name) if last_item_added else str(version.name)


def _wrapped(versions: list[tuple[Any, bool]]) -> tuple[list[Any], list[Any]]:
    """The page's object versions and delete markers, each wrapped with its "latest" mark."""
    from moto.s3.models import FakeKey

    requested_versions: list[Any] = []
    delete_markers: list[Any] = []
    for version, is_latest in versions:
        listed = _Listed(version, is_latest)
        (requested_versions if isinstance(version, FakeKey) else delete_markers).append(listed)
    return requested_versions, delete_markers


# --- opt-in profile: where the lock's time goes ------------------------------------------------------

PROFILE_ENV = (
    "DEPISTAGE_MOTO_PROFILE"  # a file: one JSON line per interval (not AWS_/MOTO_: the stack drops those)
)
PROFILE_SECONDS_ENV = "DEPISTAGE_MOTO_PROFILE_SECONDS"  # the interval, 30 s unless set


class _Profile:
    """Per operation (DynamoDB's X-Amz-Target with its table and index, S3's action, another
    service's action): how many, the time waiting for the lock and holding it, and the request's
    wall and CPU time; written out as one JSON line per interval, with each table's item count and
    stream length then, so that early and late intervals of a soak compare."""

    def __init__(self, path: str, seconds: float) -> None:
        self.path = path
        self.seconds = seconds
        self.guard = threading.Lock()
        self.local = threading.local()
        self.stats: dict[str, dict[str, float]] = {}
        self.started = time.monotonic()

    def label(self) -> str:
        return str(getattr(self.local, "label", "-"))

    def add(self, label: str, **amounts: float) -> None:
        with self.guard:
            entry = self.stats.setdefault(label, {})
            for name, amount in amounts.items():
                entry[name] = entry.get(name, 0.0) + amount
                if name in ("hold", "wall"):
                    entry[name + "_max"] = max(entry.get(name + "_max", 0.0), amount)

    def take(self) -> dict[str, dict[str, float]]:
        with self.guard:
            stats, self.stats = self.stats, {}
        return stats

    def dump_forever(self) -> None:
        while True:
            time.sleep(self.seconds)
            with contextlib.suppress(Exception):  # a profile never stops the server
                self.dump()

    def dump(self) -> None:
        stats = self.take()
        try:
            tables = _table_sizes()
        except Exception as exc:  # a table changed size meanwhile: the operations still count
            tables = {f"error: {type(exc).__name__}": []}
        line = {"t": round(time.monotonic() - self.started, 1), "tables": tables, "ops": stats}
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")


def _table_sizes() -> dict[str, list[int]]:
    """Each table's item count and stream length (read without the lock: a rough figure)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    sizes: dict[str, list[int]] = {}
    for region, backend in dynamodb_backends[DEFAULT_ACCOUNT_ID].items():
        for name, table in list(backend.tables.items()):
            shard = table.stream_shard
            count = sum(len(p) if table.range_key_attr else 1 for p in list(table.items.values()))
            sizes[f"{region}/{name}"] = [count, len(shard.items) if shard is not None else 0]
    return sizes


class _TimedLock:
    """The one lock, timed: the outermost acquisition of each thread notes its wait and its hold
    against the operation the thread serves."""

    def __init__(self, profile: _Profile) -> None:
        self.profile = profile
        self.lock = threading.RLock()
        self.local = threading.local()

    def __enter__(self) -> _TimedLock:
        depth = getattr(self.local, "depth", 0)
        asked = time.perf_counter()
        self.lock.acquire()
        if depth == 0:
            self.local.since = time.perf_counter()
            self.local.wait = self.local.since - asked
        self.local.depth = depth + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.local.depth -= 1
        outermost = self.local.depth == 0
        held = time.perf_counter() - self.local.since if outermost else 0.0
        self.lock.release()
        if outermost:
            self.profile.add(self.profile.label(), locked=1, wait=self.local.wait, hold=held)


def _labelled_action(original: Any, profile: _Profile) -> Any:
    """BaseResponse.call_action that names the operation the thread serves."""

    def call_action(self: Any) -> Any:
        label = f"{self.service_name}:{self._get_action()}"
        body = getattr(self, "body", None)
        if isinstance(body, dict):
            for name in ("TableName", "IndexName"):
                if body.get(name):
                    label += f":{str(body[name]).rsplit('/', 1)[-1]}"
            items = body.get("TransactItems")
            if isinstance(items, list):  # its tables, and its size (1, 2-9, 10-99 or 100 items)
                tables = sorted({str(op.get("TableName")) for e in items for op in e.values()})
                size = len(items) if len(items) < 2 else 10 ** (len(str(len(items))) - 1)
                label += f":{','.join(tables)}:{size}+"
        profile.local.label = label
        return original(self)

    return functools.update_wrapper(call_action, original)


def _labelled_s3_action(original: Any, profile: _Profile) -> Any:
    def set_action(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        profile.local.label = f"s3:{self.data.get('Action')}"

    return functools.update_wrapper(set_action, original)


def _timed_requests(original: Any, profile: _Profile) -> Any:
    """DomainDispatcherApplication.__call__ that notes each request's wall and CPU time."""

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        profile.local.label = "-"
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(self, environ, start_response)
        finally:
            profile.add(
                profile.label(),
                requests=1,
                wall=time.perf_counter() - wall,
                cpu=time.thread_time() - cpu,
            )

    return functools.update_wrapper(call, original)


def install_profile(path: str, seconds: float = 30.0) -> _Profile:
    """Time the lock and every request of this process (see _Profile), written to `path`."""
    from moto.core.responses import BaseResponse
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.s3.responses import S3Response

    global _LOCK
    profile = _Profile(path, seconds)
    _LOCK = _TimedLock(profile)  # type: ignore[assignment]
    setattr(BaseResponse, "call_action", _labelled_action(BaseResponse.call_action, profile))  # noqa: B010
    setattr(S3Response, "_set_action", _labelled_s3_action(S3Response._set_action, profile))  # noqa: B010
    dispatch = _timed_requests(DomainDispatcherApplication.__call__, profile)
    setattr(DomainDispatcherApplication, "__call__", dispatch)  # noqa: B010
    threading.Thread(target=profile.dump_forever, name="moto-profile", daemon=True).start()
    return profile


@contextlib.contextmanager
def undo_log_transactions() -> Iterator[None]:
    """Only the undo-log transactions, for a while, whether or not install() ran: the bench runs
    them, and compares them once with moto's own whole-table copies (bench/export_throughput.py)."""
    from moto.dynamodb.models import DynamoDBBackend

    saved = DynamoDBBackend.transact_write_items
    setattr(DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010 (mypy: a method)
    try:
        yield
    finally:
        setattr(DynamoDBBackend, "transact_write_items", saved)  # noqa: B010


def install() -> None:
    """Make this process's moto DynamoDB, DynamoDB Streams and S3 listings behave as above
    (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
    from moto.s3.models import S3Backend

    if getattr(DynamoDBBackend, "_made_atomic", False):
        return
    setattr(DynamoDBBackend, "_made_atomic", True)  # noqa: B010
    setattr(DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010 (mypy: a method)
    tokens = _honouring_request_token(DynamoHandler.transact_write_items)
    setattr(DynamoHandler, "transact_write_items", tokens)  # noqa: B010 (mypy: a method)
    setattr(Table, "query", _partition_query(Table.query))  # noqa: B010
    setattr(Table, "all_items", _all_items(Table.all_items))  # noqa: B010
    setattr(Table, "put_item", _keeping_range_keys_on_put(Table.put_item))  # noqa: B010
    setattr(Table, "delete_item", _keeping_range_keys_on_delete(Table.delete_item))  # noqa: B010
    setattr(DynamoDBBackend, "update_item", _reindexing_updates(DynamoDBBackend.update_item))  # noqa: B010
    setattr(StreamShard, "add", _add)  # noqa: B010
    setattr(StreamShard, "get", _get)  # noqa: B010
    setattr(ShardIterator, "__init__", _iterator_init(ShardIterator.__init__))  # noqa: B010
    streams = DynamoDBStreamsBackend
    setattr(streams, "get_shard_iterator", _claiming_iterator(streams.get_shard_iterator))  # noqa: B010
    setattr(streams, "get_records", _reading_iterators(streams.get_records))  # noqa: B010
    _serialise(DynamoDBBackend, _OPERATIONS)
    _serialise(DynamoDBStreamsBackend, _STREAM_OPERATIONS)
    listing = _listing_without_copies(S3Backend.list_object_versions)
    setattr(S3Backend, "list_object_versions", listing)  # noqa: B010 (mypy: a method)


def main() -> None:
    install()
    profile_path = os.environ.get(PROFILE_ENV)
    if profile_path:
        install_profile(profile_path, float(os.environ.get(PROFILE_SECONDS_ENV) or 30.0))
    from moto.server import main as moto_server

    moto_server(sys.argv[1:])


if __name__ == "__main__":
    main()
