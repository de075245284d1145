"""Start, stop, restart and failure of the stack's processes (each test starts its own)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack import PROJECT_DIR, free_ports
from testkit import harness

pytestmark = pytest.mark.xdist_group("stack")


def test_ctrl_c_stops_everything_a_second_run_works_and_a_dead_child_stops_the_stack(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = harness.start(state)
    assert harness.stop(first) == 0, first.output_text()
    harness.assert_nothing_left(first)
    assert "stopped" in first.output_text()

    # Same state dir, same command: moto forgot everything, so the second run has its own pool and users.
    second = harness.start(state)
    try:
        assert second.info["user_pool_id"] != first.info["user_pool_id"]
        assert second.info["users"][0]["password"] != first.info["users"][0]["password"]
        # A part that dies takes the whole stack down, and the message says which log to read.
        os.killpg(second.info["processes"]["aws"], signal.SIGKILL)
        code = second.process.wait(timeout=harness.STOP_TIMEOUT_SECONDS)
    finally:
        harness.stop(second)
    assert code == 1, second.output_text()
    assert f"read {second.info['logs']['aws']}" in second.output_text()
    harness.assert_nothing_left(second)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("flag", "variable"), [("--api-port", "API_PORT"), ("--aws-port", "AWS_PORT")])
def test_a_busy_port_is_refused_with_a_clear_message(
    tmp_path: Path, busy_port: int, flag: str, variable: str
) -> None:
    command = harness.stack_command(tmp_path / "state")
    command[command.index(flag) + 1] = str(busy_port)
    done = subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env=harness.stack_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"port {busy_port}" in done.stderr
    assert f"{variable}=" in done.stderr
    assert not (tmp_path / "state" / "stack.json").exists()
    assert not (tmp_path / "state" / "logs").exists()


def test_ports_come_from_the_environment(tmp_path: Path, busy_port: int) -> None:
    # No port flag: SIDEP_PORT decides, and it is busy.
    api, aws = free_ports(2)
    command = [sys.executable, "-m", "devtools.stack", "--state-dir", str(tmp_path / "state")]
    env = harness.stack_env(API_PORT=str(api), AWS_PORT=str(aws), SIDEP_PORT=str(busy_port))
    done = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert f"port {busy_port}" in done.stderr
    assert "SIDEP_PORT=" in done.stderr
