"""The hash chain and its verifier, without AWS: every kind of tampering of a link is named at its seq."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.audit_chain import (
    GENESIS,
    GENESIS_HASH,
    Head,
    chain_of,
    event_fields,
    format_time,
    is_chain,
    link_hash,
    next_link,
    parse_time,
    public_view,
)
from chalicelib.domain.audit_checkpoints import checkpoint_message
from chalicelib.domain.audit_verification import (
    CHECKPOINT_FORGED,
    CHECKPOINT_MISMATCH,
    DELETED,
    EDITED,
    REORDERED,
    TRUNCATED,
    CopiedLink,
    ExpiryEvidence,
)
from tests.unit.audit_chains import (
    CHAIN,
    NOW,
    OTHER_KEY,
    broken,
    build,
    event,
    first,
    hourly,
    pin,
    sign,
    signed,
    verify,
)


def test_an_untouched_chain_verifies() -> None:
    links = build(12)
    report = verify(links, signed(links[4], links[9]))
    assert report.ok, report.summary()
    assert (report.events_checked, report.checkpoints_checked) == (12, 2)
    assert (report.first_seq, report.last_seq) == (1, 12)
    assert "intact" in report.summary()
    assert links[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(links))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event", {"action": "read", "actor": "someone-else"}),
        ("time", "2020-01-01T00:00:00.000000Z"),
        ("expires_at", 1),
        ("prev_expires_at", 1),
    ],
)
def test_an_edited_link_is_named(field: str, value: Any) -> None:
    links = build(8)
    links[4] = replace(links[4], **{field: value})
    report = verify(links)
    assert first(report) == (5, EDITED)
    assert len(report.findings) == 1  # compared with the stored hash: no cascade


def test_an_edited_record_id_is_named() -> None:
    links = build(5)
    tampered = dict(links[2].event, record_ids=["rec-999"])
    links[2] = replace(links[2], event=tampered)
    assert first(verify(links)) == (3, EDITED)


def test_a_deleted_link_is_named() -> None:
    links = build(8)
    del links[3]
    report = verify(links)
    assert first(report) == (4, DELETED)
    assert "seq 4 missing" in broken(report).detail


def test_deleted_first_links_are_named() -> None:
    links = build(6)
    report = verify(links[2:])
    assert first(report) == (1, DELETED)
    assert "seq 1..2" in broken(report).detail


def test_links_removed_by_ttl_are_not_a_break() -> None:
    links = build(6, start=NOW - timedelta(days=400), step=timedelta(days=10))
    # Links 1..3 expired (TTL removed them); 4 and later are still within a 365-day retention? 4 is
    # 370 days old: DynamoDB may not have removed it yet, and it may also already be gone.
    checkpoints = hourly(links)
    report = verify(links[3:], checkpoints)
    assert report.ok, report.summary()
    assert report.expired_gaps == [(1, 3)]
    assert verify(links[4:], checkpoints).ok
    young = verify(links[5:], checkpoints)  # link 5 (360 days old) was not due: its absence is a deletion
    assert first(young) == (1, DELETED)


def test_an_expiry_the_writer_backdated_excuses_nothing() -> None:
    # The insider's deletion: link 4 rewritten with an expiry in the past (its hash recomputed) so
    # that TTL removes it, then link 5 written with prev_expires_at in the past. Only what no writer
    # can rewrite (the first WORM version, the checkpoints' signing time) may excuse a gap.
    links = build(6, start=NOW - timedelta(hours=3), step=timedelta(minutes=10))
    checkpoints = hourly(links[:3])
    past = int((NOW - timedelta(days=1)).timestamp())
    forged = replace(links[4], prev_expires_at=past)
    forged = replace(forged, hash=link_hash(forged))
    report = verify([*links[:3], forged], checkpoints)
    assert (4, DELETED) in [(f.seq, f.kind) for f in report.findings]
    assert report.expired_gaps == []
    # The first WORM version says link 4 expires in a year: no excuse either.
    copy = {link.seq: CopiedLink.of(link) for link in links}
    with_copy = verify([*links[:3], forged], checkpoints, expiry=ExpiryEvidence(copy=copy))
    assert (4, DELETED) in [(f.seq, f.kind) for f in with_copy.findings]
    # A first WORM version that says expired does excuse it (TTL did its job).
    expired = CopiedLink(past, links[3].hash, links[3].prev_hash)  # pinned by link 5's prev_hash
    assert verify([*links[:3], forged], checkpoints, expiry=ExpiryEvidence(copy={**copy, 4: expired})).ok


def test_two_swapped_links_are_named_as_reordered() -> None:
    links = build(8)
    a, b = links[4], links[5]
    links[4] = replace(b, seq=5)  # everything of link 6 stored under seq 5, and back
    links[5] = replace(a, seq=6)
    report = verify(links)
    assert first(report) == (5, REORDERED)


def test_a_rewritten_link_with_a_recomputed_hash_breaks_the_next_link() -> None:
    links = build(8)
    forged = replace(links[4], event=dict(links[4].event, actor="nobody"))
    links[4] = replace(forged, hash=link_hash(forged))
    report = verify(links)
    assert first(report) == (6, REORDERED)
    assert "seq 5 rewritten" in broken(report).detail


def test_a_rewritten_tail_is_caught_by_the_checkpoint() -> None:
    """An attacker who recomputes every hash from seq 5 on defeats the bare chain, not the MAC."""
    links = build(10)
    checkpoint = pin(links[7])
    head = Head(links[3].seq, links[3].hash, links[3].time, links[3].expires_at)
    rewritten = links[:4]
    for i in range(4, 10):
        fields = event_fields(event(i, actor="nobody"))
        link = next_link(head, CHAIN, fields, now=NOW + timedelta(seconds=i), retention_days=365)
        rewritten.append(link)
        head = Head(link.seq, link.hash, link.time, link.expires_at)
    report = verify(rewritten, [checkpoint])
    assert first(report) == (8, CHECKPOINT_MISMATCH)
    assert "seq 1..8" in broken(report).detail


def test_a_forged_checkpoint_is_named() -> None:
    links = build(6)
    good, last = signed(links[1], links[3])
    forged = replace(last, signature=sign(checkpoint_message(last), OTHER_KEY))
    report = verify(links, [good, forged])
    assert first(report) == (4, CHECKPOINT_FORGED)
    assert verify(links, [good, last]).ok
    assert first(verify(links, [good, replace(last, signature="bm90IGEgc2lnbmF0dXJl")])) == (
        4,
        CHECKPOINT_FORGED,
    )


def test_a_checkpoint_of_another_chain_is_not_accepted() -> None:
    links = build(3)
    moved = replace(pin(links[1]), chain="750000002")
    assert first(verify(links, [moved])) == (2, CHECKPOINT_FORGED)


def test_a_truncated_chain_is_named_by_its_checkpoint() -> None:
    links = build(10)
    report = verify(links[:6], [pin(links[8])])
    assert first(report) == (7, TRUNCATED)
    # Without a checkpoint past the cut, truncation cannot be seen: that is what checkpoints are for.
    assert verify(links[:6], [pin(links[4])]).ok


def test_a_chain_whose_every_link_expired_keeps_its_checkpoints_without_alarm() -> None:
    links = build(3, start=NOW - timedelta(days=400))
    assert verify([], hourly(links)).ok
    assert first(verify([], [pin(build(3)[2])])) == (1, TRUNCATED)
    # A checkpoint's head_expires_at is the writer's word at signing time: a recent checkpoint of
    # links claiming an old expiry does not make their removal a retention.
    claimed = build(3, start=NOW - timedelta(days=400))
    assert first(verify([], [pin(claimed[2])])) == (1, TRUNCATED)


def test_a_chain_continues_from_its_checkpoint_after_expiry() -> None:
    old = build(3, start=NOW - timedelta(days=400))
    checkpoints = hourly(old)
    checkpoint = checkpoints[-1]
    head = Head(
        checkpoint.head_seq, checkpoint.head_hash, checkpoint.head_time or "", checkpoint.head_expires_at
    )
    link = next_link(head, CHAIN, event_fields(event(9)), now=NOW, retention_days=365)
    assert link.seq == 4 and link.prev_hash == old[2].hash
    assert verify([link], checkpoints).ok
    wrong = replace(link, prev_hash="f" * 64)
    wrong = replace(wrong, hash=link_hash(wrong))
    assert first(verify([wrong], checkpoints)) == (4, REORDERED)


def test_time_never_goes_back_along_a_chain() -> None:
    head = GENESIS
    times = []
    for moment in (NOW, NOW - timedelta(minutes=5), NOW):  # a writer with a late clock
        link = next_link(head, CHAIN, event_fields(event()), now=moment, retention_days=365)
        times.append(link.time)
        head = Head(link.seq, link.hash, link.time, link.expires_at)
    assert times == sorted(times) and len(set(times)) == 3
    assert parse_time(times[0]) == NOW
    assert times[0] == "2026-11-29T10:00:00.000000Z"


def test_expiry_follows_the_retention() -> None:
    link = next_link(GENESIS, CHAIN, event_fields(event()), now=NOW, retention_days=30)
    assert link.expires_at == int((NOW + timedelta(days=30)).timestamp())


def test_the_hash_covers_the_chain_and_seq() -> None:
    link = build(1)[0]
    assert link_hash(link) == link.hash
    assert link_hash(replace(link, chain="750000002")) != link.hash
    assert link_hash(replace(link, seq=2)) != link.hash


def test_event_fields_are_bounded_and_printable() -> None:
    fields = event_fields(event(user_agent="evil\r\nforged: line" + "x" * 2000))
    assert "\n" not in fields["user_agent"] and "\r" not in fields["user_agent"]
    assert len(fields["user_agent"]) == 512
    assert fields["record_ids"] == ["rec-0"]
    with pytest.raises(ValueError, match="outcome"):
        event_fields(event(outcome="maybe"))
    with pytest.raises(ValueError, match="action"):
        event_fields(event(action=""))


def test_public_view_has_the_contract_fields() -> None:
    view = public_view(build(1)[0])
    for key in ("time", "actor", "role", "finess", "action", "record_ids", "outcome", "request_id"):
        assert key in view
    assert view["time"].endswith("Z") and view["seq"] == 1 and len(view["hash"]) == 64


def test_format_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 1))


def test_a_chain_is_platform_or_a_finess_with_a_valid_key() -> None:
    assert is_chain("platform") and is_chain(CHAIN) and is_chain("2A0000016")
    for name in ("750000011", "999", "750000010/x", "#public-key", "7" * 1025, "", None, 750000010):
        assert not is_chain(name)
    with pytest.raises(ValueError):
        chain_of("750000010/x")
    with pytest.raises(ValueError):
        next_link(GENESIS, "750000010/x", event_fields(event()), now=NOW, retention_days=365)
