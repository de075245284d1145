"""A spreadsheet of test records (text/csv), as a pharmacy's own software or a spreadsheet writes it.

One declaration of the record's rules: each column is generated from a leaf field of the JSON
submission (payloads/requests.py `SUBMISSION`), so a field added there is a column here. A row is
mapped to the JSON submission's shape (`{"patient": {...}, "test": {...}}`) and read by the same
`SUBMISSION` declaration as `POST /v1/tests` and `POST /v1/test-batches`; only what a spreadsheet
writes differently is converted first (a French date, a local date-time), and the rules' errors
(their codes and all) come back with their field renamed to the column's header.

What a spreadsheet writes:
- the separator `;` (French Excel, LibreOffice) or `,`: whichever the header line holds more of;
- UTF-8 (with or without its byte order mark) or Windows-1252 (Excel's "CSV" on a French
  Windows): a file that is valid UTF-8 is read as UTF-8, any other as Windows-1252; a file that is
  neither (one of the five bytes Windows-1252 leaves undefined) is refused as a whole;
- dates `JJ/MM/AAAA` or `AAAA-MM-JJ`; date-times `JJ/MM/AAAA HH:MM[:SS]` or `AAAA-MM-JJ HH:MM[:SS]`
  in the pharmacy's time zone (what a counter's clock shows), or RFC 3339 with an offset;
- header cells matched case-, accent- and space-insensitively, in English (the JSON names) or French.

A row's number is its spreadsheet row: the header is row 1. Wholly empty rows (the `;;;;` lines a
spreadsheet leaves) are skipped but counted. Errors in the file as a whole (encoding, header, too
many rows) raise ValidationFailed on `body`, quoting nothing of the file (a header cell may be a
value pasted there: it is named by its position).
"""

from __future__ import annotations

import codecs
import csv
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.commands import canonical_json
from chalicelib.domain.errors import FieldError, Rule, ValidationFailed
from chalicelib.domain.imports import SheetRow
from chalicelib.payloads.fields import UUID, Context, require_aware
from chalicelib.payloads.requests import BATCH_ITEM, BATCH_MAX_ITEMS, INVALID_ITEM, SUBMISSION
from chalicelib.schema import Errors, Kind, Obj, Schema, Shape

KEY_COLUMN = "key"
ROW_COLUMN = "row"  # an error about the row as a whole (more cells than the header)
MAX_LINE_CHARS = 16 * 1024  # a row of a record is well under 2 KiB; anything longer is not one

# French headers accepted beside the JSON names (a field without one is its JSON name only).
FRENCH: dict[str, str] = {
    "key": "cle",
    "nir": "nir",
    "last_name": "nom",
    "first_name": "prenom",
    "birth_date": "date_naissance",
    "sex": "sexe",
    "email": "courriel",
    "phone": "telephone",
    "address_line": "adresse",
    "address_postal_code": "code_postal",
    "address_city": "ville",
    "birth_last_name": "nom_naissance",
    "birth_first_names": "prenoms_naissance",
    "birth_place": "lieu_naissance",
    "identity_document": "piece_identite",
    "kind": "type_test",
    "device_id": "dispositif",
    "sampled_at": "preleve_le",
    "result": "resultat",
}

_FRENCH_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_LOCAL_TIME = re.compile(
    r"(?:(?P<d>\d{2})/(?P<m>\d{2})/(?P<y>\d{4})|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))"
    r"[ T](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
)


@dataclass(frozen=True)
class Column:
    """One column: its header, where its cell goes in the JSON submission, whether it must be
    filled, how a spreadsheet writes it (`date`, `date-time` or `text`) and what it holds."""

    name: str
    path: tuple[str, ...]
    required: bool
    form: str
    description: str

    @property
    def french(self) -> str | None:
        return FRENCH.get(self.name)

    @property
    def pointer(self) -> str:
        """The field path the rules name it by (`patient.address.postal_code`)."""
        return ".".join(self.path)


def _leaves(shape: Obj[Any], path: tuple[str, ...], required: bool) -> Iterator[Column]:
    for field in shape.fields:
        where, needed = (*path, field.name), required and field.required
        if isinstance(field.kind, Obj):
            yield from _leaves(field.kind, where, needed)
        elif isinstance(field.kind, Kind):
            form = str(field.kind.json_schema().get("format", "text"))
            name = "_".join(where[1:])  # patient.address.line -> address_line
            yield Column(name, where, needed, form if form in ("date", "date-time") else "text", field.text())


@functools.cache
def columns() -> tuple[Column, ...]:
    """Every column, generated from the submission's declaration, then the optional key."""
    found = (
        *_leaves(SUBMISSION, (), True),
        Column(KEY_COLUMN, (KEY_COLUMN,), False, "text", "Optional: the row's idempotency key (a UUID)."),
    )
    names = [c.name for c in found] + [c.french for c in found if c.french and c.french != c.name]
    if len(names) != len(set(names)):
        raise ValueError("two columns share a header")  # a declaration mistake, never the client's
    return found


def _normalised(header: str) -> str:
    plain = unicodedata.normalize("NFKD", header.strip().lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[\s\-.]+", "_", plain)


@functools.cache
def _by_header() -> dict[str, Column]:
    found: dict[str, Column] = {}
    for column in columns():
        found[column.name] = column
        if column.french:
            found[column.french] = column
    return found


@functools.cache
def _by_pointer() -> dict[str, str]:
    return {column.pointer: column.name for column in columns()}


# --- the file as a whole ---------------------------------------------------------------------------------


class Undecodable(Exception):  # a signal between two reads, never an answer
    """The bytes are not in the encoding they are read in (an upload's first read tries the next one)."""


# The rules of a file as a whole (its body) and of a row's cells beyond the record's own rules.
SHEET_LINE_TOO_LONG = Rule("sheet_line_too_long", "has a line longer than {limit} characters")
SHEET_TOO_MANY_ROWS = Rule("sheet_too_many_rows", "has more than {limit} rows")
SHEET_MALFORMED = Rule("sheet_malformed", "is not a well-formed CSV file")
SHEET_EMPTY = Rule("sheet_empty", "has no row under its header")
SHEET_ENCODING = Rule("sheet_encoding", "is neither UTF-8 nor Windows-1252")
SHEET_UNKNOWN_COLUMN = Rule("sheet_unknown_column", "the header of column {position} is not a known column")
SHEET_REPEATED_COLUMN = Rule(
    "sheet_repeated_column", "the header of column {position} repeats an earlier column"
)
SHEET_MISSING_COLUMN = Rule("sheet_missing_column", "the header lacks the required column {column}")
SHEET_CELL_OUTSIDE_COLUMNS = Rule("sheet_cell_outside_columns", "has a cell under no known column")
ACCEPT_CSV = Rule("accept_csv", "must include text/csv: the report is a CSV file")


def _refused(rule: Rule, **params: object) -> ValidationFailed:
    return ValidationFailed([rule.at("body", **params)], detail="The file cannot be read as a whole.")


def undecodable_file() -> ValidationFailed:
    return ValidationFailed([SHEET_ENCODING.at("body")], detail="The file cannot be read.")


def encoding_of(raw: bytes) -> str:
    """`utf-8-sig` (a BOM), `utf-8` or `cp1252`; ValidationFailed for a file that is none of them."""
    candidates = ("utf-8-sig",) if raw.startswith(codecs.BOM_UTF8) else ("utf-8", "cp1252")
    for encoding in candidates:
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise undecodable_file()


def separator_of(header_line: str) -> str:
    return ";" if header_line.count(";") >= header_line.count(",") else ","


@dataclass(frozen=True)
class Layout:
    """The file's columns, in its order (None: an empty header cell's column, which must stay empty)."""

    separator: str
    columns: tuple[Column | None, ...]


def layout_of(header_line: str) -> Layout:
    """The header line's columns; ValidationFailed naming (by position) any unknown or repeated one,
    and every required column it lacks (by our name, never by the file's text)."""
    separator = separator_of(header_line)
    cells = next(csv.reader([header_line], delimiter=separator), [])
    errors: list[FieldError] = []
    found: list[Column | None] = []
    for position, cell in enumerate(cells, start=1):
        column = _by_header().get(_normalised(cell)) if cell.strip() else None
        if cell.strip() and column is None:
            errors.append(SHEET_UNKNOWN_COLUMN.at("body", position=position))
        elif column is not None and column in found:
            errors.append(SHEET_REPEATED_COLUMN.at("body", position=position))
        found.append(column)
    errors += [
        SHEET_MISSING_COLUMN.at("body", column=column.name)
        for column in columns()
        if column.required and column not in found
    ]
    if errors:
        raise ValidationFailed(errors, detail="The file's header is not the documented one.")
    return Layout(separator, tuple(found))


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)")


def _split(text: str) -> tuple[list[str], str]:
    """The complete lines of `text` and what follows them (a CR at its very end may be half of a
    CR LF cut between two pieces: it waits). Only CR and LF end a line, as in a CSV file."""
    end = len(text) - 1 if text.endswith("\r") else len(text)
    cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end))
    return _LINE.findall(text[: cut + 1]), text[cut + 1 :]


def _bounded(lines: Iterable[str]) -> Iterator[str]:
    # Every line, not only one cut between two pieces: a whole file in one piece (a request's body)
    # would otherwise pass a line of any length (a header of thousands of cells, an error each).
    for line in lines:
        if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise _refused(SHEET_LINE_TOO_LONG, limit=MAX_LINE_CHARS)
        yield line


def text_lines(pieces: Iterable[bytes], encoding: str) -> Iterator[str]:
    """The decoded lines of a byte stream, each with its line end, one at a time (memory: one line)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pending = ""
    try:
        for piece in pieces:
            complete, pending = _split(pending + decoder.decode(piece))
            yield from _bounded(complete)
            if len(pending) > MAX_LINE_CHARS:
                raise _refused(SHEET_LINE_TOO_LONG, limit=MAX_LINE_CHARS)
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise Undecodable from error
    yield from _bounded(_LINE.findall(pending))
    if pending and not pending.endswith(("\r", "\n")):
        yield from _bounded([pending[len("".join(_LINE.findall(pending))) :]])


# --- one row ---------------------------------------------------------------------------------------------


def _iso_date(text: str) -> str:
    match = _FRENCH_DATE.fullmatch(text)
    return f"{match[3]}-{match[2]}-{match[1]}" if match else text


def _local_time(text: str, zone: str) -> str:
    """A date-time the spreadsheet wrote without an offset, in the pharmacy's zone, as RFC 3339;
    anything else as written (the rule says what is wrong with it)."""
    match = _LOCAL_TIME.fullmatch(text)
    if match is None:
        return text
    year, month, day = (
        (match["y"], match["m"], match["d"]) if match["y"] else (match["iy"], match["im"], match["id"])
    )
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(match["H"]),
            int(match["M"]),
            int(match["S"] or 0),
            tzinfo=ZoneInfo(zone),
        )
    except ValueError:
        return text
    return local.isoformat()


def _cell(column: Column, text: str, zone: str) -> str:
    if column.form == "date":
        return _iso_date(text)
    if column.form == "date-time":
        return _local_time(text, zone)
    return text


def _put(body: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for name in path[:-1]:
        body = body.setdefault(name, {})
    body[path[-1]] = value


def _column_of(field: str) -> str:
    """The header naming a rule's field (`patient.nir` -> `nir`); an object's own error, its row."""
    if field == KEY_COLUMN:
        return KEY_COLUMN
    return _by_pointer().get(field, ROW_COLUMN)


def _body(cells: list[str], layout: Layout, zone: str) -> tuple[dict[str, Any], list[FieldError]]:
    body: dict[str, Any] = {}
    errors: list[FieldError] = []
    for position, cell in enumerate(cells):
        text = cell.strip()
        if not text:
            continue
        column = layout.columns[position] if position < len(layout.columns) else None
        if column is None:
            errors[:] = [SHEET_CELL_OUTSIDE_COLUMNS.at(ROW_COLUMN)]  # said once
            continue
        _put(body, column.path, _cell(column, text, zone))
    return body, errors


def read_row(number: int, cells: list[str], layout: Layout, context: Context) -> SheetRow:
    """Row `number`'s cells as the JSON submission, read by its rules; errors name columns."""
    body, errors = _body(cells, layout, context.zone)
    found = Errors()
    shape: Shape[Any] = BATCH_ITEM if KEY_COLUMN in body else SUBMISSION
    parsed = shape.read(body, "", found, context)
    errors += [replace(error, field=_column_of(error.field)) for error in found.items]  # code and all
    key = body.get(KEY_COLUMN)
    shown_key = key.lower() if isinstance(key, str) and UUID.matches(key) else None
    if errors or parsed is None:
        return SheetRow(number, shown_key, None, tuple(errors or [INVALID_ITEM.at(ROW_COLUMN)]))
    submission = parsed[1] if KEY_COLUMN in body else parsed
    record = {name: value for name, value in body.items() if name != KEY_COLUMN}
    return SheetRow(number, shown_key, submission, (), canonical_json(record))


def _blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def read_rows(lines: Iterable[str], context: Context, max_rows: int) -> Iterator[SheetRow]:
    """Each row of a file's lines (the header first), read one at a time; ValidationFailed for a
    file whose header is wrong, that holds no row, or more than `max_rows`."""
    iterator = iter(lines)
    header = next(iterator, "")
    layout = layout_of(header.lstrip("\ufeff"))
    count = 0
    try:
        for number, cells in enumerate(csv.reader(iterator, delimiter=layout.separator), start=2):
            if _blank(cells):
                continue
            count += 1
            if count > max_rows:
                raise _refused(SHEET_TOO_MANY_ROWS, limit=max_rows)
            yield read_row(number, cells, layout, context)
    except csv.Error as error:
        raise _refused(SHEET_MALFORMED) from error
    if count == 0:
        raise _refused(SHEET_EMPTY)


def count_rows(lines: Iterable[str], max_rows: int) -> int:
    """The rows of a file's lines under a well-formed header, without reading them (an upload's
    first read): ValidationFailed as `read_rows` raises it, before any row is created."""
    iterator = iter(lines)
    layout = layout_of(next(iterator, "").lstrip("\ufeff"))
    count = 0
    try:
        for cells in csv.reader(iterator, delimiter=layout.separator):
            count += not _blank(cells)
            if count > max_rows:
                raise _refused(SHEET_TOO_MANY_ROWS, limit=max_rows)
    except csv.Error as error:
        raise _refused(SHEET_MALFORMED) from error
    if count == 0:
        raise _refused(SHEET_EMPTY)
    return count


def parse_sheet(
    raw: bytes, *, now: datetime, max_age_days: int, zone: str, max_rows: int = BATCH_MAX_ITEMS
) -> tuple[SheetRow, ...]:
    """A text/csv body of at most `max_rows` rows: every row, read (see the module's docstring)."""
    require_aware(now)
    context = Context(now=now, max_age=timedelta(days=max_age_days), zone=zone)
    try:
        return tuple(read_rows(text_lines([raw], encoding_of(raw)), context, max_rows))
    except Undecodable as error:  # encoding_of checked it: never, but said as the file's error
        raise undecodable_file() from error


# --- its declaration in the API document ------------------------------------------------------------------


def _column_line(column: Column) -> str:
    french = f" (or `{column.french}`)" if column.french and column.french != column.name else ""
    need = "required" if column.required else "optional"
    form = {"date": " JJ/MM/AAAA or AAAA-MM-JJ.", "date-time": _DATE_TIME_FORMS}.get(column.form, "")
    return f"- `{column.name}`{french}, {need}.{form} {column.description}".rstrip()


_DATE_TIME_FORMS = (
    " JJ/MM/AAAA HH:MM[:SS] or AAAA-MM-JJ HH:MM[:SS] in the pharmacy's time zone, or RFC 3339 with an offset."
)


def sheet_description(max_rows: int = BATCH_MAX_ITEMS) -> str:
    lines = [
        f"A CSV file of 1 to {max_rows} rows under a header row: `;` or `,` separated, UTF-8 (with "
        "or without BOM) or Windows-1252; headers case-, accent- and space-insensitive; empty "
        "cells are absent fields; columns in any order. The columns:",
        *(_column_line(column) for column in columns()),
    ]
    return "\n".join(lines)


class CsvSheet(Shape[bytes]):
    """The request body a CSV route declares: text/csv, described by its columns (built when the
    document is, not at import: a column's description may read reference data)."""

    media_type = "text/csv"

    def __init__(self, max_rows: int) -> None:
        self.name = ""
        self.max_rows = max_rows

    @property
    def description(self) -> str:
        return sheet_description(self.max_rows)

    @description.setter
    def description(self, _value: str) -> None:
        raise AttributeError("a sheet's description is its columns'")

    def json_schema(self) -> Schema:
        return {"type": "string"}

    def read(self, raw: object, path: str, errors: Errors, context: Any = None) -> bytes | None:
        return raw if isinstance(raw, bytes) else None  # parse_sheet reads it; this only types it


SHEET = CsvSheet(BATCH_MAX_ITEMS)
