"""Fixtures of the export tests: a fake SI-DEP receiver on a free port, a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.fake_sidep import FakeSidep
from testkit.fakes import FixedClock


@pytest.fixture
def sidep(tmp_path: Path) -> Iterator[FakeSidep]:
    with FakeSidep(tmp_path / "sidep") as receiver:
        yield receiver


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()
