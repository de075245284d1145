"""moto's DynamoDB, made isolated like DynamoDB itself: one lock around every table operation.

    python -m devtools.moto_atomic -H 127.0.0.1 -p 5000     # moto server, as `python -m moto.server`

DynamoDB runs a TransactWriteItems in isolation from every other write. moto runs it by deep-copying
each table it names, applying the items, and, if one fails, putting the copies back: a write that
another request (a thread of moto server, or of a test) committed meanwhile is then lost, which
shows as a hole in an audit chain; and a stream reader still on the old table's stream reads
the records of the writes undone. moto's single-item writes are not atomic either (a condition is
checked, then the item written). Serialising moto's DynamoDB backend models the service that the
code is written against; it changes nothing else. The local stack (`make run`) starts moto through
this module, and the tests install it in process (tests/conftest.py).
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

# Every operation that reads or writes table contents (a read during a failed transaction would
# see items that are then rolled back).
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


def _keeping_streams(original: Any) -> Any:
    """moto's transaction, after which each table keeps its stream: moto undoes a failed one by
    putting back a copy of each table it named, stream included, while a reader's iterator still
    points at the old stream, where the undone writes' records are (a phantom event)."""

    def transact_write_items(backend: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            streams = {
                name: (table, table.stream_shard, len(table.stream_shard.items))
                for name, table in backend.tables.items()
                if table.stream_shard is not None
            }
            try:
                return original(backend, *args, **kwargs)
            finally:
                for name, (table, shard, length) in streams.items():
                    restored = backend.tables.get(name)
                    if restored is not None and restored is not table:
                        del shard.items[length:]  # the records of the writes undone
                        shard.table = restored
                        restored.stream_shard = shard

    return functools.update_wrapper(transact_write_items, original)


def install() -> None:
    """Serialise moto's DynamoDB and DynamoDB Streams operations in this process (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    if not getattr(DynamoDBBackend.transact_write_items, "_serialised", False):
        wrapped = _keeping_streams(DynamoDBBackend.transact_write_items)
        setattr(DynamoDBBackend, "transact_write_items", wrapped)  # noqa: B010 (mypy: a method)
    _serialise(DynamoDBBackend, _OPERATIONS)
    _serialise(DynamoDBStreamsBackend, _STREAM_OPERATIONS)


def main() -> None:
    install()
    from moto.server import main as moto_server

    moto_server(sys.argv[1:])


if __name__ == "__main__":
    main()
