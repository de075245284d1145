"""A spreadsheet of test records: its rows as commands, their outcomes, an upload's state.

A row is a batch item (domain/commands.BatchItem) that knows its spreadsheet row number; its
errors name columns (the headers of payloads/csv_rows.py), never a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.errors import FieldError
from chalicelib.domain.model import Submission
from chalicelib.domain.outcomes import ItemOutcome


@dataclass(frozen=True)
class SheetRow:
    """Row `number` of a spreadsheet (the header is row 1): a valid one has its `submission` and
    `body` (what a replay must repeat), an invalid one its `errors` (by column). `key` is the row's
    idempotency key when its `key` column holds one."""

    number: int
    key: str | None
    submission: Submission | None
    errors: tuple[FieldError, ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class ImportSheet:
    """POST /v1/test-sheets: a spreadsheet's rows in the file's order."""

    rows: tuple[SheetRow, ...]


@dataclass(frozen=True)
class RowOutcome:
    """One row's outcome: a created row names its record, the others their errors (by column)."""

    row: int
    key: str | None
    outcome: ItemOutcome
    id: str | None = None
    location: str | None = None
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class SheetResult:
    rows: tuple[RowOutcome, ...]


class ImportState(StrEnum):
    WAITING = "waiting"  # the upload URL is issued; no file yet
    PROCESSING = "processing"
    DONE = "done"
    REJECTED = "rejected"  # the file as a whole cannot be read (its errors say why)


@dataclass(frozen=True)
class ImportStatus:
    """An upload's state, as the pharmacy reads it: counts and states only, never a value."""

    id: str
    finess: str
    state: ImportState
    created_at: str
    rows_done: int = 0
    created: int = 0
    invalid: int = 0
    conflicts: int = 0
    errors: tuple[FieldError, ...] = ()  # the file's own (a rejected one)
    uploaded_by: str = ""
    role: str = ""


@dataclass(frozen=True)
class UploadTicket:
    """POST /v1/imports: where to PUT the file, how, until when, and where to watch it."""

    id: str
    upload_url: str
    method: str
    content_type: str
    max_bytes: int
    expires_in: int
    status: str
