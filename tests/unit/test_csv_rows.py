"""A spreadsheet's rows (payloads/csv_rows.py): encodings, separators, dates, columns from the
submission's declaration, row and column errors that quote no value, the file refused as a whole."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.errors import ValidationFailed
from chalicelib.payloads import SUBMISSION
from chalicelib.payloads.csv_rows import (
    _leaves,
    columns,
    count_rows,
    parse_sheet,
    sheet_description,
    text_lines,
)
from chalicelib.payloads.fields import SAMPLED_AT
from chalicelib.payloads.requests import TEST_INPUT
from chalicelib.schema import Field, Obj
from testkit.patients import PATIENTS, personal_needles

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PARIS = "Europe/Paris"
ROOT = Path(__file__).resolve().parents[2]
FRENCH_HEADER = "nir;nom;prenom;date_naissance;sexe;type_test;dispositif;preleve_le;resultat"


def sheet(rows: list[list[str]], header: str = FRENCH_HEADER, separator: str = ";") -> str:
    """A CSV file as a spreadsheet writes it (cells quoted when they must be, CRLF)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(header.split(";"))
    writer.writerows(rows)
    return out.getvalue()


def row(index: int, birth: str | None = None, sampled: str = "29/11/2026 10:15", **cells: str) -> list[str]:
    p = PATIENTS[index]
    day = p["birth_date"]
    values = {
        "nir": p["nir"],
        "nom": p["last_name"],
        "prenom": p["first_name"],
        "date_naissance": birth or f"{day[8:10]}/{day[5:7]}/{day[0:4]}",
        "sexe": p["sex"],
        "type_test": "antigen",
        "dispositif": "1232",
        "preleve_le": sampled,
        "resultat": "negative",
        **cells,
    }
    return [values[name] for name in FRENCH_HEADER.split(";")]


def parse(raw: bytes, zone: str = PARIS, **options: Any) -> Any:
    return parse_sheet(raw, now=NOW, max_age_days=7, zone=zone, **options)


def refusal(raw: bytes, **options: Any) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse(raw, **options)
    assert {e.field for e in caught.value.errors} == {"body"}
    return [e.message for e in caught.value.errors]


TWO_ROWS = sheet([row(0), row(1)])


@pytest.mark.parametrize("separator", [";", ","])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_a_sheet_in_each_encoding_and_separator_reads_the_same_records(encoding: str, separator: str) -> None:
    raw = sheet([row(0), row(1)], separator=separator).encode(encoding)
    rows = parse(raw)
    assert [r.number for r in rows] == [2, 3]
    assert all(r.errors == () for r in rows)
    assert rows[1].submission is not None
    assert rows[1].submission.patient.first_name == "Étienne"  # é: one byte in cp1252, two in UTF-8
    assert [r.submission for r in rows] == [r.submission for r in parse(TWO_ROWS.encode())]


def test_french_and_iso_dates_read_alike() -> None:
    french = parse(sheet([row(0)]).encode())[0]
    iso = parse(sheet([row(0, birth="1995-10-01", sampled="2026-11-29 10:15")]).encode())[0]
    rfc = parse(sheet([row(0, birth="1995-10-01", sampled="2026-11-29T10:15:00+01:00")]).encode())[0]
    assert french.submission == iso.submission == rfc.submission
    assert french.submission is not None
    assert french.submission.test.sampled_at == datetime(2026, 11, 29, 9, 15, tzinfo=UTC)


def test_a_sampling_time_without_offset_is_the_pharmacys_local_time() -> None:
    cayenne = parse(sheet([row(0, sampled="29/11/2026 08:15")]).encode(), zone="America/Cayenne")[0]
    assert cayenne.submission is not None
    assert cayenne.submission.test.sampled_at == datetime(2026, 11, 29, 11, 15, tzinfo=UTC)


def test_each_rows_errors_name_its_row_and_column_and_quote_no_value() -> None:
    bad_nir = "1 23 45 67 890 123 45"
    rows = parse(
        sheet(
            [
                row(0),
                row(1, nir=bad_nir),
                row(2, birth="31/02/1969", resultat='=HYPERLINK("http://x";"clic")'),
                row(3, sampled="29/11/2026 25:99"),
            ]
        ).encode()
    )
    assert [r.number for r in rows if r.submission is None] == [3, 4, 5]
    assert {e.field for e in rows[1].errors} == {"nir"}
    assert {e.field for e in rows[2].errors} == {"birth_date", "result"}
    assert {e.field for e in rows[3].errors} == {"sampled_at"}
    text = repr([r.errors for r in rows])
    for value in [bad_nir, "HYPERLINK", "31/02/1969", "25:99", *personal_needles()]:
        assert value not in text


def test_a_key_column_is_the_rows_key_and_is_checked() -> None:
    header = FRENCH_HEADER + ";cle"
    good = "3F1C2A4E-8D5B-4C7A-9E21-6B0D4F8A2C19"
    rows = parse(sheet([[*row(0), good], [*row(1), "not-a-key"]], header=header).encode())
    assert rows[0].key == good.lower() and rows[0].submission is not None
    assert rows[1].submission is None and {e.field for e in rows[1].errors} == {"key"}


def test_headers_are_matched_case_accent_and_space_insensitively_in_english_or_french() -> None:
    header = "NIR;Nom;Prénom;Date naissance;sex;kind;Device-ID;sampled_at;Résultat"
    rows = parse(sheet([row(0)], header=header).encode())
    assert rows[0].errors == ()


def test_an_unknown_or_missing_header_is_refused_naming_its_position_not_its_text() -> None:
    header = FRENCH_HEADER.replace(";nom;", ";Jeanne Dupont;")
    messages = refusal(sheet([row(0)], header=header).encode())
    assert messages == [
        "the header of column 2 is not a known column",
        "the header lacks the required column last_name",
    ]
    repeated = refusal(sheet([[*row(0), "x"]], header=FRENCH_HEADER + ";nir").encode())
    assert repeated == ["the header of column 10 repeats an earlier column"]


def test_the_file_as_a_whole_is_refused_for_its_encoding_its_size_or_no_row() -> None:
    undefined_in_cp1252 = TWO_ROWS.encode("cp1252") + b"\x81"
    assert refusal(undefined_in_cp1252) == ["is neither UTF-8 nor Windows-1252"]
    assert refusal(sheet([row(0)] * 3).encode(), max_rows=2) == ["has more than 2 rows"]
    assert refusal((FRENCH_HEADER + "\r\n;;;;;;;;\r\n").encode()) == ["has no row under its header"]
    assert refusal(b"")[0] == "the header lacks the required column nir"


def test_blank_rows_are_skipped_but_counted_and_a_quoted_cell_may_hold_a_line_break() -> None:
    raw = sheet([row(0), [""] * 9, row(1, nom="Martin\nfils")])
    rows = parse(raw.encode())
    assert [r.number for r in rows] == [2, 4]
    assert {e.field for e in rows[1].errors} == {"last_name"}  # a line break is no letter


def test_lines_are_whole_whatever_the_pieces_the_stream_cuts() -> None:
    raw = sheet([row(0), row(1), row(2)]).encode("utf-8")
    for size in (1, 2, 3, 7, 64):
        pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
        assert list(text_lines(pieces, "utf-8")) == list(text_lines([raw], "utf-8"))
    assert count_rows(text_lines([raw], "utf-8"), 10) == 3


def test_the_columns_are_the_submissions_fields_so_a_new_field_is_a_new_column() -> None:
    leaves = {c.pointer for c in columns()} - {"key"}
    assert {"patient.nir", "patient.address.postal_code", "test.sampled_at", "test.result"} <= leaves
    assert "patient.address" not in leaves  # an object is its fields
    grown: Obj[Any] = Obj(
        [
            Field("patient", SUBMISSION.fields[0].kind),
            Field("test", TEST_INPUT.extended([Field("captured_at", SAMPLED_AT)], name="Grown")),
        ]
    )
    added = {c.name: c for c in _leaves(grown, (), True)}["captured_at"]
    assert added.form == "date-time" and added.required


def test_the_api_document_lists_every_column() -> None:
    text = sheet_description()
    for column in columns():
        assert f"`{column.name}`" in text
    assert "`date_naissance`" in text and "JJ/MM/AAAA" in text


def test_the_repositorys_template_imports_cleanly() -> None:
    raw = (ROOT / "docs" / "import-template.csv").read_bytes()
    rows = parse_sheet(raw, now=NOW, max_age_days=7, zone=PARIS)
    assert [r.errors for r in rows] == [()] * len(rows)
    assert len(rows) >= 3


def test_an_empty_optional_object_is_absent_and_a_partial_one_names_its_missing_column() -> None:
    header = FRENCH_HEADER + ";adresse;code_postal;ville"
    rows = parse(sheet([[*row(0), "", "", ""], [*row(1), "1 rue X", "", ""]], header=header).encode())
    assert rows[0].submission is not None and rows[0].submission.patient.address is None
    assert {e.field for e in rows[1].errors} == {"address_postal_code", "address_city"}


def test_parse_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        parse_sheet(TWO_ROWS.encode(), now=datetime(2026, 11, 29), max_age_days=7, zone=PARIS)


def test_a_future_sampling_time_is_refused_by_the_json_rule() -> None:
    later = (NOW + timedelta(days=1)).strftime("%d/%m/%Y %H:%M")
    rows = parse(sheet([row(0, sampled=later)]).encode())
    assert [(e.field, e.message) for e in rows[0].errors] == [("sampled_at", "must not be in the future")]
