"""The hash chain and its verifier, without AWS: every kind of tampering is named at its seq."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.audit import (
    CHECKPOINT_FORGED,
    CHECKPOINT_MISMATCH,
    DELETED,
    EDITED,
    GENESIS,
    GENESIS_HASH,
    REORDERED,
    TRUNCATED,
    Checkpoint,
    Head,
    Link,
    checkpoint_due,
    checkpoint_message,
    event_fields,
    format_time,
    link_hash,
    next_link,
    parse_time,
    public_view,
    recompute,
    verify_chain,
)
from chalicelib.services.ports import AuditEvent

pytestmark = pytest.mark.unit

KEY = b"k" * 32
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CHAIN = "750000001"


def mac(message: bytes) -> str:
    return base64.b64encode(hmac.new(KEY, message, hashlib.sha256).digest()).decode()


def mac_ok(message: bytes, candidate: str) -> bool:
    return hmac.compare_digest(mac(message), candidate)


def event(i: int = 0, **overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "action": "read",
        "outcome": "success",
        "actor": "user-1",
        "role": "pharmacist",
        "finess": CHAIN,
        "record_ids": (f"rec-{i}",),
        "request_id": f"req-{i}",
        "source_ip": "192.0.2.1",
        "user_agent": "app/1.0",
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def build(
    count: int, *, start: datetime = NOW, retention_days: int = 365, step: timedelta = timedelta(seconds=1)
):
    links: list[Link] = []
    head: Head = GENESIS
    for i in range(count):
        link = next_link(
            head, CHAIN, event_fields(event(i)), now=start + i * step, retention_days=retention_days
        )
        links.append(link)
        head = Head(link.seq, link.hash, link.time, link.expires_at)
    return links


def pin(link: Link, *, sign=mac) -> Checkpoint:
    message = checkpoint_message(link.chain, link.seq, link.hash, link.time, link.expires_at)
    return Checkpoint(
        link.chain, link.seq, link.hash, sign(message), "key", link.time, link.time, link.expires_at
    )


def verify(links: list[Link], checkpoints: list[Checkpoint] | None = None, now: datetime = NOW):
    return verify_chain(iter(links), checkpoints or [], mac_ok, chain=CHAIN, now=now)


def first(report) -> tuple[int, str]:
    broken = report.first_broken
    assert broken is not None, report.summary()
    return broken.seq, broken.kind


def test_an_untouched_chain_verifies() -> None:
    links = build(12)
    report = verify(links, [pin(links[4]), pin(links[9])])
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
def test_an_edited_link_is_named(field: str, value: object) -> None:
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
    assert "seq 4 missing" in report.first_broken.detail


def test_deleted_first_links_are_named() -> None:
    links = build(6)
    report = verify(links[2:])
    assert first(report) == (1, DELETED)
    assert "seq 1..2" in report.first_broken.detail


def test_links_removed_by_ttl_are_not_a_break() -> None:
    links = build(6, start=NOW - timedelta(days=400), step=timedelta(days=10))
    # Links 1..3 expired (TTL removed them); 4 and later are still within a 365-day retention? 4 is
    # 370 days old: DynamoDB may not have removed it yet, and it may also already be gone.
    report = verify(links[3:])
    assert report.ok, report.summary()
    assert report.expired_gaps == [(1, 3)]
    assert verify(links[4:]).ok
    young = verify(links[5:])  # link 5 (360 days old) was not due: its absence is a deletion
    assert first(young) == (1, DELETED)


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
    links[4] = replace(forged, hash=recompute(forged))
    report = verify(links)
    assert first(report) == (6, REORDERED)
    assert "seq 5 rewritten" in report.first_broken.detail


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
    assert "seq 1..8" in report.first_broken.detail


def test_a_forged_checkpoint_is_named() -> None:
    links = build(6)
    forged = pin(
        links[3], sign=lambda m: base64.b64encode(hmac.new(b"x" * 32, m, hashlib.sha256).digest()).decode()
    )
    report = verify(links, [pin(links[1]), forged])
    assert first(report) == (4, CHECKPOINT_FORGED)


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
    assert verify([], [pin(links[2])]).ok
    assert first(verify([], [pin(build(3)[2])])) == (1, TRUNCATED)


def test_a_chain_continues_from_its_checkpoint_after_expiry() -> None:
    old = build(3, start=NOW - timedelta(days=400))
    checkpoint = pin(old[2])
    head = Head(checkpoint.seq, checkpoint.hash, checkpoint.head_time or "", checkpoint.head_expires_at)
    link = next_link(head, CHAIN, event_fields(event(9)), now=NOW, retention_days=365)
    assert link.seq == 4 and link.prev_hash == old[2].hash
    assert verify([link], [checkpoint]).ok
    wrong = replace(link, prev_hash="f" * 64)
    wrong = replace(wrong, hash=recompute(wrong))
    assert first(verify([wrong], [checkpoint])) == (4, REORDERED)


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
    base = {
        "time": link.time,
        "event": link.event,
        "prev_hash": link.prev_hash,
        "expires_at": link.expires_at,
        "prev_expires_at": None,
    }
    assert link_hash(chain=CHAIN, seq=1, **base) == link.hash
    assert link_hash(chain="750000002", seq=1, **base) != link.hash
    assert link_hash(chain=CHAIN, seq=2, **base) != link.hash


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


def test_checkpoints_are_due_every_k() -> None:
    assert [s for s in range(1, 301) if checkpoint_due(s, 100)] == [100, 200, 300]
    assert not checkpoint_due(5, 0)


def test_format_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 1))
