"""Where a test lives says what kind it is (pyproject.toml declares one marker per folder of tests/)."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).parent


def folder_of(path: Path) -> str:
    """The kind of a test: the folder under tests/ that holds it."""
    return path.resolve().relative_to(TESTS_DIR.resolve()).parts[0]
