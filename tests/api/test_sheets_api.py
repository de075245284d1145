"""POST /v1/test-sheets through the Chalice test client: a spreadsheet's rows in each encoding and
separator, replays, errors by row and column quoting nothing, the file refused as a whole."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from testkit.patients import PATIENTS, personal_needles
from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]
DAY = "/v1/tests?date=2026-11-29&limit=100"
HEADER = [
    "nir",
    "nom",
    "prenom",
    "date_naissance",
    "sexe",
    "type_test",
    "dispositif",
    "preleve_le",
    "resultat",
]


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def text_of(response: Any) -> str:
    return response.body.decode() if isinstance(response.body, bytes) else str(response.body)


def cells(index: int, minute: int = 15, **changed: str) -> list[str]:
    p = PATIENTS[index % 4]
    day = p["birth_date"]
    row = {
        "nir": p["nir"],
        "nom": p["last_name"],
        "prenom": p["first_name"],
        "date_naissance": f"{day[8:10]}/{day[5:7]}/{day[0:4]}",
        "sexe": p["sex"],
        "type_test": "antigen",
        "dispositif": "1232",
        "preleve_le": f"29/11/2026 10:{minute:02d}",
        "resultat": "negative",
        **changed,
    }
    return [row[name] for name in HEADER]


def sheet(rows: list[list[str]], separator: str = ";", header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerows([header, *rows])
    return out.getvalue()


def post(world: World, raw: bytes, user: str | None = "pharmacist-a", content_type: str = "text/csv") -> Any:
    headers = world.headers(user, **{"Content-Type": content_type})
    return world.client.http.request("POST", "/v1/test-sheets", headers=headers, body=raw)


def listed(world: World, user: str = "pharmacist-a") -> list[str]:
    return [item["id"] for item in body_of(world.call("GET", DAY, user))["items"]]


# Every encoding and separator is read alike (tests/unit/test_csv_rows.py); here, through the gateway's
# binary body, the two a French spreadsheet writes most (the template is plain UTF-8 and `;`).
@pytest.mark.parametrize(("encoding", "separator"), [("utf-8-sig", ","), ("cp1252", ";")])
def test_a_sheet_in_each_encoding_and_separator_creates_its_rows(
    world: World, encoding: str, separator: str
) -> None:
    raw = sheet([cells(i, minute=i) for i in range(4)], separator).encode(encoding)
    answer = post(world, raw)
    assert answer.status_code == 200, answer.body
    rows = body_of(answer)["rows"]
    assert [(r["row"], r["outcome"]) for r in rows] == [(n, "created") for n in range(2, 6)]
    assert sorted(listed(world)) == sorted(r["id"] for r in rows)
    record = body_of(world.call("GET", rows[1]["location"], "pharmacist-a"))
    assert record["patient"]["first_name"] == "Étienne"
    sampled = datetime.fromisoformat(record["test"]["sampled_at"].replace("Z", "+00:00"))
    assert sampled == datetime(2026, 11, 29, 9, 1, tzinfo=UTC)  # 10:01 in Paris


def test_the_same_sheet_sent_again_answers_the_same_rows_and_creates_nothing(world: World) -> None:
    raw = sheet([cells(i, minute=i) for i in range(3)]).encode()
    first, again = body_of(post(world, raw)), body_of(post(world, raw))
    assert first == again
    assert len(listed(world)) == 3


def test_invalid_rows_name_their_row_and_column_and_quote_no_value(world: World) -> None:
    rows = [
        cells(0),
        cells(1, nir="1 23 45 67 890 123 45"),
        cells(2, date_naissance="31/02/1969", prenom='=HYPERLINK("http://evil.example";"x")'),
    ]
    answer = post(world, sheet(rows).encode())
    assert answer.status_code == 200
    outcome = body_of(answer)["rows"]
    assert [o["outcome"] for o in outcome] == ["created", "invalid", "invalid"]
    assert {e["field"] for e in outcome[1]["errors"]} == {"nir"}
    assert {e["field"] for e in outcome[2]["errors"]} >= {"birth_date", "first_name"}
    text = text_of(answer)
    for value in ["1 23 45 67 890 123 45", "31/02/1969", "HYPERLINK", "evil", *personal_needles()]:
        assert value not in text


FILES_REFUSED = [
    (
        sheet([cells(0)], header=["Dupont", *HEADER[1:]]).encode(),
        "the header of column 1 is not a known column",
    ),
    (sheet([cells(i) for i in range(101)]).encode(), "has more than 100 rows"),
    (sheet([cells(1)]).encode("cp1252") + b"\x81\r\n", "is neither UTF-8 nor Windows-1252"),
    (b"", "the header lacks the required column nir"),
]


def test_a_file_refused_as_a_whole_is_a_400_naming_the_issue_and_echoing_nothing(world: World) -> None:
    for raw, message in FILES_REFUSED:
        answer = post(world, raw)
        assert answer.status_code == 400
        problem = body_of(answer)
        assert message in [e["message"] for e in problem["errors"]]
        assert {e["field"] for e in problem["errors"]} == {"body"}
        assert not [needle for needle in personal_needles() if needle in text_of(answer)]
    assert listed(world) == []


def test_a_sheet_must_be_sent_as_text_csv_and_a_batch_as_json(world: World) -> None:
    raw = sheet([cells(0)]).encode()
    assert post(world, raw, content_type="application/json").status_code == 415
    headers = world.headers("pharmacist-a", **{"Content-Type": "text/csv"})
    batch = world.client.http.request("POST", "/v1/test-batches", headers=headers, body=raw)
    assert batch.status_code == 415
    assert listed(world) == []


def test_a_sheet_over_the_body_size_limit_is_a_413(world: World) -> None:
    raw = sheet([cells(0, nom="X" * 70_000)]).encode()
    assert post(world, raw).status_code == 413


def test_the_platform_admin_and_an_anonymous_caller_cannot_send_a_sheet(world: World) -> None:
    raw = sheet([cells(0)]).encode()
    assert post(world, raw, "operator").status_code == 403
    assert post(world, b"not;a;sheet", "operator").status_code == 403  # refused before it is read
    assert post(world, raw, None).status_code == 401
    assert listed(world) == [] and listed(world, "pharmacist-b") == []


def test_the_repositorys_template_is_accepted_as_is(world: World) -> None:
    answer = post(world, (ROOT / "docs" / "import-template.csv").read_bytes())
    assert answer.status_code == 200
    assert {r["outcome"] for r in body_of(answer)["rows"]} == {"created"}


def test_the_api_document_declares_the_csv_body_with_its_columns(world: World) -> None:
    document = body_of(world.call("GET", "/v1/openapi.json", None))
    body = document["paths"]["/v1/test-sheets"]["post"]["requestBody"]
    assert list(body["content"]) == ["text/csv"]
    for header in ("`nir`", "`last_name`", "`nom`", "`sampled_at`", "`preleve_le`", "`key`"):
        assert header in body["description"]
