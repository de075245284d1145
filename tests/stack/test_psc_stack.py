"""Pro Santé Connect in the stack `make run` starts: the fake PSC, `psc_users`, `make -s login`."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from devtools.fake_psc import ECPS
from devtools.stack import PROJECT_DIR

pytestmark = pytest.mark.xdist_group("stack")


def _make_login(local_stack: dict[str, Any], *assignment: str) -> subprocess.CompletedProcess[str]:
    stack_file = Path(local_stack["state_dir"], "stack.json")
    return subprocess.run(
        ["make", "-s", "login", *assignment, f"STACK_FILE={stack_file}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_stack_json_lists_the_psc_identities(local_stack: dict[str, Any]) -> None:
    users = local_stack["psc_users"]
    assert {u["finess"] for u in users} == {u["finess"] for u in local_stack["users"] if u["finess"]}
    for user in users:
        assert set(user) >= {"national_id", "rpps", "finess", "role"}
        assert user["national_id"] == "8" + user["rpps"] and len(user["rpps"]) == 11
    assert {u["behaviour"] for u in users} >= {"approves", "declines", "practises elsewhere"}
    directory = json.loads(Path(local_stack["psc_directory"]).read_text())
    # every PSC member, and pharmacists no pharmacy has invited yet (docs/psc.md invites them)
    assert {i["national_id"] for i in directory["identities"]} > {u["national_id"] for u in users}


def test_make_login_psc_prints_a_token_the_api_accepts(local_stack: dict[str, Any]) -> None:
    user = next(u for u in local_stack["psc_users"] if u["behaviour"] == "approves")
    done = _make_login(local_stack, f"PSC={user['national_id']}")
    assert done.returncode == 0, done.stderr
    (token,) = done.stdout.splitlines()  # the token alone: the binding code goes to stderr
    shown = re.search(r"binding code: ([A-Z2-9]{6})", done.stderr)
    assert shown, done.stderr
    assert f"the push showing {shown.group(1)} was approved" in done.stderr
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["username"] == user["username"] and claims["token_use"] == "access"
    assert claims["finess"] == user["finess"]
    assert _get(f"{local_stack['api_url']}/v1/tests?date=2026-11-29", token) == 200


def test_the_fake_e_cps_approves_only_the_push_showing_the_code(local_stack: dict[str, Any]) -> None:
    user = next(u for u in local_stack["psc_users"] if u["behaviour"] == "approves")
    api, ecps = local_stack["api_url"], f"{local_stack['psc_url']}{ECPS}"
    started = requests.post(f"{api}/v1/psc/logins", json={"national_id": user["national_id"]}, timeout=10)
    assert started.status_code == 201, started.text
    code = started.json()["binding_message"]
    shown = requests.get(f"{ecps}/pushes/{user['national_id']}", timeout=10).json()["pushes"]
    assert {"binding_message": code} in shown
    wrong = "".join(reversed(code)) if code != code[::-1] else "ZZZZZ2"
    refused = requests.post(
        f"{ecps}/approve", data={"national_id": user["national_id"], "binding_message": wrong}, timeout=10
    )
    assert refused.status_code == 404 and refused.json() == {"error": "no_matching_push"}
    time.sleep(started.json()["interval"])
    polled = requests.post(f"{api}/v1/psc/logins/{started.json()['login_id']}/token", timeout=10)
    assert polled.status_code == 400 and polled.json()["error"] == "authorization_pending"


def test_make_login_user_prints_a_cognito_token(local_stack: dict[str, Any]) -> None:
    done = _make_login(local_stack, "USER=pharmacist-b")
    assert done.returncode == 0, done.stderr
    (token,) = done.stdout.splitlines()
    assert jwt.decode(token, options={"verify_signature": False})["username"] == "pharmacist-b"


@pytest.mark.parametrize(
    ("behaviour", "error"), [("declines", "access_denied"), ("practises elsewhere", "403")]
)
def test_make_login_psc_fails_clearly_when_refused(
    local_stack: dict[str, Any], behaviour: str, error: str
) -> None:
    user = next(u for u in local_stack["psc_users"] if u["behaviour"] == behaviour)
    done = _make_login(local_stack, f"PSC={user['national_id']}")
    assert done.returncode != 0 and done.stdout == ""
    assert error in done.stderr


def test_the_readme_s_invitation_by_rpps_reads_the_directory_with_the_stack_s_api_key(
    local_stack: dict[str, Any],
) -> None:
    """The invitation under "Members by national identifier": the API asks the fake PSC's
    Annuaire Santé searches with the key the stack put in Secrets Manager (else it would be 503)."""
    done = _make_login(local_stack, "USER=admin-a")
    assert done.returncode == 0, done.stderr
    (token,) = done.stdout.splitlines()
    request = urllib.request.Request(
        f"{local_stack['api_url']}/v1/admin/pharmacies/750000010/members",
        data=json.dumps({"rpps": "10000000058", "role": "pharmacist"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        assert json.loads(response.read())["username"] == "psc-810000000058"
