"""The journal against its WORM copy, without AWS: what differs or is missing is named, a forged
image hides nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.audit_chain import Link, link_hash
from chalicelib.domain.audit_verification import (
    DELETED,
    MALFORMED,
    TABLE_MISSING,
    TRUNCATED,
    WORM_DIFFERS,
    WORM_FORGED,
    WORM_MISSING,
    CopiedLink,
    ExpiryEvidence,
    VerificationReport,
)
from chalicelib.domain.audit_worm_check import compare_with_worm, genuine_copy, image_names, well_formed_items
from tests.unit.audit_chains import CHAIN, NOW, build, first, hourly, verify


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
