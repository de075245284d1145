"""Spreadsheets beyond one request (up to `import_max_rows` rows): an upload, processed by a function.

1. `start_import` (POST /v1/imports): the import's id, its state "waiting" (naming who uploads it),
   and a presigned PUT of the file (its content type bound, valid `import_url_seconds`).
2. The file's arrival notifies the processing function (S3 ObjectCreated to an SQS queue in AWS;
   the local stack's worker reads the same queue): `process_upload` checks the file (its size, its
   encoding and header, its row count: a first streaming read, nothing created), then creates its
   rows in chunks of 100 through the batch service (services/sheets.py: the same round trips as
   POST /v1/test-batches), writing each row's errors to the report as it goes. Memory stays flat:
   the file is read piece by piece, one chunk of rows at a time, the report spools to a file.
3. `read_status` and `read_report` (GET /v1/imports/{id}, .../report): counts and, per row, its
   column and the rule's message, never a value.

Resumable and idempotent. A row's key is its `key` column, else derived from the test it records
as for a sheet sent in one request (services/sheets.py: the pharmacy's keyed digest of the NIR and
the sampling time), never from where the row sits: a redelivered notification, a run that a Lambda
timeout cut, and the same file uploaded again (or sent to POST /v1/test-sheets) all create nothing
twice: rows already created answer their records from their claims (one read per 100 rows). The
file is checked against the tag it began with: a second PUT through the same URL (a reused URL) is
refused, journaled, and never imported.

Scoped per pharmacy: every object of an import is under its pharmacy's FINESS, so another
pharmacy's id names nothing (a 404, journaled). The processing acts as the member who asked for
the upload, as their membership stands when it runs (one read): each chunk's records are journaled
by them, as in a batch; a member removed, moved or no longer of a recording role since the upload
creates nothing (the import is rejected, journaled), as their request would be refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import islice
from typing import IO
from urllib.parse import unquote_plus

from chalicelib.domain.errors import (
    UPLOAD_REPLACED,
    UPLOAD_TOO_LARGE,
    UPLOADER_REVOKED,
    FieldError,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.imports import ImportState, ImportStatus, RowOutcome, SheetRow, UploadTicket
from chalicelib.domain.model import RECORD_ROLES, Principal, Role
from chalicelib.domain.outcomes import ItemOutcome
from chalicelib.domain.serialization import iso_utc
from chalicelib.payloads.csv_rows import Undecodable, count_rows, read_rows, text_lines, undecodable_file
from chalicelib.payloads.fields import Context
from chalicelib.ports import MembershipRepository, RequestMeta
from chalicelib.ports.imports import FileReplaced, ImportFiles
from chalicelib.services.access import pharmacy_of
from chalicelib.services.call import Call
from chalicelib.services.records import RecordsDeps, pharmacy_zone
from chalicelib.services.sheets import create_rows, key_of_test

CONTENT_TYPE = "text/csv"
ROWS_PER_CHUNK = 100  # one batch: its claims' read and two or three transactions
CHUNKS_PER_PROGRESS = 10  # the state's rows_done is saved every 1,000 rows
REPORT_IN_MEMORY = 64 * 1024  # the report spools to a file beyond this (memory flat)
ENCODINGS = ("utf-8", "cp1252")  # a file that is valid UTF-8 (BOM or not) is UTF-8
_IMPORT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REPORT_HEADER = ("row", "column", "code", "message")


@dataclass(frozen=True)
class ImportsDeps:
    records: RecordsDeps
    files: ImportFiles
    memberships: MembershipRepository  # the uploader's membership, read again when the file is processed
    max_bytes: int
    max_rows: int
    url_seconds: int


def start_import(deps: ImportsDeps, call: Call) -> UploadTicket:
    """POST /v1/imports: journaled before the URL leaves (no journal, no URL)."""
    finess = pharmacy_of(deps.records.journal, call, "import_start")
    import_id = deps.records.new_id()
    status = ImportStatus(
        import_id,
        finess,
        ImportState.WAITING,
        iso_utc(deps.records.clock.now()),
        uploaded_by=call.caller.username,
        role=call.caller.role.value,
    )
    call.audit(deps.records.journal).record("import_start", reason=f"import {import_id}")
    deps.files.save_status(status)
    url = deps.files.upload_url(finess, import_id, CONTENT_TYPE, deps.url_seconds)
    return UploadTicket(
        import_id, url, "PUT", CONTENT_TYPE, deps.max_bytes, deps.url_seconds, f"/v1/imports/{import_id}"
    )


def admit(deps: ImportsDeps, call: Call, action: str) -> None:
    """The role check of the import routes (journaled when it refuses)."""
    pharmacy_of(deps.records.journal, call, action)


# --- reading an import ------------------------------------------------------------------------------------


def _found(deps: ImportsDeps, call: Call, import_id: str, action: str) -> tuple[str, ImportStatus]:
    """The caller's pharmacy and its import `import_id`, the read journaled; else NotFound, journaled."""
    finess = pharmacy_of(deps.records.journal, call, action)
    found = deps.files.status(finess, import_id) if _IMPORT_ID.fullmatch(import_id) else None
    if found is None:
        call.audit(deps.records.journal).deny(action, "unknown import")
        raise NotFound("No such import.")
    call.audit(deps.records.journal).record(action, reason=f"import {import_id}")
    return finess, found[0]


def read_status(deps: ImportsDeps, call: Call, import_id: str) -> ImportStatus:
    return _found(deps, call, import_id, "import_status")[1]


def read_report(deps: ImportsDeps, call: Call, import_id: str) -> bytes:
    """The per-row report (text/csv): row, column, code, message; a header alone if no row failed.
    Read under the caller's pharmacy and the id they named, never a name the stored state holds."""
    finess, status = _found(deps, call, import_id, "import_report")
    report = deps.files.report(finess, import_id) if status.state is ImportState.DONE else None
    if report is None:
        raise NotFound("The import has no report yet.")
    return report


# --- processing an upload ---------------------------------------------------------------------------------


def _caller(status: ImportStatus) -> Call:
    """The member who asked for the upload, with the role the status recorded: the processing's
    events name them (its refusals included); its records are created by `_member` only."""
    member = Principal(status.uploaded_by, Role(status.role), status.finess)
    return Call(member, RequestMeta(request_id=f"import-{status.id}", user_agent="import"))


def _member(deps: ImportsDeps, status: ImportStatus) -> Call | None:
    """The uploader as their membership stands now, or None if it no longer records this pharmacy's
    tests (removed, moved to another pharmacy, another role): the recorded role is not a grant."""
    membership = deps.memberships.get(status.uploaded_by)
    if membership is None or membership.finess != status.finess or membership.role not in RECORD_ROLES:
        return None
    member = Principal(status.uploaded_by, membership.role, status.finess)
    return Call(member, RequestMeta(request_id=f"import-{status.id}", user_agent="import"))


def _safe(text: str) -> str:
    """A report cell a spreadsheet will not run as a formula (the report copies no file text; this
    is the second line of defence)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass
class _Tally:
    rows: int = 0
    created: int = 0
    invalid: int = 0
    conflicts: int = 0

    def add(self, outcomes: Sequence[RowOutcome]) -> None:
        for outcome in outcomes:
            self.rows += 1
            self.created += outcome.outcome is ItemOutcome.CREATED
            self.invalid += outcome.outcome is ItemOutcome.INVALID
            self.conflicts += outcome.outcome is ItemOutcome.CONFLICT


def _report_lines(outcomes: Sequence[RowOutcome]) -> Iterator[tuple[str, ...]]:
    for outcome in outcomes:
        for error in outcome.errors:
            yield (str(outcome.row), _safe(error.field), _safe(error.code), _safe(error.message))


def _checked_encoding(deps: ImportsDeps, status: ImportStatus, tag: str) -> str:
    """The first read: the file's encoding, header and row count, or ValidationFailed (nothing created)."""
    for encoding in ENCODINGS:
        try:
            count_rows(text_lines(deps.files.chunks(status.finess, status.id, tag), encoding), deps.max_rows)
        except Undecodable:
            continue
        return encoding
    raise undecodable_file()


def _chunks(rows: Iterator[SheetRow]) -> Iterator[list[SheetRow]]:
    while chunk := list(islice(rows, ROWS_PER_CHUNK)):
        yield chunk


def _create_all(deps: ImportsDeps, call: Call, status: ImportStatus, tag: str, report: IO[bytes]) -> _Tally:
    records = deps.records
    encoding = _checked_encoding(deps, status, tag)
    context = Context(
        now=records.clock.now(),
        max_age=timedelta(days=records.settings.offline_window_days),
        zone=pharmacy_zone(records, call.caller),
    )
    lines = text_lines(deps.files.chunks(status.finess, status.id, tag), encoding)
    text = io.TextIOWrapper(report, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, delimiter=";")
    writer.writerow(REPORT_HEADER)
    tally, key = _Tally(), key_of_test(records, status.finess)
    for number, chunk in enumerate(_chunks(read_rows(lines, context, deps.max_rows)), start=1):
        outcomes = create_rows(records, call, chunk, key)
        tally.add(outcomes)
        writer.writerows(_report_lines(outcomes))
        if number % CHUNKS_PER_PROGRESS == 0:
            deps.files.save_status(_counted(status, ImportState.PROCESSING, tally), tag)
    text.detach()  # the report stays open for its upload
    return tally


def _counted(status: ImportStatus, state: ImportState, tally: _Tally) -> ImportStatus:
    return replace(
        status,
        state=state,
        rows_done=tally.rows,
        created=tally.created,
        invalid=tally.invalid,
        conflicts=tally.conflicts,
    )


def _reject(deps: ImportsDeps, status: ImportStatus, tag: str, errors: Sequence[FieldError]) -> ImportStatus:
    rejected = replace(status, state=ImportState.REJECTED, errors=tuple(errors))
    _caller(status).audit(deps.records.journal).record(
        "import_process", outcome="failed", reason=f"import {status.id}: the file was refused as a whole"
    )
    deps.files.save_status(rejected, tag)
    deps.files.discard(status.finess, status.id)
    return rejected


def _run(deps: ImportsDeps, call: Call, status: ImportStatus, tag: str) -> ImportStatus:
    deps.files.save_status(replace(status, state=ImportState.PROCESSING), tag)  # the file's tag claimed
    with tempfile.SpooledTemporaryFile(max_size=REPORT_IN_MEMORY) as report:
        try:
            tally = _create_all(deps, call, status, tag, report)
        except ValidationFailed as failed:
            return _reject(deps, status, tag, failed.errors)
        except Undecodable:  # the first read found it readable: only a file changed since
            return _reject(deps, status, tag, undecodable_file().errors)
        except FileReplaced:
            return _reject(deps, status, tag, [UPLOAD_REPLACED.at("body")])
        report.seek(0)
        deps.files.save_report(status.finess, status.id, report)
    done = _counted(status, ImportState.DONE, tally)
    call.audit(deps.records.journal).record(
        "import_process",
        reason=f"import {status.id}: {tally.created} created, {tally.invalid} invalid, "
        f"{tally.conflicts} conflicts",
    )
    deps.files.save_status(done, tag)
    deps.files.discard(status.finess, status.id)  # the file holds health data: gone once imported
    return done


def process_upload(deps: ImportsDeps, finess: str, import_id: str) -> ImportStatus | None:
    """The processing of an uploaded file (its notification, delivered at least once): None if no
    import of that pharmacy issued it (left to the bucket's lifecycle)."""
    found = deps.files.status(finess, import_id) if _IMPORT_ID.fullmatch(import_id) else None
    if found is None:
        return None
    status, tag = found
    upload = deps.files.uploaded(finess, import_id)
    if upload is None:
        return status  # a redelivery after the file was imported and deleted
    if tag and tag != upload.tag:  # the URL used again: not this import's file
        _caller(status).audit(deps.records.journal).deny(
            "import_process", "the upload URL was used again", finess=finess
        )
        deps.files.discard(finess, import_id)
        return status
    if status.state in (ImportState.DONE, ImportState.REJECTED):
        deps.files.discard(finess, import_id)
        return status
    if upload.size > deps.max_bytes:
        return _reject(deps, status, upload.tag, [UPLOAD_TOO_LARGE.at("body", limit=deps.max_bytes)])
    member = _member(deps, status)
    if member is None:
        _caller(status).audit(deps.records.journal).deny("import_process", "role", finess=finess)
        return _reject(deps, status, upload.tag, [UPLOADER_REVOKED.at("body")])
    return _run(deps, member, status, upload.tag)


def handle_notification(deps: ImportsDeps, body: str) -> list[ImportStatus]:
    """An SQS message of the bucket's ObjectCreated notifications: each uploaded file processed.
    Anything else (S3's test event, a key that names no upload) is ignored: the message is done."""
    try:
        event = json.loads(body)
    except ValueError:
        return []
    records = event.get("Records") if isinstance(event, dict) else None
    processed: list[ImportStatus] = []
    for record in records if isinstance(records, list) else []:
        key = _object_key(record)
        names = deps.files.upload_of(unquote_plus(key)) if key is not None else None
        status = process_upload(deps, *names) if names is not None else None
        if status is not None:
            processed.append(status)
    return processed


def _object_key(record: object) -> str | None:
    """An S3 event record's object key (URL-encoded, as S3 sends it), or None."""
    found: object = record
    for name in ("s3", "object", "key"):
        found = found.get(name) if isinstance(found, dict) else None
    return found if isinstance(found, str) else None
