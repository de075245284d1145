"""Several conditional writes as one DynamoDB transaction (TransactWriteItems), each failed
condition named as its own change's error: how a change and its audit event become one write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.errors import CANCELLED_BY_CONDITION, CANCELLED_BY_CONFLICT
from chalicelib.ports import Change

# PynamoDB's TransactWrite sends its items in this order, whatever the order they were added in.
_TRANSACTION_ORDER = ("condition_check", "delete", "save", "update")


class _Tracked:
    """A TransactWrite that remembers which change added each item, to name the one that failed."""

    def __init__(self) -> None:
        self.raw: Any = None
        self.owner: int | None = None
        self._added: list[tuple[str, int | None, int]] = []  # kind, change (None: the link), position

    def _add(self, kind: str) -> None:
        position = sum(1 for _, owner, _ in self._added if owner == self.owner)
        self._added.append((kind, self.owner, position))

    def save(self, model: Any, condition: Any = None) -> None:
        self._add("save")
        self.raw.save(model, condition=condition)

    def update(self, model: Any, actions: Any, condition: Any = None) -> None:
        self._add("update")
        self.raw.update(model, actions=actions, condition=condition)

    def delete(self, model: Any, condition: Any = None) -> None:
        self._add("delete")
        self.raw.delete(model, condition=condition)

    def condition_check(
        self, model_cls: Any, hash_key: Any, range_key: Any = None, condition: Any = None
    ) -> None:
        self._add("condition_check")
        self.raw.condition_check(model_cls, hash_key, range_key=range_key, condition=condition)

    def owners(self) -> list[tuple[int | None, int]]:
        """The change and position within it of each item, in the order DynamoDB got them."""
        return [
            (owner, at) for kind in _TRANSACTION_ORDER for added, owner, at in self._added if added == kind
        ]


def write_together(
    connection: Connection,
    changes: Sequence[Change],
    *,
    then: Callable[[Any], None] | None = None,
    token: str | None = None,
    committed: Callable[[], bool] | None = None,
) -> bool:
    """Commit `changes`, and what `then` adds (the journal's link), in one transaction. True if it
    committed; a change's own error if one of its conditions failed (nothing was written);
    False if only an item of `then` failed its condition, or if another transaction was writing one
    of its items (DynamoDB's TransactionConflict, documented as retryable: the export's lease of
    the record, another request's link). The journal then reads its head again and retries, and
    every change carries its own conditions (the version read, nothing sent): if the other
    transaction changed what a change was decided on, the retry fails that condition and the use
    case reads the item again and decides again; nothing is applied twice or on a stale premise.

    An answer can be lost after the transaction committed (a read timeout): `token` goes as its
    ClientRequestToken, which botocore's retries resend and DynamoDB honours for 10 minutes (the
    retry succeeds, nothing is applied twice). Past that, a retry finds its own items and fails
    their conditions; `committed` (asked only after a failure) tells whether this very transaction
    is stored, and if it is, the write succeeded: never a conflict with itself."""
    try:
        if _write(connection, changes, then, token):
            return True
    except Exception:
        if committed is not None and committed():
            return True
        raise
    return committed is not None and committed()


def _write(
    connection: Connection, changes: Sequence[Change], then: Callable[[Any], None] | None, token: str | None
) -> bool:
    transaction = _Tracked()
    try:
        with TransactWrite(connection=connection, client_request_token=token) as raw:
            transaction.raw = raw
            for index, change in enumerate(changes):
                transaction.owner = index
                change.write(transaction)
            transaction.owner = None
            if then is not None:
                then(transaction)
    except TransactWriteError as exc:
        codes = [reason.code if reason else None for reason in list(exc.cancellation_reasons or [])]
        failed: dict[int, list[int]] = {}
        for (owner, at), code in zip(transaction.owners(), codes, strict=False):
            if code == CANCELLED_BY_CONDITION and owner is not None:
                failed.setdefault(owner, []).append(at)
        for owner, positions in failed.items():
            raise changes[owner].conflict(positions) from exc
        if any(code in (CANCELLED_BY_CONDITION, CANCELLED_BY_CONFLICT) for code in codes):
            return False
        raise
    return True
