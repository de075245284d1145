"""The hash chain and its verifier, without AWS: every kind of tampering is named at its seq."""

from __future__ import annotations

import base64
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.audit_chain import (
    GENESIS,
    GENESIS_HASH,
    AuditEvent,
    Head,
    Link,
    chain_of,
    event_fields,
    format_time,
    is_chain,
    link_hash,
    next_link,
    parse_time,
    public_view,
)
from chalicelib.domain.audit_checkpoints import (
    Checkpoint,
    checkpoint_message,
    next_checkpoint,
    public_key_verifier,
)
from chalicelib.domain.audit_verification import (
    CHECKPOINT_FORGED,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_SKIPPED,
    DELETED,
    EDITED,
    FUTURE_TIME,
    MALFORMED,
    REORDERED,
    STALE,
    TABLE_MISSING,
    TRUNCATED,
    WORM_DIFFERS,
    WORM_FORGED,
    WORM_MISSING,
    BrokenLink,
    CopiedLink,
    ExpiryEvidence,
    SignedCheckpoints,
    VerificationReport,
    verify_chain,
)
from chalicelib.domain.audit_worm_check import compare_with_worm, genuine_copy, image_names, well_formed_items

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CHAIN = "750000028"
# The checkpoint function's key (KMS in production) and an attacker's key of the same kind.
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_DER = KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
VERIFY = public_key_verifier(PUBLIC_DER)


def sign(message: bytes, key: ec.EllipticCurvePrivateKey = KEY) -> str:
    return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()


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
) -> list[Link]:
    links: list[Link] = []
    head: Head = GENESIS
    for i in range(count):
        link = next_link(
            head, CHAIN, event_fields(event(i)), now=start + i * step, retention_days=retention_days
        )
        links.append(link)
        head = Head(link.seq, link.hash, link.time, link.expires_at)
    return links


def head_of(link: Link | None) -> Head:
    return GENESIS if link is None else Head(link.seq, link.hash, link.time, link.expires_at)


def signed(*heads: Link | None, start: datetime = NOW + timedelta(minutes=1)) -> list[Checkpoint]:
    """The checkpoint function's work: one checkpoint per head given, a minute apart, chained."""
    out: list[Checkpoint] = []
    for i, link in enumerate(heads):
        unsigned = next_checkpoint(
            out[-1] if out else None, CHAIN, head_of(link), now=start + timedelta(minutes=i)
        )
        out.append(replace(unsigned, signature=sign(checkpoint_message(unsigned)), key_id="key"))
    return out


def pin(link: Link) -> Checkpoint:
    return signed(link)[0]


def hourly(links: list[Link], *, then: datetime = NOW - timedelta(minutes=10)) -> list[Checkpoint]:
    """The checkpoint function's hourly work: each link signed within the hour after it was written,
    then its head signed again at `then` (the heartbeat)."""
    out: list[Checkpoint] = []
    for link in [*links, links[-1]]:
        moment = parse_time(link.time) + timedelta(minutes=30) if len(out) < len(links) else then
        unsigned = next_checkpoint(out[-1] if out else None, CHAIN, head_of(link), now=moment)
        out.append(replace(unsigned, signature=sign(checkpoint_message(unsigned)), key_id="key"))
    return out


RETENTION = ExpiryEvidence(retention=timedelta(days=365))


def verify(
    links: list[Link],
    checkpoints: list[Checkpoint] | None = None,
    now: datetime = NOW,
    expiry: ExpiryEvidence = RETENTION,
) -> VerificationReport:
    return verify_chain(
        iter(links), SignedCheckpoints(checkpoints or [], VERIFY), chain=CHAIN, now=now, expiry=expiry
    )


def broken(report: VerificationReport) -> BrokenLink:
    found = report.first_broken
    assert found is not None, report.summary()
    return found


def first(report: VerificationReport) -> tuple[int, str]:
    broken = report.first_broken
    assert broken is not None, report.summary()
    return broken.seq, broken.kind


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


# --- the checkpoints' own chain and the heartbeat ---------------------------------------------------


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


# --- the WORM copy ----------------------------------------------------------------------------------


def image(link: Link) -> dict[str, object]:
    return {
        "chain": {"S": link.chain},
        "seq": {"N": str(link.seq)},
        "hash": {"S": link.hash},
        "time": {"S": link.time},
    }


def test_the_worm_comparison_names_what_differs_or_is_missing() -> None:
    links = build(5, start=NOW - timedelta(hours=1))
    table = {link.seq: image(link) for link in links}
    copy = dict(table)
    report = compare_with_worm(VerificationReport(CHAIN), table, copy, now=NOW)
    assert report.ok and report.worm_checked == 5
    copy[2] = {**copy[2], "hash": {"S": "0" * 64}}
    del copy[4]
    del table[5]
    report = compare_with_worm(VerificationReport(CHAIN), table, copy, now=NOW)
    assert sorted((f.seq, f.kind) for f in report.findings) == [
        (2, WORM_DIFFERS),
        (4, WORM_MISSING),
        (5, TABLE_MISSING),
    ]


def test_a_link_younger_than_the_stream_lag_may_be_missing_from_the_copy() -> None:
    link = build(1, start=NOW - timedelta(minutes=1))[0]
    assert compare_with_worm(VerificationReport(CHAIN), {1: image(link)}, {}, now=NOW).ok


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


def test_a_worm_image_that_names_another_key_is_forged_and_hides_nothing() -> None:
    # A decoy (a link of chain "750000010/x", already expired) listed with the genuine copy used to
    # replace the genuine image of its seq, so the gap it left in the table was not named.
    links = build(3, start=NOW - timedelta(hours=1))
    past = int((NOW - timedelta(days=1)).timestamp())
    copied = {link.seq: {**image(link), "expires_at": {"N": str(link.expires_at)}} for link in links}
    decoy = {**copied[2], "chain": {"S": "750000010/x"}, "expires_at": {"N": str(past)}}
    worm = {(CHAIN, 1): copied[1], (CHAIN, 2): decoy, (CHAIN, 3): copied[3]}
    report = VerificationReport(CHAIN)
    genuine = genuine_copy(report, worm)
    assert [(f.seq, f.kind) for f in report.findings] == [(2, WORM_FORGED)]
    assert set(genuine) == {1, 3} and genuine[1] == copied[1]
    wrong_seq = {(CHAIN, 1): image(links[1])}
    report = VerificationReport(CHAIN)
    assert genuine_copy(report, wrong_seq) == {} and report.findings[0].kind == WORM_FORGED


def test_a_table_expiry_that_differs_from_the_copy_is_named() -> None:
    links = build(2, start=NOW - timedelta(hours=1))
    table = {link.seq: {**image(link), "expires_at": {"N": str(link.expires_at)}} for link in links}
    copy = {seq: dict(item) for seq, item in table.items()}
    table[2] = {**table[2], "expires_at": {"N": "1"}}
    report = compare_with_worm(VerificationReport(CHAIN), table, copy, now=NOW)
    assert [(f.seq, f.kind) for f in report.findings] == [(2, WORM_DIFFERS)]
    assert "expiry" in report.findings[0].detail


def test_a_gap_is_excused_link_by_link_by_its_copy_else_by_the_checkpoints() -> None:
    links = build(6, start=NOW - timedelta(days=400), step=timedelta(days=10))
    checkpoints = hourly(links)
    future, past = int((NOW + timedelta(days=1)).timestamp()), int((NOW - timedelta(days=1)).timestamp())
    # The checkpoints say links 1..3 are due; the first WORM version of link 2 says it is not: it wins.
    not_due = verify(
        links[3:],
        checkpoints,
        expiry=ExpiryEvidence(copy={2: CopiedLink(future, None, "")}, retention=timedelta(days=365)),
    )
    assert first(not_due) == (1, DELETED)
    copy = {2: CopiedLink(past, links[1].hash, links[1].prev_hash)}
    due = verify(links[3:], checkpoints, expiry=ExpiryEvidence(copy=copy, retention=timedelta(days=365)))
    assert due.ok and due.expired_gaps == [(1, 3)]
    # Without a retention policy or a copy nothing is excused.
    assert first(verify(links[3:], checkpoints, expiry=ExpiryEvidence())) == (1, DELETED)


def test_a_copy_that_says_expired_excuses_a_gap_only_where_the_chain_pins_its_hash() -> None:
    # Whoever writes an export file writes its "worm" entries, and a writer that plants link 3
    # before the genuine one makes the first WORM version: an image with an expiry in the past
    # (its own hash recomputed) must not excuse the deletion of the genuine link 3.
    links = build(6, start=NOW - timedelta(hours=3), step=timedelta(minutes=10))
    checkpoints = hourly(links[:2])
    past = int((NOW - timedelta(days=1)).timestamp())
    planted = replace(links[2], expires_at=past)
    planted = replace(planted, hash=link_hash(planted))
    copy = {link.seq: CopiedLink.of(link) for link in links} | {3: CopiedLink.of(planted)}
    report = verify([*links[:2], *links[3:]], checkpoints, expiry=ExpiryEvidence(copy=copy))
    assert (3, DELETED) in [(f.seq, f.kind) for f in report.findings] and report.expired_gaps == []
    # Links that really expired: their copies chain into the next link's prev_hash, and excuse.
    old = build(4, start=NOW - timedelta(days=400), step=timedelta(minutes=10))
    kept = {link.seq: CopiedLink.of(link) for link in old}
    assert verify(old[2:], expiry=ExpiryEvidence(copy=kept)).expired_gaps == [(1, 2)]
    # The same, for a tail pinned by a checkpoint's head only.
    report = verify(old[:1], hourly(old), expiry=ExpiryEvidence(copy=kept))
    assert TRUNCATED not in [f.kind for f in report.findings], report.findings


@pytest.mark.parametrize("number", ["²", "1" * 5000, "٣", "1.5", "01", "-0", ""])
def test_a_crafted_number_in_an_image_is_no_seq_and_never_raises(number: str) -> None:
    # An export file is anyone's text: "²" passes str.isdigit() and 5,000 digits pass it too, and
    # int() raised on both, so the offline verifier gave no verdict instead of naming the item.
    crafted = {"chain": {"S": CHAIN}, "seq": {"N": number}, "expires_at": {"N": number}}
    assert image_names(crafted) is None
    report = VerificationReport(CHAIN)
    assert well_formed_items(report, [crafted]) == [] and report.findings[0].kind == MALFORMED
    assert genuine_copy(VerificationReport(CHAIN), {(CHAIN, 1): crafted}) == {}
    table = {1: {**crafted, "seq": {"N": "1"}}}
    assert compare_with_worm(VerificationReport(CHAIN), table, table, now=NOW).findings == []


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
