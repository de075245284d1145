"""A spreadsheet's rows created as a batch (POST /v1/test-sheets, and each chunk of an upload).

A row is a batch item (services/batches.py): the same draft, record, claim and journal event, the
same round trips (the membership read, the claims' read and a transaction per 49 rows). Its key:

- its `key` column, when it holds one (a pharmacy's software that keeps its own ids);
- else derived from the test it records: the pharmacy's keyed digest (BlindIndex.fingerprint: no
  one without the pharmacy's key can tell a NIR from it) of the patient's NIR and the sampling
  time. The same file sent again, in one request or as an upload, and an upload's redelivered
  notification or resumed run, create nothing twice (its rows answer their first records); a row
  corrected after it was created (another result) is a conflict, not a second record of the same
  test: a result is corrected with PUT /v1/tests/{id}/result. Not from the row's number or the
  import's id: the same file uploaded twice would then create every test twice.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from chalicelib.domain.commands import BatchItem, CreateBatch
from chalicelib.domain.imports import ImportSheet, RowOutcome, SheetResult, SheetRow
from chalicelib.domain.outcomes import BatchOutcome
from chalicelib.services.batches import create_batch
from chalicelib.services.call import Call
from chalicelib.services.records import RecordsDeps

KEY_COLUMN = "key"  # the column a conflict names (payloads/csv_rows.KEY_COLUMN)
RowKey = Callable[[SheetRow], str]


def as_uuid(digest_text: str) -> str:
    """A stable UUID-shaped key of any text (a digest: nothing to read back from it)."""
    return str(uuid.UUID(bytes=hashlib.sha256(digest_text.encode()).digest()[:16]))


def key_of_test(deps: RecordsDeps, finess: str) -> RowKey:
    """A row's key from the test it records: the patient and the sampling time, keyed per pharmacy."""

    def key(row: SheetRow) -> str:
        assert row.submission is not None
        test = row.submission.test
        identity = f"sheet-row\0{row.submission.patient.nir}\0{test.sampled_at.timestamp()}"
        return as_uuid(deps.index.fingerprint(identity.encode(), finess=finess))

    return key


def _item(index: int, row: SheetRow, key: RowKey) -> BatchItem:
    if row.submission is None:
        return BatchItem(index, row.key, None, row.errors)
    return BatchItem(index, row.key or key(row), row.submission, (), row.body)


def _outcome(row: SheetRow, outcome: BatchOutcome) -> RowOutcome:
    # A batch names its items' fields by JSON pointers (a conflict: /items/3/key); a row by column.
    errors = tuple(
        replace(error, field=KEY_COLUMN) if error.field.startswith("/items/") else error
        for error in outcome.errors
    )
    return RowOutcome(row.number, outcome.key, outcome.outcome, outcome.id, outcome.location, errors)


def create_rows(deps: RecordsDeps, call: Call, rows: Sequence[SheetRow], key: RowKey) -> list[RowOutcome]:
    """Each row created as a batch item (at most a batch's items at once); their outcomes in order."""
    items = tuple(_item(index, row, key) for index, row in enumerate(rows))
    result = create_batch(deps, call, CreateBatch(items))
    return [_outcome(row, outcome) for row, outcome in zip(rows, result.items, strict=True)]


def import_sheet(deps: RecordsDeps, call: Call, command: ImportSheet) -> SheetResult:
    """POST /v1/test-sheets: every row's outcome, in the file's order."""
    finess = call.caller.finess or ""  # none: create_batch refuses the caller, journaled
    return SheetResult(tuple(create_rows(deps, call, command.rows, key_of_test(deps, finess))))
