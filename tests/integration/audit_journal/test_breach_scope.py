"""The breach-scope command on moto, with the real journal, checkpoints and WORM copy: one
pharmacist reads 300 records in five minutes; the command lists exactly those 300 ids for that
actor (or that address's /64) and window, nothing for another window or actor, per pharmacy, as
JSON and CSV; a tampered chain is read from its verified WORM copy and marked, or refused."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.bootstrap import bind_tables
from chalicelib.config import get_settings
from operations import breach_scope
from tests.integration.audit_journal.support import (
    StepClock,
    copy_to_worm,
    ev,
    make_checkpointer,
    make_journal,
    put_raw,
    raw_item,
    valid_finess,
)

THIEF, THIEF_IP, SAME_64 = "pharmacist-x", "2001:db8:1:2::7", "2001:db8:1:2:ffff::9"
STOLEN = [f"stolen-{i:03d}" for i in range(300)]


def scope(clock: StepClock, *args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = breach_scope.run([*args, "--json"], out=out, clock=clock.now)
    return code, json.loads(out.getvalue()) if out.getvalue() else {}


def ids(document: dict[str, Any], pharmacy: str) -> list[str]:
    (found,) = [p for p in document["pharmacies"] if p["pharmacy"] == pharmacy]
    return [r["id"] for r in found["records"]]


Scene = tuple[str, str, str, str, StepClock]


def exfiltrate(journal: DynamoDbAuditJournal, clock: StepClock, a: str, b: str) -> tuple[str, str]:
    """Before: ordinary reads; then the thief reads 300 records (one a second) among a colleague's
    reads; after: the thief once more. Pharmacy B has its own day. Signed, copied to WORM. Returns
    the window of the 300 reads."""
    journal.append(ev(1, a, actor=THIEF, record_ids=("before-1",), source_ip=THIEF_IP))
    start = clock.moment + timedelta(milliseconds=500)
    for i, record_id in enumerate(STOLEN):
        journal.append(ev(i, a, actor=THIEF, record_ids=(record_id,), source_ip=THIEF_IP))
        if i % 50 == 0:
            journal.append(ev(i, a, actor="colleague", record_ids=(f"usual-{i}",)))
            journal.append(ev(i, b, actor="pharmacist-b", record_ids=(f"b-{i}",)))
    journal.append(ev(0, a, actor=THIEF, action="list", record_ids=tuple(STOLEN[:5]), source_ip=THIEF_IP))
    # a probe of another pharmacy's id: journaled, nothing disclosed
    journal.append(
        ev(0, a, actor=THIEF, outcome="denied", reason="not_found", record_ids=("b-0",), source_ip=THIEF_IP)
    )
    end = clock.moment + timedelta(milliseconds=500)
    journal.append(ev(2, a, actor=THIEF, record_ids=("after-1",), source_ip=THIEF_IP))
    signer = make_checkpointer(clock)
    for chain in (a, b):
        signer.checkpoint(chain)
    copy_to_worm()
    return start.isoformat(), end.isoformat()


@pytest.fixture(scope="module")
def seen(shared_account: dict[str, str]) -> Iterator[Scene]:
    """One exfiltration for the tests that only read it (300 appends on moto cost seconds)."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in shared_account.items():
            env.setenv(key, value)
        get_settings.cache_clear()
        bind_tables(get_settings())
        clock = StepClock()
        a, b = valid_finess("75990001"), valid_finess("69990001")
        yield (a, b, *exfiltrate(make_journal(clock), clock, a, b), clock)
    get_settings.cache_clear()


@pytest.fixture
def scene(seen: Scene, account: dict[str, str]) -> Scene:
    return seen  # `account`: this test's environment names the account


@pytest.fixture
def exfiltration(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> tuple[str, str, str, str]:
    """A chain of its own, for a test that tampers with it."""
    a, b = pharmacies
    return (a, b, *exfiltrate(journal, clock, a, b))


def test_the_scope_lists_exactly_the_records_the_actor_read_in_the_window(
    scene: Scene, tmp_path: Path
) -> None:
    a, _b, start, end, clock = scene
    code, document = scope(
        clock, "--actor", THIEF, "--finess", a, "--from", start, "--to", end, "--out-dir", str(tmp_path)
    )
    assert code == 0, document
    assert ids(document, a) == STOLEN
    (pharmacy,) = [p for p in document["pharmacies"] if p["pharmacy"] == a]
    assert pharmacy["status"] == "verified" and pharmacy["attempts_not_succeeded"] == 1
    first = pharmacy["records"][0]
    assert first["id"] == STOLEN[0] and set(first["actions"]) == {"read", "list"}
    # one CSV and one JSON per pharmacy touched, record ids only
    rows = list(csv.reader(io.StringIO((tmp_path / f"{a}.csv").read_text())))
    assert rows[0] == list(breach_scope.CSV_HEADER)
    assert sorted({row[0] for row in rows[1:]}) == STOLEN and len(rows) == 1 + 300 + 5
    assert json.loads((tmp_path / f"{a}.json").read_text())["record_count"] == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{a}.csv", f"{a}.json"]


def test_an_address_is_matched_by_its_64_over_every_chain_and_a_pharmacy_by_its_chain(scene: Scene) -> None:
    a, b, start, end, clock = scene
    # every chain of the package's account: other modules' chains (some tampered with on purpose)
    # are verified too, so the exit code is theirs; this one's scope is exact
    _code, document = scope(clock, "--source-ip", SAME_64, "--from", start, "--to", end)
    assert ids(document, a) == STOLEN
    assert {p["pharmacy"] for p in document["pharmacies"] if p["records"]} == {a}
    code, document = scope(clock, "--finess", b, "--from", start, "--to", end)
    assert code == 0 and ids(document, b) == sorted(f"b-{i}" for i in range(0, 300, 50))
    assert [p["pharmacy"] for p in document["pharmacies"]] == [b]


def test_another_window_or_another_actor_touched_nothing_of_the_sort(scene: Scene) -> None:
    a, _b, start, end, clock = scene
    code, document = scope(clock, "--actor", "colleague", "--finess", a, "--from", start, "--to", end)
    assert code == 0 and ids(document, a) == sorted(f"usual-{i}" for i in range(0, 300, 50))
    code, document = scope(clock, "--actor", "nobody", "--finess", a, "--from", start, "--to", end)
    assert code == 0 and document["record_count"] == 0 and document["pharmacies"] == []
    code, document = scope(clock, "--actor", THIEF, "--finess", a, "--from", end, "--to", end)
    assert code == 0 and document["record_count"] == 0


def test_a_tampered_chain_is_read_from_its_verified_worm_copy_and_marked(
    exfiltration: tuple[str, str, str, str], clock: StepClock
) -> None:
    a, _b, start, end = exfiltration
    window = ("--finess", a, "--from", start, "--to", end)  # the module's account holds earlier tests' chains
    # an insider rewrites the thief's 10th read to hide it: the table no longer names that record
    item = raw_item(a, 12)
    event = json.loads(item["event"]["S"])
    assert event["record_ids"] == [STOLEN[9]]
    item["event"] = {"S": json.dumps({**event, "record_ids": ["innocent"]})}
    put_raw(item)
    code, document = scope(clock, "--actor", THIEF, *window)
    assert code == 1
    (pharmacy,) = document["pharmacies"]
    assert pharmacy["status"] == "worm" and pharmacy["findings"]
    assert ids(document, a) == STOLEN  # the copy still names it; "innocent" is nowhere
    # without the copy, the chain is refused: none of its events is used
    code, document = scope(clock, "--actor", THIEF, *window, "--no-worm")
    assert code == 1
    (pharmacy,) = document["pharmacies"]
    assert pharmacy["status"] == "refused" and pharmacy["records"] == []
    code, document = scope(clock, "--actor", THIEF, *window, "--no-worm", "--include-unverified")
    (pharmacy,) = document["pharmacies"]
    assert pharmacy["status"] == "unverified" and "innocent" in ids(document, a)


def test_a_scope_without_a_criterion_or_with_a_bad_window_cannot_run(scene: Scene) -> None:
    _a, _b, start, end, clock = scene
    assert scope(clock, "--from", start, "--to", end)[0] == 2
    assert scope(clock, "--actor", THIEF, "--from", end, "--to", start)[0] == 2
    assert scope(clock, "--actor", THIEF, "--from", "yesterday", "--to", end)[0] == 2
    assert scope(clock, "--finess", "999999999", "--from", start, "--to", end)[0] == 2
