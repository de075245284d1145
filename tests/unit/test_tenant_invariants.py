"""A tenant invariant is checked by a raise, never an `assert` (which `python -O` strips): a caller
whose membership names no pharmacy is refused, and the refusal journaled, before anything is read."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.errors import Forbidden
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.stats import StatsQuery
from chalicelib.payloads import AuditQuery
from chalicelib.ports import RequestMeta
from chalicelib.services.access import pharmacy_of
from chalicelib.services.call import Call
from chalicelib.services.journal import read_audit
from chalicelib.services.stats import StatsDeps, read_stats
from testkit.fakes import FakeJournal

ONE_DAY = StatsQuery(date(2026, 11, 29), date(2026, 11, 29))
PACKAGE = Path(__file__).resolve().parents[2] / "chalicelib"


class NoReads:
    """A store any read of which fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"read {name} for a caller without a pharmacy")


def test_a_record_role_without_a_pharmacy_is_refused() -> None:
    journal = FakeJournal()
    with pytest.raises(Forbidden, match="names no pharmacy"):
        pharmacy_of(journal, Call(Principal("p", Role.PHARMACIST, None), RequestMeta("r")), "list")
    assert journal.actions() == [("list", "denied")]
    assert journal.events[0].reason == "no pharmacy"


def test_stats_of_an_admin_without_a_pharmacy_are_refused() -> None:
    journal = FakeJournal()
    deps = StatsDeps(store=NoReads(), journal=journal)
    with pytest.raises(Forbidden):
        read_stats(deps, Call(Principal("a", Role.PHARMACY_ADMIN, ""), RequestMeta("r")), ONE_DAY)
    assert journal.actions() == [("read_stats", "denied")]


def test_the_audit_of_an_admin_without_a_pharmacy_is_refused() -> None:
    journal = FakeJournal()
    with pytest.raises(Forbidden):
        read_audit(
            journal,
            Call(Principal("a", Role.PHARMACY_ADMIN, None), RequestMeta("r")),
            AuditQuery(from_=None, to=None, limit=10, cursor=None),
        )
    assert journal.actions() == [("read_audit", "denied")]


def test_no_assert_guards_a_pharmacy() -> None:
    """The tenant checks raise; an `assert` naming a pharmacy (finess) would vanish under -O."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assert) and "finess" in ast.unparse(node.test):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == []
