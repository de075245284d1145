"""The local stack answers as the deployed gateway does: an unknown route or method is a fixed
problem+json 404 that quotes nothing of the request, every line of api.log is JSON, and an access
token older than 15 minutes is refused whatever its issuer's lifetime."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.adapters.session_tokens import KmsPublicKeys, KmsSessionTokenIssuer
from chalicelib.config import load_settings
from testkit.fakes import FixedClock

pytestmark = pytest.mark.xdist_group("stack")

# Distinctive values: none may come back in any part of an answer.
SENT_HEADERS = {
    "Authorization": "Bearer eyJ-MARKER-AUTHORIZATION-7f3a9c",
    "Cookie": "session=MARKER-COOKIE-51d2",
    "X-Api-Key": "MARKER-API-KEY-88e1",  # pragma: allowlist secret
    "User-Agent": "MARKER-AGENT-0c4b",
    "Referer": "https://MARKER-REFERER-9a.example/",
}
UNKNOWN = [
    ("GET", "/v1/test"),
    ("POST", "/v1/test/MARKER-PATH-3b"),
    ("GET", "/"),
    ("DELETE", "/v1/health"),
    ("PATCH", "/v1/tests"),
    ("PUT", "/v1/openapi.json"),
    ("TRACE", "/v1/tests"),
    ("HEAD", "/v1/test"),
    ("CONNECTX", "/v1/health"),
]


def _request(api_url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
    """(status, every header of the answer as text, its body) of one raw request."""
    url = urllib.parse.urlsplit(api_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=15)
    try:
        connection.request(method, path + "?q=MARKER-QUERY-6d", headers=headers)
        response = connection.getresponse()
        return response.status, str(response.headers), response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.mark.parametrize(("method", "path"), UNKNOWN)
def test_an_unknown_route_or_method_is_a_problem_404_that_echoes_no_header(
    local_stack: dict[str, Any], method: str, path: str
) -> None:
    status, headers, body = _request(local_stack["api_url"], method, path, SENT_HEADERS)
    assert status == 404, (method, path, status, body)
    assert "application/problem+json" in headers
    if method != "HEAD":
        assert json.loads(body) == {
            "type": "tag:depistage.fr,2026:problems/route-not-found",
            "title": "Not found",
            "status": 404,
            "detail": "Not found.",
        }
    answer = headers + body
    for value in SENT_HEADERS.values():
        assert value not in answer, value
    assert "MARKER" not in answer  # nor any part of a header, the path or the query


def test_every_line_of_the_api_log_is_json(local_stack: dict[str, Any]) -> None:
    for method, path in UNKNOWN[:3]:
        _request(local_stack["api_url"], method, path, SENT_HEADERS)
    _request(local_stack["api_url"], "GET", "/v1/health", {})
    lines = Path(local_stack["logs"]["api"]).read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    text = "\n".join(lines)
    assert "MARKER" not in text  # neither the headers nor the path's values nor the query
    assert '"resourcePath": "/v1/health"' in text


def _session_token(local_stack: dict[str, Any], username: str, issued: datetime) -> str:
    """A PSC session token of the stack's own issuer (its KMS key on moto), issued at `issued` and
    valid an hour by its `exp`, as moto's Cognito tokens are."""
    settings = load_settings(local_stack["env"])
    kms = boto3.client(
        "kms",
        endpoint_url=local_stack["aws_endpoint_url"],
        region_name=local_stack["region"],
        aws_access_key_id="testing",  # pragma: allowlist secret
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )
    keys = KmsPublicKeys(kms, settings.session_key_id)
    issuer = KmsSessionTokenIssuer(
        kms, keys, settings.session_key_id, settings.effective_session_issuer, 3600, FixedClock(issued)
    )
    return issuer.issue(username, "750000010")[0]


def test_a_token_older_than_fifteen_minutes_is_refused_though_its_exp_is_an_hour(
    local_stack: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    fresh = _session_token(local_stack, "nobody-here", now - timedelta(minutes=14))
    stale = _session_token(local_stack, "nobody-here", now - timedelta(minutes=16))
    fresh_status, _, _ = _request(
        local_stack["api_url"], "GET", "/v1/tests", {"Authorization": f"Bearer {fresh}"}
    )
    status, headers, body = _request(
        local_stack["api_url"], "GET", "/v1/tests", {"Authorization": f"Bearer {stale}"}
    )
    assert fresh_status == 403  # verified, then no membership: the age is what refuses the other
    assert status == 401 and "application/problem+json" in headers
    assert "expired" in json.loads(body)["detail"] and stale not in body
