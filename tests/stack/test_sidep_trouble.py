"""The on-call operator against the local stack, with the fake SI-DEP's faults: an outage is named
at once by `make status`, `make retry` ends it, rejections reach the pharmacy, and a dead letter
goes back with `make redrive`. Every command is run as docs/operations.md writes it (make, STACK_FILE=)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.login import login_stack_user
from devtools.stack import PROJECT_DIR
from testkit import harness
from testkit.patients import screening_body

pytestmark = pytest.mark.xdist_group("stack")

DAY = "2026-11-29"  # screening_body's sampling day
# The harness's export loop runs every 2 s and the stream trigger polls every second; a `make`
# command itself takes a few seconds to start on a loaded 2-core machine.
EXPORT_CYCLE_SECONDS = 2.0
SETTLE_SECONDS = 30.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def make(stack: dict[str, Any], *args: str, shell_tail: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    stack_file = str(Path(stack["state_dir"]) / "stack.json")
    command = ["make", "-s", *args, f"STACK_FILE={stack_file}"]
    # shell_tail, e.g. `| head -1`: through bash, the make's own exit code kept (pipefail)
    argv = ["bash", "-o", "pipefail", "-c", f"{' '.join(command)} {shell_tail}"] if shell_tail else command
    return subprocess.run(
        argv, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def faults(stack: dict[str, Any], **values: Any) -> None:
    path = Path(stack["state_dir"]) / "sidep" / "faults.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values))
    tmp.replace(path)


class Api:
    def __init__(self, stack: dict[str, Any], username: str) -> None:
        self.url = stack["api_url"]
        self.token = login_stack_user(stack, username)["AccessToken"]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        try:
            with OPENER.open(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def create(self, index: int) -> str:
        status, body = self.call("POST", "/v1/tests", screening_body(index, "negative"))
        assert status == 201, body
        return str(body["id"])

    def delivery(self, record_id: str) -> dict[str, Any]:
        status, body = self.call("GET", f"/v1/tests/{record_id}/delivery")
        assert status == 200, body
        return dict(body)


def until(what: str, check: Callable[[], Any], timeout: float = SETTLE_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.3)


def states(api: Api, ids: list[str]) -> set[str]:
    return {api.delivery(i)["state"] for i in ids}


@pytest.fixture
def clear_faults(local_stack: dict[str, Any]) -> Iterator[dict[str, Any]]:
    try:
        yield local_stack
    finally:
        faults(local_stack)


def test_an_outage_is_named_at_once_and_make_retry_ends_it(
    clear_faults: dict[str, Any], tmp_path: Path
) -> None:
    stack = clear_faults
    api = Api(stack, "pharmacist-a")
    faults(stack, down=True)
    ids = [api.create(0), api.create(1)]
    started = time.monotonic()

    took: list[float] = []

    def attention() -> subprocess.CompletedProcess[str] | None:
        began = time.monotonic()
        result = make(stack, "status")
        took.append(time.monotonic() - began)
        return result if result.returncode == 1 else None

    result = until("make status exits 1", attention)
    named_within = time.monotonic() - started
    # within two export cycles (and the trigger's 1 s window), give or take the two `make status`
    # runs around the moment it became true
    assert named_within < 2 * EXPORT_CYCLE_SECONDS + 1.0 + 2 * max(took), (named_within, took)
    first = result.stdout.splitlines()[0]
    assert first.startswith("needs attention: SI-DEP is failing ("), result.stdout
    waiting = int(re.search(r"(\d+) record\(s\) waiting to retry", first).group(1))  # type: ignore[union-attr]
    assert waiting >= len(ids), first
    view = api.delivery(ids[0])
    assert (view["status"], view["state"]) == ("sent", "retrying") and view["error_category"], view

    faults(stack)
    retried = make(stack, "retry")
    assert retried.returncode == 0, retried.stderr
    assert re.search(r"\d+ record\(s\) waiting to retry are due now", retried.stdout), retried.stdout
    asked = time.monotonic()
    until("every waiting record acknowledged", lambda: states(api, ids) == {"acknowledged"}, timeout=15)
    assert time.monotonic() - asked < 15
    healthy = until("make status exits 0", lambda: (r := make(stack, "status")).returncode == 0 and r)
    assert healthy.stdout.startswith("healthy: SI-DEP acknowledged batch "), healthy.stdout

    # CLI manners on the same stack: a closed pipe ends quietly, JSON=1 is one document, help lists retry
    piped = make(stack, "status", shell_tail="| head -1")
    assert piped.returncode == 0 and piped.stdout.startswith("healthy:"), piped
    assert piped.stderr == "", piped.stderr
    document = json.loads(make(stack, "status", "JSON=1").stdout)
    assert document["sidep"]["failing"] is None and document["sidep"]["waiting"]["retrying"] == 0
    verbose = make(stack, "status", "V=1")
    assert "reading the service's state: the export queue" in verbose.stderr, verbose.stderr
    assert "make retry" in make(stack, "help").stdout
    log = tmp_path / "status.log"
    log.write_text("an earlier line\n")
    appended = make(stack, "status", shell_tail=f">> {log}")  # a log it appends to keeps what it had
    assert appended.returncode == 0 and log.read_text().startswith("an earlier line\nhealthy:"), appended
    piped_help = make(stack, "help", shell_tail="| head -1")  # help's own line says it ends quietly
    assert piped_help.returncode == 0 and piped_help.stderr == "", piped_help


def test_rejections_reach_the_operator_and_the_pharmacy_and_the_correction_goes_out(
    clear_faults: dict[str, Any],
) -> None:
    stack = clear_faults
    api = Api(stack, "pharmacist-a")
    faults(stack, ae_share=1.0)
    ids = [api.create(2), api.create(3)]
    until("both rejected", lambda: states(api, ids) == {"rejected"})

    result = make(stack, "status")
    assert result.returncode == 1, result.stdout
    assert (
        "rejected by SI-DEP, for their pharmacy to correct: 207 application internal error" in result.stdout
    )
    view = api.delivery(ids[0])
    assert view["status"] == "rejected" and view["rejection"] == {
        "ack_code": "AE",
        "code": "207",
        "category": "application internal error",
    }
    status, page = api.call("GET", f"/v1/tests?date={DAY}&status=rejected")
    assert status == 200 and set(ids) <= {item["id"] for item in page["items"]}, page
    status, stats = Api(stack, "admin-a").call("GET", f"/v1/stats?from={DAY}&to={DAY}")
    assert status == 200, stats
    counted = [r for r in stats["rejections"] if r["code"] == "207"]
    assert counted and counted[0]["category"] == "application internal error", stats["rejections"]
    assert counted[0]["records"] >= len(ids)

    faults(stack)
    for record_id in ids:  # the pharmacist corrects each one: it goes out as usual
        status, body = api.call("PUT", f"/v1/tests/{record_id}/result", {"result": "positive"})
        assert status == 200, body
    until("the corrections acknowledged", lambda: states(api, ids) == {"acknowledged"})
    assert make(stack, "status").returncode == 0


def test_a_dead_letter_with_one_attempt_goes_back_with_make_redrive(tmp_path: Path) -> None:
    """`EXPORT_MAX_ATTEMPTS=1 make run`: a record fails for good at its first failed attempt."""
    running = harness.launch(tmp_path / "state", env=harness.stack_env(EXPORT_MAX_ATTEMPTS="1"))
    try:
        stack = harness.wait_ready(running)
        api = Api(stack, "pharmacist-a")
        faults(stack, down=True)
        record_id = api.create(0)
        until("a dead letter", lambda: api.delivery(record_id)["state"] == "dead_letter")
        view = api.delivery(record_id)
        assert view["status"] == "sent" and view["attempts"] == 1 and view["error_category"], view
        result = make(stack, "status")
        assert result.returncode == 1 and "1 dead letter(s): make redrive" in result.stdout, result.stdout
        exported = make(stack, "export", "EXPORT_MAX_ATTEMPTS=1")
        assert exported.returncode == 0, exported  # nothing due: a dead letter waits for the operator

        faults(stack)
        redriven = make(stack, "redrive")
        assert redriven.returncode == 0 and "1 dead letter(s) back" in redriven.stdout, redriven
        until("acknowledged", lambda: api.delivery(record_id)["state"] == "acknowledged", timeout=15)
        assert make(stack, "status").returncode == 0
    finally:
        assert harness.stop(running) == 0, running.output_text()
