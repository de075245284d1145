"""The `sh dry-run` blocks of README.md and docs/*.md: commands for a real AWS account, or the set-up
itself, checked without running them (tests/docs.py's rules). Each is valid bash; a `make` command
is a target make accepts with those variables (`make -n`); a `python -m` command's module answers
`--help`; an `aws` command names an operation of the service and only that operation's parameters
(botocore's model); a `curl` to `$API` names a route and method of the API document. A command the
prose shows inline (`make soak RECORDS=500`) names a target of the Makefile or a module that exists."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import botocore.session
import pytest

from tests import docs

CLI_OPTIONS = {"region", "query", "output", "profile", "endpoint-url"}  # the AWS CLI's own
CLI_SERVICES = {"s3api": "s3"}
OPENAPI = docs.ROOT / "tests" / "api" / "openapi_reference.json"


def _dry_commands() -> list[docs.Command]:
    return [command for page in docs.pages() for command in docs.commands(page, docs.DRY_RUN)]


def _unwrapped(text: str) -> str:
    """`NAME=$(command)` is the command."""
    match = re.fullmatch(r"\w+=\$\((.*)\)", text, flags=re.S)
    return match[1] if match else text


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


def _check_make(words: list[str]) -> None:
    result = subprocess.run(
        ["make", "-n", *words[1:]],
        cwd=docs.ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (words, result.stderr)


def _check_python(words: list[str]) -> None:
    assert words[:2] == [".venv/bin/python", "-m"], words
    result = subprocess.run(
        [".venv/bin/python", "-m", words[2], "--help"],
        cwd=docs.ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "usage" in result.stdout, (words, result.stderr)
    for option in (w.split("=", 1)[0] for w in words[3:] if w.startswith("--")):
        assert option in result.stdout, (words, option)


def _check_aws(words: list[str]) -> None:
    service, operation = CLI_SERVICES.get(words[1], words[1]), words[2]
    model = botocore.session.get_session().get_service_model(service)
    by_cli_name = {re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower(): name for name in model.operation_names}
    assert operation in by_cli_name, (words, operation)
    shape = model.operation_model(by_cli_name[operation]).input_shape
    members = {m.lower() for m in (shape.members if shape is not None else {})}
    for option in (w[2:] for w in words[3:] if w.startswith("--")):
        assert option in CLI_OPTIONS or option.replace("-", "") in members, (words, option)


def _check_curl(words: list[str]) -> None:
    paths = json.loads(OPENAPI.read_text())["paths"]
    method = words[words.index("-X") + 1] if "-X" in words else "GET"
    (url,) = [w for w in words if w.startswith("$API/")]
    path = "/v1" + url.removeprefix("$API")
    matching = [p for p in paths if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path)]
    assert matching and method.lower() in paths[matching[0]], (words, path, method)


CHECKS = {"make": _check_make, ".venv/bin/python": _check_python, "aws": _check_aws, "curl": _check_curl}


def test_the_docs_have_dry_run_blocks_and_each_is_valid_bash() -> None:
    blocks = [block for page in docs.pages() for block in docs.blocks(page, docs.DRY_RUN)]
    assert {block.page.name for block in blocks} >= {"README.md", "deployment.md"}
    for block in blocks:
        result = subprocess.run(["bash", "-n"], input=block.body, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (block.page.name, block.body, result.stderr)


@pytest.mark.parametrize(
    "command", _dry_commands(), ids=lambda c: f"{c.page.name}: {_unwrapped(c.text).split()[0]} {c.text[:40]}"
)
def test_every_dry_run_command_names_what_exists(command: docs.Command) -> None:
    words = docs.Command(command.page, _unwrapped(command.text), None).words
    assert words[0] in CHECKS, f"{command.page.name}: no dry check for `{command.text}`"
    CHECKS[words[0]](words)


def test_the_readme_set_up_commands_are_make_run_and_make_test() -> None:
    assert [c.text for c in docs.commands(docs.README, docs.DRY_RUN)] == ["make run", "make test"]
    assert Path(docs.ROOT / "Makefile").is_file()


def _inline(pattern: str) -> list[tuple[str, str]]:
    return [
        (page.name, match)
        for page in docs.pages()
        for match in re.findall(pattern, page.read_text(encoding="utf-8"))
    ]


def test_every_make_target_the_prose_names_is_one_of_the_makefile() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (docs.ROOT / "Makefile").read_text(), flags=re.M))
    named = _inline(r"`make (?:-s )?([a-z][\w-]*)")
    assert len(named) > 50
    for page, target in named:
        assert target in targets, (page, target)


def test_every_module_the_prose_runs_exists() -> None:
    named = _inline(r"`[^`]*python -m ([\w.]+)")
    assert named
    for page, module in named:
        assert importlib.util.find_spec(module) is not None, (page, module)
