"""The answers of the spreadsheet routes (POST /v1/test-sheets, the upload of POST /v1/imports and
its status), declared once like every other response (payloads/responses.py)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.imports import ImportState
from chalicelib.domain.outcomes import ItemOutcome
from chalicelib.payloads.fields import COUNT, ID, POSITIVE
from chalicelib.payloads.responses import FIELD_ERROR
from chalicelib.schema import Field, Obj, array, choice, out

_TEXT = out({"type": "string"})

SHEET_ROW: Obj[Any] = Obj(
    [
        Field("row", POSITIVE, description="The row's number in the spreadsheet (the header is row 1)."),
        Field("key", _TEXT, nullable=True, description="The row's idempotency key; null if it has none."),
        Field("outcome", choice(ItemOutcome)),
        Field("id", ID, nullable=True, description="The record's id (created)."),
        Field("location", _TEXT, nullable=True, description="The record's path (created)."),
        Field(
            "errors",
            array(FIELD_ERROR),
            description="Invalid or conflict: `field` is the column's header (`row`: the row as a "
            "whole). Never a cell's value.",
        ),
    ],
    name="SheetRow",
)
SHEET_RESULT: Obj[Any] = Obj(
    [
        Field(
            "rows",
            array(SHEET_ROW),
            description="One outcome per row that holds a cell, in the file's order.",
        )
    ],
    name="SheetResult",
)
IMPORT_TICKET: Obj[Any] = Obj(
    [
        Field("id", ID, description="The import's id."),
        Field("upload_url", _TEXT, description="Where to PUT the file (a presigned URL, once)."),
        Field("method", _TEXT, description="PUT."),
        Field("content_type", _TEXT, description="The Content-Type header the PUT must send."),
        Field("max_bytes", POSITIVE, description="The largest file accepted."),
        Field("expires_in", POSITIVE, description="Seconds the URL stays valid."),
        Field("status", _TEXT, description="The import's status resource (GET)."),
    ],
    name="ImportTicket",
)
IMPORT_STATUS: Obj[Any] = Obj(
    [
        Field("id", ID),
        Field("state", choice(ImportState), description="waiting, processing, done or rejected."),
        Field("created_at", _TEXT, description="RFC 3339, UTC."),
        Field("rows_done", COUNT, description="Rows read so far."),
        Field("created", COUNT, description="Rows created (or found created by a replay)."),
        Field("invalid", COUNT, description="Rows refused by a rule (see the report)."),
        Field("conflicts", COUNT, description="Rows whose key was used with another body."),
        Field(
            "errors",
            array(FIELD_ERROR),
            description="Rejected: why the file as a whole cannot be read. Never a value.",
        ),
        Field(
            "report",
            _TEXT,
            nullable=True,
            source=lambda status: f"/v1/imports/{status.id}/report" if status.state == "done" else None,
            description="Done: the per-row error report (text/csv: row, column, message).",
        ),
    ],
    name="ImportStatus",
)
