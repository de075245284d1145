"""A batch of test records in one request (POST /v1/test-batches): a campaign's tablet synchronising.

Each item is a create as `POST /v1/tests` makes it (services/records.py: the same draft, the same
record, the same idempotency claim), so a batch item's key and a single create's key are one
namespace, and a replay of an item, alone or in a batch, answers what the first one did.

Round trips. A create is its record, its claim and its journal event, one transaction. DynamoDB
takes at most 100 items in a transaction, and a journal link is one per append (its chain's next
seq), so the items are written in chunks of CHUNK: each chunk's records and claims with ONE event
naming its record ids, 2 x 49 + 1 = 99 items. 100 new records cost 5 round trips
(below) against 200 one by one. Each item is still atomic with its event (they are one
transaction); the batch as a whole is not: a chunk that committed stays when a later one fails,
and the client's replay finds it.

A replay (the tablet never got the answer) reads its items' claims first, in one BatchGetItem: a
claimed key with the same body answers its first record (one journal event names them all), with
another body a conflict; only the unclaimed are written. A claim taken between that read and the
chunk's transaction (another device replaying at the same moment) fails the chunk as a whole: its
items are then created one by one as a single create does (records.create_drafted), whose claim
condition decides the race, so nothing is created twice. 100 new records: the membership read,
the claims' read and 3 transactions; a full replay: the membership read, the claims' read and
one journal event.

A key twice in one batch (a transaction cannot write one claim twice): the repeat with its first's
body answers its first's outcome; with another body it goes the single create's way once its
first is written, and the claim decides (a conflict, or the record whose body it repeats).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.commands import BatchItem, CreateBatch, CreateRecord
from chalicelib.domain.errors import KEY_REUSED, Conflict
from chalicelib.domain.model import ScreeningRecord
from chalicelib.domain.outcomes import BatchOutcome, BatchResult, ItemOutcome
from chalicelib.ports import Change, KeyTaken
from chalicelib.services.access import pharmacy_of
from chalicelib.services.call import Call
from chalicelib.services.records import Draft, RecordsDeps, create_drafted, draft, drafted_changes

# Records per transaction: each brings its record and its claim, the chunk one journal event.
CHUNK = 49


@dataclass(frozen=True)
class _Pending:
    item: BatchItem
    drafted: Draft


def _created(item: BatchItem, record_id: str) -> BatchOutcome:
    return BatchOutcome(
        item.index, item.key, ItemOutcome.CREATED, id=record_id, location=f"/v1/tests/{record_id}"
    )


def _conflict(item: BatchItem) -> BatchOutcome:
    error = KEY_REUSED.at(f"/items/{item.index}/key")
    return BatchOutcome(item.index, item.key, ItemOutcome.CONFLICT, errors=(error,))


def _create(item: BatchItem) -> CreateRecord:
    assert item.submission is not None
    return CreateRecord(item.submission, item.key, item.body)


def _again(item: BatchItem, first: BatchOutcome) -> BatchOutcome:
    """A repeat of an item earlier in the batch, with the same key and body: its outcome."""
    if first.outcome is ItemOutcome.CREATED:
        return _created(item, first.id or "")
    return _conflict(item)


def create_batch(deps: RecordsDeps, call: Call, command: CreateBatch) -> BatchResult:
    """Create a batch's valid items; every item's outcome, in order."""
    finess = pharmacy_of(deps.journal, call, "create")
    outcomes: dict[int, BatchOutcome] = {}
    first_of_key: dict[str, BatchItem] = {}
    repeats: list[BatchItem] = []
    pending: list[_Pending] = []
    for item in command.items:
        if item.submission is None or item.key is None:
            outcomes[item.index] = BatchOutcome(item.index, item.key, ItemOutcome.INVALID, errors=item.errors)
        elif item.key in first_of_key:
            repeats.append(item)  # a transaction cannot write one claim twice: answered after the first
        else:
            first_of_key[item.key] = item
            pending.append(_Pending(item, draft(deps, finess, _create(item))))
    fresh = _replays(deps, call, finess, pending, outcomes)
    for start in range(0, len(fresh), CHUNK):
        outcomes.update(_write_chunk(deps, call, fresh[start : start + CHUNK]))
    for item in repeats:
        first = first_of_key[item.key or ""]
        outcomes[item.index] = (
            _again(item, outcomes[first.index])
            if item.body == first.body
            # another body than its first in this batch: the claim decides, as for a single create
            else _one_by_one(deps, call, _Pending(item, draft(deps, finess, _create(item))))
        )
    return BatchResult(tuple(outcomes[index] for index in range(len(command.items))))


def _replays(
    deps: RecordsDeps, call: Call, finess: str, pending: list[_Pending], outcomes: dict[int, BatchOutcome]
) -> list[_Pending]:
    """Answers the items whose key is claimed already (a replay: its first record; another body: a
    conflict) in one read of the claims and one journal event; the others, still to write."""
    claimed = deps.idempotency.entries_of(finess, [p.drafted.key or "" for p in pending])
    fresh: list[_Pending] = []
    replayed: list[str] = []
    for each in pending:
        entry = claimed.get(each.drafted.key or "")
        if entry is None:
            fresh.append(each)
        elif entry.body_mac != each.drafted.body_mac:
            outcomes[each.item.index] = _conflict(each.item)
        else:
            outcomes[each.item.index] = _created(each.item, entry.record_id)
            replayed.append(entry.record_id)
    if replayed:
        call.audit(deps.journal).record("create", record_ids=replayed, reason="replay")
    return fresh


def _write_chunk(deps: RecordsDeps, call: Call, chunk: list[_Pending]) -> dict[int, BatchOutcome]:
    """One transaction for the chunk; if one of its keys is taken, its items one by one."""
    records: list[tuple[BatchItem, ScreeningRecord]] = []
    changes: list[Change] = []
    for pending in chunk:
        record, writes = drafted_changes(deps, call, pending.drafted, deps.new_id(), claim=True)
        records.append((pending.item, record))
        changes += writes
    try:
        call.audit(deps.journal).record("create", record_ids=[r.id for _, r in records], changes=changes)
    except KeyTaken:
        return {pending.item.index: _one_by_one(deps, call, pending) for pending in chunk}
    return {item.index: _created(item, record.id) for item, record in records}


def _one_by_one(deps: RecordsDeps, call: Call, pending: _Pending) -> BatchOutcome:
    try:
        record, _created_now = create_drafted(deps, call, pending.drafted)
    except Conflict:
        return _conflict(pending.item)
    return _created(pending.item, record.id)
