"""Every `sh` block of README.md and docs/*.md, run as written against the stack `make run` starts.

The pages are written against a fresh `make run`, and they change what they run on (pharmacies
onboarded, members invited, a session ended, a test withdrawn): they run on a stack of their own,
started fresh for them, which the other stack tests never see. The rules are tests/docs.py's.
Each page runs in one bash (its blocks share variables, as in a
reader's terminal), in the project directory, with `set -o pipefail`; every command must exit 0
without a traceback, and show the HTTP status its `# NNN` comment names. What differs from a
reader's `make run` is only where the stack is (the test's own ports and state dir): the
addresses 127.0.0.1:8000 (API) and :8081 (fake PSC) become the test stack's, a `make` command
gets `STACK_FILE` from the environment, and `.venv/bin/python -m devtools.…` or `operations.…`
gets `--stack` (as tests/stack/test_operator_commands.py does). docs/operations.md is that test's:
it runs those commands with stricter rules (a summary for people, one JSON document with `--json`)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit import harness
from tests import docs

pytestmark = pytest.mark.xdist_group("stack")

PAGE_TIMEOUT = 600
RUN_ELSEWHERE = {docs.DOCS / "operations.md": "tests/stack/test_operator_commands.py"}
_DEVTOOLS = re.compile(
    r"(\.venv/bin/python -m (?:devtools|operations)\.\w+[^|;&)\n]*?)(\s*(?:[|;&)]|$))", re.M
)
_BEGIN, _END = "@@docs-command-begin", "@@docs-command-end"


def local_form(command: docs.Command, stack: dict[str, Any]) -> str:
    """The command aimed at the test's stack instead of `make run`'s .local and fixed ports."""
    text = command.text.replace("http://127.0.0.1:8000", stack["api_url"])
    text = text.replace("http://127.0.0.1:8081", stack["psc_url"])
    stack_file = Path(stack["state_dir"]) / "stack.json"
    return _DEVTOOLS.sub(lambda m: f"{m[1]} --stack {stack_file}{m[2]}", text)


def script(commands: list[docs.Command], stack: dict[str, Any]) -> str:
    lines = ["set -o pipefail"]
    for number, command in enumerate(commands):
        lines += [
            f"printf '\\n{_BEGIN} {number}\\n'",
            local_form(command, stack),
            f"printf '\\n{_END} {number} %s\\n' \"$?\"",
        ]
    return "\n".join(lines) + "\n"


def outputs(stdout: str) -> dict[int, tuple[int, str]]:
    """Each command's exit code and output (stdout and stderr), by its number."""
    found: dict[int, tuple[int, str]] = {}
    for match in re.finditer(rf"{_BEGIN} (\d+)\n(.*?)\n{_END} \1 (\d+)\n", stdout, flags=re.S):
        found[int(match[1])] = (int(match[3]), match[2])
    return found


def shows_status(output: str, status: str) -> bool:
    return bool(
        re.search(rf"^HTTP/[\d.]+ {status}\b", output, flags=re.M)
        or re.search(rf'"status": ?{status}\b', output)
        or re.search(rf"^{status}$", output, flags=re.M)
    )


def run_page(page: Path, stack: dict[str, Any]) -> None:
    commands = docs.commands(page, docs.RUN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # as a person's shell: not a make under `make test`
        env.pop(name, None)
    env["STACK_FILE"] = str(Path(stack["state_dir"]) / "stack.json")
    before = set(docs.ROOT.iterdir())
    try:
        result = subprocess.run(
            ["bash", "-c", script(commands, stack)],
            cwd=docs.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=PAGE_TIMEOUT,
            check=False,
        )
    finally:  # files a command writes in the working directory (an exported chain, a key)
        text = page.read_text(encoding="utf-8")
        for path in set(docs.ROOT.iterdir()) - before:
            if path.is_file() and path.name in text:
                path.unlink()
    done = outputs(result.stdout)
    for number, command in enumerate(commands):
        assert number in done, f"{page.name}: stopped before `{command.text}`\n{result.stdout[-3000:]}"
        code, output = done[number]
        assert code == 0, f"{page.name}: `{command.text}` exited {code}\n{output}"
        assert "Traceback" not in output, f"{page.name}: `{command.text}`\n{output}"
        if command.status:
            assert shows_status(output, command.status), (
                f"{page.name}: `{command.text}`: not {command.status}\n{output}"
            )


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The docs' own stack, as fresh as a reader's `make run`."""
    with harness.running(tmp_path_factory.mktemp("docs-stack") / "state") as info:
        yield info


def _pages() -> list[Path]:
    return [page for page in docs.pages() if page not in RUN_ELSEWHERE and docs.commands(page, docs.RUN)]


def test_the_quick_start_and_the_docs_show_commands_to_run() -> None:
    assert docs.README in _pages()
    names = {page.name for page in _pages()}
    assert {"api.md", "psc.md", "france.md", "security.md", "journal.md", "retention.md"} <= names
    for page, runner in RUN_ELSEWHERE.items():
        assert docs.commands(page, docs.RUN), (page, runner)


@pytest.mark.parametrize("page", _pages(), ids=lambda page: page.name)
def test_every_command_of_the_page_runs_as_written(fresh_stack: dict[str, Any], page: Path) -> None:
    run_page(page, fresh_stack)
