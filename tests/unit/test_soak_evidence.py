"""The soak keeps the evidence of every 5xx it meets (devtools/soak.py): the answer's problem body,
its X-Request-Id and the stack's log lines that name it, printed in the verdict and the report."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests
from requests.adapters import BaseAdapter

from devtools import soak
from devtools.load import Stats

PROBLEM = {
    "type": "tag:depistage.fr,2026:problems/service-unavailable",
    "title": "Service unavailable",
    "status": 503,
    "detail": "busy; retry.",
}


class Canned(BaseAdapter):
    """A transport that answers every request with `status` and a problem body."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def send(
        self,
        request: requests.PreparedRequest,
        stream: Any = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = self.status
        response.headers["X-Request-Id"] = f"rid-{self.status}"
        response.headers["Retry-After"] = "1"
        response._content = json.dumps(PROBLEM).encode()
        response.request = request
        return response

    def close(self) -> None:
        pass


def _client(status: int, kept: list[soak.ServerError]) -> soak.SoakClient:
    client = soak.SoakClient("http://127.0.0.1:1", "token", "pharmacist-a", Stats(), random.Random(1), 1e12)
    client.server_errors = kept
    client.session.mount("http://", Canned(status))
    return client


def test_a_5xx_answer_is_kept_with_its_problem_body_and_request_id() -> None:
    kept: list[soak.ServerError] = []
    _client(503, kept)._send("PUT", "/v1/tests/x/result", "result", 5.0, data="{}")
    _client(200, kept)._send("GET", "/v1/tests/x", "read", 5.0)
    assert [(e.method, e.kind, e.status, e.request_id, e.problem) for e in kept] == [
        ("PUT", "result", 503, "rid-503", PROBLEM)
    ]


def test_the_evidence_kept_is_bounded_while_every_5xx_is_counted() -> None:
    kept: list[soak.ServerError] = []
    client = _client(503, kept)
    for _ in range(soak.EVIDENCE_LIMIT + 3):
        client._send("PUT", "/v1/tests/x/result", "result", 5.0)
    assert len(kept) == soak.EVIDENCE_LIMIT
    assert client.stats.statuses["PUT 503"] == soak.EVIDENCE_LIMIT + 3


def test_the_stack_log_lines_naming_the_request_id_are_found_in_every_process_log(tmp_path: Path) -> None:
    api, export = tmp_path / "api.log", tmp_path / "export.log"
    naming = '{"correlation_id":"rid-1","message":"audit journal unavailable"}'
    api.write_text(naming + '\n{"correlation_id":"rid-2"}\n')
    export.write_text("nothing\nrid-1 seen here too\n")
    logs = {"api": str(api), "export": str(export), "gone": str(tmp_path / "missing.log")}
    assert soak.log_lines(logs, "rid-1") == [f"api: {naming}", "export: rid-1 seen here too"]
    assert soak.log_lines(logs, "rid-1", limit=1) == [f"api: {naming}"]
    assert soak.log_lines(logs, "") == []  # an answer without an id names no line


def test_the_verdict_and_the_report_print_each_5xx_with_its_evidence() -> None:
    evidence = soak.ServerError("PUT", "result", 503, "rid-9", PROBLEM, ["api: line naming rid-9"])
    report: dict[str, Any] = {
        "server_error_evidence": [asdict(evidence)],
        "server_errors": 1,
        "statuses": {"PUT 503": 1},
    }
    lines = soak.evidence_lines(report)
    assert lines[0].startswith("PUT result answered 503, X-Request-Id rid-9: ")
    assert json.loads(lines[0].split(": ", 1)[1]) == PROBLEM
    assert lines[1] == "  api: line naming rid-9"
    evidence.log_lines = []
    report["server_error_evidence"] = [asdict(evidence)]
    assert soak.evidence_lines(report)[1] == "  (no log line names this request id)"
