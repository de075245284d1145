"""A client generated from the API document (openapi-python-client, as an app developer would run
it on `GET /v1/openapi.json`) lists a pharmacy's team and re-sends a pending invitation: the
document's team routes are enough to call them, and their answers parse into its models. The
client's httpx transport hands each request to the app behind the Chalice test client."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from chalicelib.api.openapi import document
from tests.conftest import PHARMACY_A, World

PACKAGE = "depistage_client"


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
