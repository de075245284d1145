"""The checkpoints' own chain and the heartbeat, without AWS: a checkpoint deleted, renumbered or stale
is named."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chalicelib.domain.audit_chain import link_hash
from chalicelib.domain.audit_checkpoints import Checkpoint, checkpoint_message, next_checkpoint
from chalicelib.domain.audit_verification import CHECKPOINT_FORGED, CHECKPOINT_SKIPPED, FUTURE_TIME, STALE
from tests.unit.audit_chains import CHAIN, NOW, broken, build, first, head_of, sign, signed, verify


def test_hourly_checkpoints_of_an_idle_chain_verify() -> None:
    links = build(4)
    assert verify(links, signed(links[3], links[3], links[3])).ok
    assert verify([], signed(None, None)).ok  # a pharmacy without an event yet


def test_a_deleted_middle_checkpoint_is_named() -> None:
    links = build(6)
    one, _two, three = signed(links[1], links[3], links[5])
    report = verify(links, [one, three])
    assert first(report) == (6, CHECKPOINT_SKIPPED)
    assert "checkpoint(s) 2 missing" in broken(report).detail


def test_a_first_checkpoint_deleted_is_named() -> None:
    links = build(6)
    _one, two, three = signed(links[1], links[3], links[5])
    assert first(verify(links, [two, three])) == (4, CHECKPOINT_SKIPPED)


def test_a_checkpoint_renumbered_to_hide_a_deletion_is_forged() -> None:
    links = build(6)
    one, _two, three = signed(links[1], links[3], links[5])
    assert first(verify(links, [one, replace(three, n=2)])) == (6, CHECKPOINT_FORGED)


def test_a_chain_whose_heartbeat_stopped_is_stale() -> None:
    links = build(4, start=NOW - timedelta(hours=2, minutes=2))
    cps = signed(links[3], start=NOW - timedelta(hours=2, minutes=1))
    report = verify(links, cps)
    assert first(report) == (5, STALE)
    assert verify(links, signed(links[3], start=NOW - timedelta(hours=1, minutes=59))).ok


def test_a_deleted_tail_with_its_newest_checkpoints_shows_as_stale() -> None:
    """The attack the signature alone cannot see: cut the newest events and every checkpoint that
    covers them. What is left verifies, except that its newest checkpoint is old."""
    links = build(10, start=NOW - timedelta(hours=4))
    hourly: list[Checkpoint] = []
    for i, link in enumerate((links[3], links[6], links[9])):
        unsigned = next_checkpoint(
            hourly[-1] if hourly else None, CHAIN, head_of(link), now=NOW - timedelta(hours=3 - i, minutes=5)
        )
        hourly.append(replace(unsigned, signature=sign(checkpoint_message(unsigned))))
    assert verify(links, hourly).ok
    report = verify(links[:7], hourly[:2])
    assert first(report) == (8, STALE)


def test_events_without_any_checkpoint_for_two_periods_are_stale() -> None:
    assert first(verify(build(3, start=NOW - timedelta(hours=3)))) == (1, STALE)
    assert verify(build(3, start=NOW - timedelta(minutes=10))).ok


def test_a_link_younger_than_the_checkpoint_that_signed_it_is_named() -> None:
    # A writer's own link with a time in the year 9000 (a valid hash): every later event of the
    # chain took a time after it (time never goes back along a chain), so GET /v1/audit?to=now
    # stopped showing them, and nothing was named.
    links = build(3, start=NOW - timedelta(minutes=20))
    future = replace(links[2], time="9000-01-01T00:00:00.000000Z")
    future = replace(future, hash=link_hash(future))
    report = verify([*links[:2], future], signed(future))
    assert [(f.seq, f.kind) for f in report.findings] == [(3, FUTURE_TIME)]
    # A writer's clock a little ahead of the signer's is no finding.
    ahead = build(3, start=NOW + timedelta(minutes=4))
    assert verify(ahead, signed(ahead[2], start=NOW + timedelta(minutes=1))).ok
