"""The commands of docs/operations.md, run as it writes them against the local stack:
exit 0, a summary for people on stdout and no log line there, `--json` parses, and a missing
setting is one line on stderr and exit 2."""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devtools.login import login_stack_user
from devtools.stack import PROJECT_DIR
from testkit.patients import screening_body
from tests import docs
from tests.conftest import PHARMACY_A

pytestmark = pytest.mark.xdist_group("stack")

PAGE = docs.DOCS / "operations.md"
COMMAND_TIMEOUT = 120


def page_commands() -> list[str]:
    """The commands of the page's `sh` blocks (comments dropped), in order (tests/docs.py's rules)."""
    return [command.text for command in docs.commands(PAGE, docs.RUN)]


def local_form(command: str, stack_file: str) -> list[str]:
    """The command aimed at the test's stack (the page's run against `make run`'s .local)."""
    argv = shlex.split(command)
    if argv[0] == "make":
        return [*argv, f"STACK_FILE={stack_file}"]
    return [*argv, "--stack", stack_file]


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # as a person's shell: not a make under `make test`
        env.pop(name, None)
    return subprocess.run(
        argv,
        cwd=PROJECT_DIR,
        env={**env, **kwargs.pop("env", {})},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        **kwargs,
    )


def assert_for_people(result: subprocess.CompletedProcess[str], command: str) -> None:
    assert result.returncode == 0, f"{command}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), command
    for line in result.stdout.splitlines():
        assert not line.lstrip().startswith("{"), f"{command} printed a log or JSON line: {line}"
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def busy_stack(local_stack: dict[str, Any]) -> dict[str, Any]:
    """The stack with a record created and exported, so that chains, the queue and a last run exist."""
    token = login_stack_user(local_stack, "pharmacist-a")["AccessToken"]
    request = urllib.request.Request(
        f"{local_stack['api_url']}/v1/tests",
        data=json.dumps(screening_body(0, "negative")).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        assert answer.status == 201
    last_run = Path(local_stack["export_last_run"])
    deadline = time.monotonic() + 180  # the stack's export loop runs every 2 s; others may queue first
    while time.monotonic() < deadline:
        busy = json.loads(last_run.read_text()).get("last_busy") if last_run.exists() else None
        if busy and busy["summary"]["acknowledged"]:
            return local_stack
        time.sleep(0.5)
    raise AssertionError("the stack's export loop acknowledged nothing in 180 s")


def test_the_operations_page_lists_every_operator_command() -> None:
    commands = " ".join(page_commands())
    for expected in (
        "make status",
        "make verify-audit",
        "make breach-scope",
        "make export",
        "make retry",
        "make redrive",
        "make help",
        "make purge DRY_RUN=1",
        "operations.status",
        "operations.verify_audit --all",
        "operations.breach_scope",
        "operations.export run",
        "operations.export retry",
        "operations.export redrive",
        "operations.purge --dry-run",
    ):
        assert expected in commands, expected


def test_every_command_of_the_operations_page_runs_for_people(busy_stack: dict[str, Any]) -> None:
    stack_file = str(Path(busy_stack["state_dir"]) / "stack.json")
    for command in page_commands():
        result = run(local_form(command, stack_file))
        if "--json" in command or "JSON=1" in command:
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["target"].startswith("local stack"), command
        else:
            assert_for_people(result, command)


def test_status_shows_the_queue_the_last_run_and_the_chains(busy_stack: dict[str, Any]) -> None:
    stack_file = str(Path(busy_stack["state_dir"]) / "stack.json")
    result = run([".venv/bin/python", "-m", "operations.status", "--stack", stack_file])
    assert_for_people(result, "status")
    for part in ("export queue:", "dead letters: 0", "last export run:", PHARMACY_A):
        assert part in result.stdout, part
    document = json.loads(
        run([".venv/bin/python", "-m", "operations.status", "--json", "--stack", stack_file]).stdout
    )
    assert document["dead_letters"]["records"] == 0
    assert document["last_export_run"]["last_busy"]["summary"]["acknowledged"] >= 1
    assert PHARMACY_A in [c["chain"] for c in document["audit_chains"]]
    assert document["attention"] == []


@pytest.mark.parametrize(
    "argv",
    [
        ["operations.status"],
        ["operations.verify_audit", "--all"],
        ["operations.export", "run"],
        ["operations.export", "redrive"],
        ["operations.export", "retry"],
        ["operations.purge", "--dry-run"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_json_is_one_document(busy_stack: dict[str, Any], argv: list[str]) -> None:
    stack_file = str(Path(busy_stack["state_dir"]) / "stack.json")
    result = run([".venv/bin/python", "-m", *argv, "--json", "--stack", stack_file])
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # one document: no log line, no metrics blob around it
    assert document["target"].startswith("local stack")
    assert "_aws" not in result.stdout and "_aws" not in result.stderr  # no EMF metrics anywhere


def test_verify_all_reports_each_chain_and_the_totals(busy_stack: dict[str, Any]) -> None:
    stack_file = str(Path(busy_stack["state_dir"]) / "stack.json")
    result = run([".venv/bin/python", "-m", "operations.verify_audit", "--all", "--stack", stack_file])
    assert_for_people(result, "verify_audit --all")
    assert f"chain {PHARMACY_A}:" in result.stdout and re.search(r"\d+ intact, 0 broken", result.stdout)


def test_a_mistyped_chain_is_an_unknown_chain_not_an_intact_one(busy_stack: dict[str, Any]) -> None:
    stack_file = str(Path(busy_stack["state_dir"]) / "stack.json")
    result = run(["make", "verify-audit", "CHAIN=999", f"STACK_FILE={stack_file}"])
    assert result.returncode != 0 and "intact" not in result.stdout
    assert "unknown chain" in result.stderr, result.stderr


def test_progress_goes_to_a_terminal_on_stderr_and_never_to_stdout(busy_stack: dict[str, Any]) -> None:
    stack_file = str(Path(busy_stack["state_dir"]) / "stack.json")
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [".venv/bin/python", "-m", "operations.verify_audit", "--all", "--stack", stack_file],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        os.close(follower)
        follower = -1
        written = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            written += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert "\x1b" not in result.stdout and "intact" in result.stdout
    assert b"verifying audit chains" in written or b"chain" in written


def test_a_missing_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "stack.json"
    for argv in (
        [".venv/bin/python", "-m", "operations.status", "--stack", str(missing)],
        [".venv/bin/python", "-m", "operations.verify_audit", "--all", "--stack", str(missing)],
    ):
        result = run(argv)
        assert result.returncode == 2, result
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "not found" in lines[0] and "make run" in lines[0], result.stderr
    result = run(["make", "status", f"STACK_FILE={missing}"])
    assert result.returncode == 2 and "not found" in result.stderr and "Traceback" not in result.stderr
