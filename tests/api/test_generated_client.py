"""A client generated from the API document (openapi-python-client, as an app developer would run
it on `GET /v1/openapi.json`) lists a pharmacy's team and re-sends a pending invitation: the
document's team routes are enough to call them, and their answers parse into its models. An app
built on it switches on a problem's type and on each field error's code, and shows them in French
from the catalogue the repository ships (docs/errors.fr.json). The client's httpx transport hands
each request to the app behind the Chalice test client."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from chalicelib.api.openapi import document
from testkit.patients import screening_body
from tests.conftest import PHARMACY_A, World

PACKAGE = "depistage_client"
FRENCH: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "errors.fr.json").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    where = tmp_path_factory.mktemp("client")
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document()), encoding="utf-8")
    generate = "from openapi_python_client.cli import app; app()"
    arguments = ["generate", "--path", str(spec), "--output-path", str(where / PACKAGE), "--meta", "none"]
    result = subprocess.run(
        [sys.executable, "-c", generate, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # every route and schema understood
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _client(generated: ModuleType, world: World, username: str) -> Any:
    def through_the_app(request: httpx.Request) -> httpx.Response:
        answer = world.client.http.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            body=request.content,
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.body)

    return generated.AuthenticatedClient(
        base_url="http://depistage.test",
        token=world.token(username),
        httpx_args={"transport": httpx.MockTransport(through_the_app)},
    )


def test_a_generated_client_lists_the_team_and_re_sends_a_pending_invitation(
    generated: ModuleType, world: World
) -> None:
    invited = world.call(
        "POST",
        f"/v1/admin/pharmacies/{PHARMACY_A}/members",
        "admin-a",
        {"email": "adjointe@example.org", "role": "pharmacist"},
    )
    username = json.loads(invited.body)["username"]
    client = _client(generated, world, "admin-a")
    api = importlib.import_module(f"{PACKAGE}.api.default")

    team = importlib.import_module(f"{api.__name__}.list_members").sync(finess=PHARMACY_A, client=client)
    members = {member.username: member for member in team.members}
    assert set(members) == {"admin-a", "pharmacist-a", username}
    assert members[username].invitation == "pending" and members[username].login == "cognito"

    resend = importlib.import_module(f"{api.__name__}.resend_invitation")
    answer = resend.sync_detailed(finess=PHARMACY_A, username=username, client=client)
    assert answer.status_code == 200 and answer.parsed.username == username

    refused = resend.sync_detailed(finess=PHARMACY_A, username="pharmacist-b", client=client)
    assert refused.status_code == 404 and refused.parsed.status == 404  # a Problem, parsed


def _shown_in_french(problem: Any) -> list[str]:
    """What a French app shows for a problem: it switches on the type, then on each field's code,
    and falls back to the English words for a type or code it does not know (`type_`: the
    generator's name for `type`)."""
    match problem.type_:
        case "tag:depistage.fr,2026:problems/validation-failed":
            return [f"{e.field} : {FRENCH['field_errors'].get(e.code, e.message)}" for e in problem.errors]
        case "tag:depistage.fr,2026:problems/no-pending-invitation":
            return ["Rien à renvoyer. " + FRENCH["problem_types"][problem.type_]]
        case _:
            return [FRENCH["problem_types"].get(problem.type_, problem.detail)]


def test_a_generated_client_switches_on_problem_types_and_error_codes(
    generated: ModuleType, world: World
) -> None:
    client = _client(generated, world, "pharmacist-a")
    create = importlib.import_module(f"{PACKAGE}.api.default.create_test")
    body = screening_body(0)
    body["patient"]["sex"] = "M"  # the NIR says F
    submission = importlib.import_module(f"{PACKAGE}.models").Submission.from_dict(body)
    refused = create.sync_detailed(client=client, body=submission)
    assert refused.status_code == 400
    problem = refused.parsed
    assert [(e.field, e.code) for e in problem.errors] == [("patient.nir", "nir_sex_mismatch")]
    assert _shown_in_french(problem) == ["patient.nir : Le NIR ne correspond pas au sexe indiqué."]

    admin = _client(generated, world, "admin-a")
    resend = importlib.import_module(f"{PACKAGE}.api.default.resend_invitation")
    accepted = resend.sync_detailed(finess=PHARMACY_A, username="pharmacist-a", client=admin)
    assert accepted.status_code == 409
    assert _shown_in_french(accepted.parsed) == [
        "Rien à renvoyer. Ce membre n'a pas d'invitation en attente."
    ]
