"""Spreadsheet imports (docs/imports.md): a sheet of up to 100 rows in one request, larger ones
through an upload processed by a function (its handler: chalicelib/api/import_files.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, WITH_BODY, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import build_imports, get_container
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.imports import ImportSheet
from chalicelib.payloads.csv_rows import ACCEPT_CSV, SHEET, parse_sheet

if TYPE_CHECKING:
    from chalicelib.services import imports, records, sheets
else:
    imports = lazy("chalicelib.services.imports")
    records, sheets = lazy("chalicelib.services.records"), lazy("chalicelib.services.sheets")

blueprint = ApiBlueprint(__name__)

_TEMPLATE = "docs/import-template.csv"


def _request() -> Any:
    return blueprint.current_request


def _accepts_csv(request: Any) -> None:
    """The report is binary to API Gateway (a CSV's bytes as they are): it hands it over only to a
    request that accepts text/csv, and Chalice answers any other with its own 400. Said here, plainly."""
    accept = str(request.headers.get("accept", ""))
    if not any(part.split(";", 1)[0].strip().lower() == "text/csv" for part in accept.split(",")):
        raise ValidationFailed([ACCEPT_CSV.at("Accept")])


@blueprint.route(
    Route(
        "POST",
        "/v1/test-sheets",
        "importTestSheet",
        f"Record the tests of a spreadsheet of up to {payloads.BATCH_MAX_ITEMS} rows (pharmacist).",
        Reply(200, "Each row's outcome, in order: created, invalid or conflict.", payloads.SHEET_RESULT),
        (*PROTECTED, *WITH_BODY),
        body=SHEET,
        description="Each row is read by the rules of `POST /v1/tests` and created as a batch item "
        "(`POST /v1/test-batches`). A row's key is its `key` column, else derived from the patient's "
        "NIR and the sampling time (keyed per pharmacy): the same file sent again creates nothing "
        f"twice. A template: `{_TEMPLATE}`. Larger files: `POST /v1/imports`.",
    )
)
def import_test_sheet() -> Any:
    request = _request()
    container, this = get_container(), call(request)
    deps = container.records
    rows = admitted_then_parsed(
        lambda: records.admit(deps, this, "create"),
        lambda: parse_sheet(
            request.raw_body or b"",
            now=container.clock.now(),
            max_age_days=container.settings.offline_window_days,
            zone=records.pharmacy_zone(deps, this.caller),
        ),
    )
    return sheets.import_sheet(deps, this, ImportSheet(rows))


@blueprint.route(
    Route(
        "POST",
        "/v1/imports",
        "startImport",
        "Upload a large spreadsheet (pharmacist): a presigned PUT, then its status.",
        Reply(201, "The upload's URL and status.", payloads.IMPORT_TICKET, location=lambda t: t.status),
        (*PROTECTED, "413", "415"),
        description="PUT the file to `upload_url` with `Content-Type: text/csv` before `expires_in` "
        "seconds; it is processed within seconds of its arrival, then read `status`. The file's "
        "columns and keys are those of `POST /v1/test-sheets`: the same file uploaded again, or a "
        "notification delivered twice, creates nothing twice.",
    )
)
def start_import() -> Any:
    request = _request()
    return imports.start_import(build_imports(get_container()), call(request))


@blueprint.route(
    Route(
        "GET",
        "/v1/imports/{import_id}",
        "readImport",
        "An import's state: rows done, created, invalid, conflicts.",
        Reply(200, "The import's state.", payloads.IMPORT_STATUS),
        (*PROTECTED, "404"),
    )
)
def read_import(import_id: str) -> Any:
    request = _request()
    return imports.read_status(build_imports(get_container()), call(request), import_id)


@blueprint.route(
    Route(
        "GET",
        "/v1/imports/{import_id}/report",
        "readImportReport",
        "A done import's per-row report (text/csv: row, column, code, message; never a value).",
        Reply(200, "The report.", {"type": "string"}, media_type="text/csv"),
        (*PROTECTED, "400", "404"),
        description="Send `Accept: text/csv` (else 400 naming `Accept`): API Gateway hands a CSV's "
        "bytes over as they are only to a request that accepts them.",
    )
)
def read_import_report(import_id: str) -> Response:
    request = _request()
    deps, this = build_imports(get_container()), call(request)
    admitted_then_parsed(lambda: imports.admit(deps, this, "import_report"), lambda: _accepts_csv(request))
    report = imports.read_report(deps, this, import_id)
    return Response(
        body=report,
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="import-{import_id}-report.csv"',
        },
    )
