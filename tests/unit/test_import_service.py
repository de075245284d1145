"""The spreadsheet's use cases with in-memory ports: a sheet's keys, an upload processed in chunks,
a redelivery and a cut run creating nothing twice, a reused URL, a file too large, another
pharmacy's import, the report quoting no value, memory flat whatever the row count."""

from __future__ import annotations

import csv
import io
import itertools
import tracemalloc
import uuid
from typing import IO, Any

import pytest

from chalicelib.config import Settings
from chalicelib.domain.errors import NotFound, ServiceUnavailable
from chalicelib.domain.imports import ImportSheet, ImportState
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.outcomes import ItemOutcome
from chalicelib.payloads.csv_rows import parse_sheet
from chalicelib.ports import Membership
from chalicelib.services import imports, records, sheets
from chalicelib.services.call import Call
from testkit.fakes import (
    FakeCipher,
    FakeIdempotency,
    FakeIndex,
    FakeJournal,
    FakeMemberships,
    FakeRepository,
    FixedClock,
)
from testkit.import_files import FakeImportFiles
from testkit.patients import PATIENTS, personal_needles

FINESS_A, FINESS_B = "750000010", "130000011"
PHARMACIST = Call(Principal("pharmacist-a", Role.PHARMACIST, FINESS_A))
OTHER_PHARMACY = Call(Principal("pharmacist-b", Role.PHARMACIST, FINESS_B))
HEADER = "nir;nom;prenom;date_naissance;sexe;type_test;dispositif;preleve_le;resultat"
BAD_NIR = "1 23 45 67 890 123 45"


def deps_of(files: FakeImportFiles | None = None, **options: Any) -> imports.ImportsDeps:
    ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
    record_deps = records.RecordsDeps(
        repository=FakeRepository(),
        cipher=FakeCipher(),
        index=FakeIndex(),
        idempotency=FakeIdempotency(),
        journal=FakeJournal(),
        clock=FixedClock(),
        settings=Settings(),
        new_id=lambda: next(ids),
    )
    limits = {"max_bytes": 4 * 1024 * 1024, "max_rows": 10_000, "url_seconds": 300, **options}
    members = FakeMemberships()
    for member in (PHARMACIST, OTHER_PHARMACY):
        members.members[member.caller.username] = Membership(
            member.caller.username, member.caller.role, member.caller.finess
        )
    return imports.ImportsDeps(
        records=record_deps, files=files or FakeImportFiles(), memberships=members, **limits
    )


def line(index: int, minute: int, nir: str | None = None, result: str = "negative") -> str:
    p = PATIENTS[index % 4]
    day = p["birth_date"]
    sampled_day = 29 - (minute // 240) % 28  # distinct (patient, time) for the first 6,720 rows
    sampled = f"{sampled_day:02d}/11/2026 {8 + minute % 240 // 60:02d}:{minute % 60:02d}"
    cells = [nir or p["nir"], p["last_name"], p["first_name"], f"{day[8:10]}/{day[5:7]}/{day[0:4]}"]
    return ";".join([*cells, p["sex"], "antigen", "1232", sampled, result])


def upload_file(count: int, invalid_every: int = 0) -> bytes:
    rows = [
        line(i, i, nir=BAD_NIR if invalid_every and i % invalid_every == 0 else None) for i in range(count)
    ]
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode("cp1252")


def uploaded(deps: imports.ImportsDeps, body: bytes, call: Call = PHARMACIST) -> str:
    ticket = imports.start_import(deps, call)
    assert isinstance(deps.files, FakeImportFiles)
    deps.files.put(call.caller.finess or "", ticket.id, body)
    return ticket.id


def stored(deps: imports.ImportsDeps) -> int:
    repository = deps.records.repository
    assert isinstance(repository, FakeRepository)
    return len(repository.items)


def notification(import_id: str, finess: str = FINESS_A) -> str:
    return f'{{"Records": [{{"s3": {{"object": {{"key": "uploads/{finess}/{import_id}.csv"}}}}}}]}}'


# --- a sheet in one request --------------------------------------------------------------------------------


def sheet_rows(deps: imports.ImportsDeps, raw: bytes) -> ImportSheet:
    now = deps.records.clock.now()
    return ImportSheet(parse_sheet(raw, now=now, max_age_days=90, zone="Europe/Paris"))


def test_a_sheet_sent_twice_creates_its_rows_once_and_a_corrected_row_is_a_conflict() -> None:
    deps = deps_of()
    raw = upload_file(6, invalid_every=5)
    first = sheets.import_sheet(deps.records, PHARMACIST, sheet_rows(deps, raw))
    assert [r.outcome for r in first.rows] == [ItemOutcome.INVALID] + [ItemOutcome.CREATED] * 4 + [
        ItemOutcome.INVALID
    ]
    assert [r.row for r in first.rows] == [2, 3, 4, 5, 6, 7]
    again = sheets.import_sheet(deps.records, PHARMACIST, sheet_rows(deps, raw))
    assert again == first and stored(deps) == 4
    corrected = raw.replace(b";negative\r\n", b";positive\r\n", 2)  # row 3 only changes (row 2 invalid)
    third = sheets.import_sheet(deps.records, PHARMACIST, sheet_rows(deps, corrected))
    assert third.rows[1].outcome is ItemOutcome.CONFLICT
    assert [(e.field, e.message) for e in third.rows[1].errors] == [("key", "was used with another body")]
    assert stored(deps) == 4


# --- an upload ----------------------------------------------------------------------------------------


def report_rows(deps: imports.ImportsDeps, import_id: str) -> list[list[str]]:
    raw = imports.read_report(deps, PHARMACIST, import_id)
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def test_an_upload_creates_its_rows_in_chunks_and_reports_each_invalid_row_by_row_and_column() -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(250, invalid_every=10))
    [status] = imports.handle_notification(deps, notification(import_id))
    assert (status.state, status.rows_done, status.created, status.invalid) == (
        ImportState.DONE,
        250,
        225,
        25,
    )
    assert stored(deps) == 225
    report = report_rows(deps, import_id)
    assert report[0] == ["row", "column", "code", "message"]
    assert [r[:2] for r in report[1:]] == [[str(n), "nir"] for n in range(2, 252, 10)]
    assert BAD_NIR not in str(report) and not [n for n in personal_needles() if n in str(report)]
    assert deps.files.uploaded(FINESS_A, import_id) is None  # the file (health data) is gone
    actions = deps.records.journal.actions()  # type: ignore[attr-defined]
    assert actions[0] == ("import_start", "success") and ("import_process", "success") in actions
    assert actions.count(("create", "success")) == 5  # 3 chunks of 100 rows, 2 transactions each but the last


def test_a_redelivered_notification_creates_nothing_twice() -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(120))
    imports.handle_notification(deps, notification(import_id))
    files = deps.files
    assert isinstance(files, FakeImportFiles)
    files.put(FINESS_A, import_id, upload_file(120))  # the same file, the same tag: a redelivery
    [status] = imports.handle_notification(deps, notification(import_id))
    assert status.state is ImportState.DONE and stored(deps) == 120


def test_a_run_cut_midway_resumes_and_creates_each_row_once() -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(300))
    journal = deps.records.journal
    assert isinstance(journal, FakeJournal)
    appended = journal.append

    def cut_after_four(event: Any, changes: Any = ()) -> None:
        if len(journal.events) >= 4:
            journal.down = True  # the function timed out, or DynamoDB failed: the message comes back
        appended(event, changes)

    journal.append = cut_after_four  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        imports.handle_notification(deps, notification(import_id))
    partial = stored(deps)
    assert 0 < partial < 300
    journal.append, journal.down = appended, False  # type: ignore[method-assign]
    [status] = imports.handle_notification(deps, notification(import_id))
    assert (status.state, status.created) == (ImportState.DONE, 300)
    assert stored(deps) == 300


def test_a_reused_upload_url_is_refused_journaled_and_its_file_never_imported() -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(3))
    [done] = imports.handle_notification(deps, notification(import_id))
    files = deps.files
    assert isinstance(files, FakeImportFiles)
    files.put(FINESS_A, import_id, upload_file(50))  # the same URL, another file
    [status] = imports.handle_notification(deps, notification(import_id))
    assert status == done and stored(deps) == 3
    assert files.uploaded(FINESS_A, import_id) is None
    assert ("import_process", "denied") in deps.records.journal.actions()  # type: ignore[attr-defined]


def test_a_file_larger_than_the_limit_is_rejected_unread() -> None:
    files = FakeImportFiles()
    deps = deps_of(files, max_bytes=1000)
    import_id = uploaded(deps, upload_file(40))
    [status] = imports.handle_notification(deps, notification(import_id))
    assert status.state is ImportState.REJECTED and status.errors[0].message == "is larger than 1000 bytes"
    assert files.reads == 0 and stored(deps) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (upload_file(30).replace(b"prenom", b"Jeanne"), "the header of column 3 is not a known column"),
        (upload_file(30) + b"\x81", "is neither UTF-8 nor Windows-1252"),
        (upload_file(31), "has more than 30 rows"),
    ],
)
def test_a_file_refused_as_a_whole_creates_no_row(body: bytes, message: str) -> None:
    deps = deps_of(max_rows=30)
    import_id = uploaded(deps, body)
    [status] = imports.handle_notification(deps, notification(import_id))
    assert status.state is ImportState.REJECTED
    assert message in [e.message for e in status.errors]
    assert stored(deps) == 0 and "Jeanne" not in repr(status)


@pytest.mark.parametrize(
    "membership",
    [
        None,  # removed from the pharmacy after the upload
        Membership("pharmacist-a", Role.PHARMACIST, FINESS_B),  # moved to another pharmacy
        Membership("pharmacist-a", Role.PLATFORM_ADMIN, None),  # a role that records no test
    ],
)
def test_an_uploader_who_may_no_longer_record_tests_creates_nothing(membership: Membership | None) -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(5))
    members = deps.memberships
    assert isinstance(members, FakeMemberships)
    members.members.pop("pharmacist-a")
    if membership is not None:
        members.members["pharmacist-a"] = membership
    [status] = imports.handle_notification(deps, notification(import_id))
    assert status.state is ImportState.REJECTED and stored(deps) == 0
    assert [e.code for e in status.errors] == ["uploader_revoked"]
    assert deps.files.uploaded(FINESS_A, import_id) is None  # the file (health data) is gone
    denied = [e for e in deps.records.journal.events if e.outcome == "denied"]  # type: ignore[attr-defined]
    assert [(e.action, e.finess, e.actor) for e in denied] == [("import_process", FINESS_A, "pharmacist-a")]


def test_an_uploader_made_pharmacy_admin_since_the_upload_imports_as_their_role_now() -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(5))
    members = deps.memberships
    assert isinstance(members, FakeMemberships)
    members.members["pharmacist-a"] = Membership("pharmacist-a", Role.PHARMACY_ADMIN, FINESS_A)
    [status] = imports.handle_notification(deps, notification(import_id))
    assert (status.state, status.created) == (ImportState.DONE, 5)


def test_another_pharmacys_import_is_not_found_and_the_attempt_journaled() -> None:
    deps = deps_of()
    import_id = uploaded(deps, upload_file(3))
    imports.handle_notification(deps, notification(import_id))
    for read in (imports.read_status, imports.read_report):
        with pytest.raises(NotFound):
            read(deps, OTHER_PHARMACY, import_id)
    with pytest.raises(NotFound):
        imports.read_status(deps, PHARMACIST, "../status/130000011/x")
    denied = [e for e in deps.records.journal.events if e.outcome == "denied"]  # type: ignore[attr-defined]
    assert [(e.action, e.finess, e.actor) for e in denied] == [
        ("import_status", FINESS_B, "pharmacist-b"),
        ("import_report", FINESS_B, "pharmacist-b"),
        ("import_status", FINESS_A, "pharmacist-a"),
    ]
    # a notification naming another pharmacy's prefix finds no import there
    assert imports.handle_notification(deps, notification(import_id, FINESS_B)) == []


def test_a_report_is_read_under_the_callers_pharmacy_whatever_its_stored_state_names() -> None:
    deps = deps_of()
    theirs = uploaded(deps, upload_file(3, invalid_every=2), call=OTHER_PHARMACY)
    imports.handle_notification(deps, notification(theirs, FINESS_B))
    files = deps.files
    assert isinstance(files, FakeImportFiles)
    status, tag = files.statuses[(FINESS_B, theirs)]
    # a state under pharmacy A's prefix whose own field names pharmacy B (a writer-controlled field)
    files.statuses[(FINESS_A, theirs)] = (status, tag)
    with pytest.raises(NotFound):
        imports.read_report(deps, PHARMACIST, theirs)
    assert imports.read_report(deps, OTHER_PHARMACY, theirs) == files.reports[(FINESS_B, theirs)]


def test_the_platform_admin_cannot_start_an_import() -> None:
    from chalicelib.domain.errors import Forbidden

    with pytest.raises(Forbidden):
        imports.start_import(deps_of(), Call(Principal("operator", Role.PLATFORM_ADMIN, None)))


def test_a_report_cell_never_starts_a_formula() -> None:
    for text in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "\t=1"):
        assert imports._safe(text).startswith("'")
    assert imports._safe("is required") == "is required"


class CountingReports(FakeImportFiles):
    """Keeps a report's size only (the test measures the processing, not the fake's storage)."""

    def save_report(self, finess: str, import_id: str, report: IO[bytes]) -> None:
        self.reports[(finess, import_id)] = b"%d" % sum(
            len(piece) for piece in iter(lambda: report.read(65536), b"")
        )


def peak_bytes(rows: int) -> int:
    files = CountingReports()
    deps = deps_of(files)
    import_id = uploaded(deps, upload_file(rows, invalid_every=1))  # every row invalid: parse and report
    tracemalloc.start()
    try:
        [status] = imports.handle_notification(deps, notification(import_id))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status.invalid == rows
    return peak


def test_memory_stays_flat_whatever_the_row_count() -> None:
    small, large = peak_bytes(500), peak_bytes(4000)
    assert large < small * 1.5 + 256 * 1024, (small, large)


def test_an_imports_created_at_is_served_to_the_second_as_every_timestamp() -> None:
    """An import's status names when it was started as every stored and served timestamp does
    (domain/serialization.iso_utc): RFC 3339, UTC, to the second; never the clock's microseconds."""
    from datetime import UTC, datetime

    deps = deps_of()
    assert isinstance(deps.records.clock, FixedClock)
    deps.records.clock.moment = datetime(2026, 11, 29, 12, 0, 5, 716289, tzinfo=UTC)
    import_id = uploaded(deps, upload_file(1))
    assert isinstance(deps.files, FakeImportFiles)
    found = deps.files.status(FINESS_A, import_id)
    assert found is not None and found[0].created_at == "2026-11-29T12:00:05Z"
