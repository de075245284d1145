"""Fixtures for tests that need the local stack running as processes (what `make run` starts).

`local_stack` starts one stack per test session (per xdist worker) on free ports in a temp
state dir, yields its parsed stack.json and stops it at the end, leaving no process behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.stack import harness


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    running = harness.start(tmp_path_factory.mktemp("local-stack") / "state")
    yield running.info
    code = harness.stop(running)
    assert code == 0, running.output_text()
    harness.assert_nothing_left(running)
