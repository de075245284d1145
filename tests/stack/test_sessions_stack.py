"""A user disabled at Cognito in the stack `make run` starts: docs/security.md's commands, as written."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devtools.stack import PROJECT_DIR

pytestmark = pytest.mark.xdist_group("stack")


def _make(local_stack: dict[str, Any], *words: str) -> subprocess.CompletedProcess[str]:
    stack_file = Path(local_stack["state_dir"], "stack.json")
    return subprocess.run(
        ["make", "-s", *words, f"STACK_FILE={stack_file}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_a_user_disabled_at_cognito_is_refused_on_their_next_request(local_stack: dict[str, Any]) -> None:
    url = f"{local_stack['api_url']}/v1/tests?date=2026-11-29"
    login = _make(local_stack, "login", "USER=admin-b")
    assert login.returncode == 0, login.stderr
    token = login.stdout.strip()
    assert _status(url, token) == 200
    disabled = _make(local_stack, "cognito", "DO=disable", "USER=admin-b")
    assert disabled.returncode == 0, disabled.stderr
    delay = re.search(r"access tokens ended ([0-9.]+) ms after Cognito's answer", disabled.stdout)
    assert delay, disabled.stdout
    assert _status(url, token) == 401
    enabled = _make(local_stack, "cognito", "DO=enable", "USER=admin-b")
    assert enabled.returncode == 0, enabled.stderr
    time.sleep(1.1)  # the disable refuses every token issued until its second
    again = _make(local_stack, "login", "USER=admin-b")
    assert again.returncode == 0, again.stderr
    fresh = again.stdout.strip()
    assert _status(url, fresh) == 200
    # journaled on the pharmacy's chain, which its admin reads
    events: list[dict[str, Any]] = []
    cursor: str | None = ""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while cursor is not None:
        page = f"{local_stack['api_url']}/v1/audit" + (
            f"?{urllib.parse.urlencode({'cursor': cursor})}" if cursor else ""
        )
        request = urllib.request.Request(page, headers={"Authorization": f"Bearer {fresh}"})
        with opener.open(request, timeout=10) as response:
            body = json.loads(response.read())
        events += body["items"]
        cursor = body.get("next_cursor")
    assert any(e["action"] == "end_sessions" and e["actor"] == "system:identity-provider" for e in events)
