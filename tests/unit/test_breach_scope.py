"""The breach scope's selection and files, without AWS: the window and each criterion, an IPv6
address by its /64, what counts as touched, and CSV cells a spreadsheet will not run."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from operations.breach_scope import ChainScope, Criteria, write_files

WINDOW = ("2026-12-07T02:00:00.000000Z", "2026-12-07T03:00:00.000000Z")
INSIDE = "2026-12-07T02:30:00.000000Z"


def event(**fields: Any) -> dict[str, Any]:
    return {
        "actor": "pharmacist-x",
        "source_ip": "2001:db8:1:2::7",
        "action": "read",
        "outcome": "success",
        "record_ids": ["r1"],
        **fields,
    }


def test_an_event_matches_inside_the_window_and_by_every_criterion_given() -> None:
    by_actor = Criteria(*WINDOW, actor="pharmacist-x")
    assert by_actor.matches(INSIDE, event())
    assert not by_actor.matches("2026-12-07T03:00:00.000001Z", event())
    assert not by_actor.matches(INSIDE, event(actor="pharmacist-y"))
    by_both = Criteria(*WINDOW, actor="pharmacist-x", source="192.0.2.7")
    assert not by_both.matches(INSIDE, event())


def test_an_ipv6_address_is_matched_by_its_64_an_ipv4_address_exactly() -> None:
    criteria = Criteria(*WINDOW, source="2001:db8:1:2::/64")
    assert criteria.matches(INSIDE, event(source_ip="2001:db8:1:2:ffff:ffff:ffff:1"))
    assert not criteria.matches(INSIDE, event(source_ip="2001:db8:1:3::7"))
    v4 = Criteria(*WINDOW, source="192.0.2.7")
    assert v4.matches(INSIDE, event(source_ip="192.0.2.7"))
    assert not v4.matches(INSIDE, event(source_ip="192.0.2.8"))


def test_only_successful_events_naming_records_count_as_touched() -> None:
    scope = ChainScope("750000010", "verified")
    scope.add(INSIDE, event(record_ids=["r1", "r2"], action="list"))
    scope.add(INSIDE, event(record_ids=["other-pharmacy-id"], outcome="denied"))
    scope.add(INSIDE, event(record_ids=[], action="login"))
    assert sorted(scope.records) == ["r1", "r2"] and scope.attempts == 1 and scope.events == 1


def test_an_alert_of_the_journals_review_touched_none_of_the_records_it_names() -> None:
    scope = ChainScope("750000010", "verified")
    scope.add(INSIDE, event(record_ids=["r1"], action="read"))
    scope.add(INSIDE, event(record_ids=["r1", "r2"], action="alert_raised", actor="review:bulk_reads"))
    assert sorted(scope.records) == ["r1"] and scope.records["r1"].keys() == {"read"} and scope.events == 1


def test_a_record_id_that_looks_like_a_formula_is_written_as_text(tmp_path: Path) -> None:
    scope = ChainScope("750000010", "verified")
    scope.add(INSIDE, event(record_ids=['=HYPERLINK("http://x")', "r1"]))
    write_files(scope, tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / "750000010.csv").read_text())))
    assert [row[0] for row in rows[1:]] == ['\'=HYPERLINK("http://x")', "r1"]


def test_the_copy_read_for_a_tampered_chain_keeps_only_images_that_name_their_key() -> None:
    from operations.breach_scope import _copy_document

    def image(chain: str, seq: int) -> dict[str, Any]:
        return {"chain": {"S": chain}, "seq": {"N": str(seq)}, "event": {"S": "{}"}}

    good = image("750000010", 1)
    document = {
        "chain": "750000010",
        "events": [],
        "checkpoints": [],
        "worm": [
            {"key": "audit/750000010/000000000001.json", "image": good},
            {"key": "audit/750000010/000000000002.json", "image": image("750000010", 3)},  # a decoy
            {"key": "audit/quarantine/x.json", "image": image("750000010", 4)},
            {"key": "audit/750000010/000000000005.json", "image": "not an image"},
        ],
    }
    copy = _copy_document(document)
    assert copy is not None and copy["events"] == [good] and "worm" not in copy
    assert _copy_document({**document, "worm": []}) is None
