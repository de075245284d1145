"""Start and stop the local stack (`python -m devtools.stack`) as processes, for tests.

Each stack gets its own state dir and free ports, so that it runs beside a developer's
`make run` and beside the other pytest-xdist worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.stack import PORT_ENV, PROJECT_DIR, port_is_free

READY_TIMEOUT_SECONDS = 90.0  # docs/local-stack.md: `make run` is ready within this on a 2-core machine
STOP_TIMEOUT_SECONDS = 30.0


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    state_dir: Path
    output: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    def output_text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""


def stack_command(state_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devtools.stack",
        "--state-dir",
        str(state_dir),
        "--api-port",
        "0",
        "--aws-port",
        "0",
        "--sidep-port",
        "0",
        "--psc-port",
        "0",
        "--export-every",
        "2",
        *extra,
    ]


def stack_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PORT_ENV.values()}
    env.update(overrides)
    return env


def launch(state_dir: Path, *extra: str, env: dict[str, str] | None = None) -> RunningStack:
    """Start the orchestrator; do not wait for it."""
    output = state_dir.parent / f"{state_dir.name}-orchestrator.log"
    with output.open("ab") as out:
        process = subprocess.Popen(
            stack_command(state_dir, *extra),
            cwd=PROJECT_DIR,
            env=env or stack_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return RunningStack(process, state_dir, output)


def wait_ready(stack: RunningStack, timeout: float = READY_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Wait for stack.json (written atomically once /v1/health answers 200) and parse it."""
    deadline = time.monotonic() + timeout
    while not stack.stack_file.exists():
        if stack.process.poll() is not None:
            raise AssertionError(
                f"the stack exited with {stack.process.returncode} before ready:\n{stack.output_text()}"
            )
        if time.monotonic() > deadline:
            stop(stack)
            raise AssertionError(f"the stack was not ready after {timeout:.0f}s:\n{stack.output_text()}")
        time.sleep(0.2)
    stack.info = json.loads(stack.stack_file.read_text())
    return stack.info


def start(state_dir: Path, *extra: str) -> RunningStack:
    stack = launch(state_dir, *extra)
    wait_ready(stack)
    return stack


@contextlib.contextmanager
def running(state_dir: Path) -> Iterator[dict[str, Any]]:
    """A whole stack for a fixture: its stack.json while it runs; then Ctrl-C, which must exit 0
    and leave no process, port or stack.json behind."""
    stack = start(state_dir)
    try:
        yield stack.info
    finally:
        code = stop(stack)
    assert code == 0, stack.output_text()
    assert_nothing_left(stack)


def stop(stack: RunningStack, sig: signal.Signals = signal.SIGINT) -> int:
    """Ctrl-C the orchestrator, as a developer would; return its exit code.

    If it does not exit in time, kill it and every child it named, so that a failing test
    leaves nothing running (the caller's assertions then fail on the exit code).
    """
    if stack.process.poll() is None:
        stack.process.send_signal(sig)
    try:
        return stack.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        for pid in stack.info.get("processes", {}).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        stack.process.wait()
        return -signal.SIGKILL


def processes_in_sessions(session_ids: set[int]) -> list[str]:
    """Live processes (pid and command) in any of these sessions: the stack's children and their own children.

    Every child of the stack leads its own session, so its pid is its session id.
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces, so split after its ")".
        fields = text[text.rindex(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session in session_ids and state != "Z":
            found.append(f"{stat.parent.name} {text[: text.rindex(')') + 1]}")
    return found


def pid_alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].split()[0] != "Z"


def ports_of(info: dict[str, Any]) -> list[int]:
    return [
        int(url.rsplit(":", 1)[1].split("/")[0])
        for url in (info["api_url"], info["aws_endpoint_url"], info["sidep_url"], info["psc_url"])
    ]


def assert_nothing_left(stack: RunningStack) -> None:
    children = set(stack.info["processes"].values())
    assert children, "stack.json names no child process"
    assert not pid_alive(stack.process.pid)
    assert processes_in_sessions(children) == []
    assert all(port_is_free(port) for port in ports_of(stack.info))
    assert not stack.stack_file.exists()
