"""Fixtures of the robustness tests: fault injection (the local stack comes from tests/conftest.py)."""

from __future__ import annotations

from tests.robustness.faults import faults

__all__ = ["faults"]
