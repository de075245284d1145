"""Verification of an audit chain, without AWS: walk its links in seq order against their hashes, the
signed checkpoints and the evidence of expiry, and name every broken link (the rules are told in
chalicelib/domain/audit_chain.py). The comparison with the WORM copy is audit_worm_check.py's.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.domain.audit_chain import (
    CHECKPOINT_PERIOD,
    GENESIS_HASH,
    STALE_AFTER_PERIODS,
    Link,
    format_time,
    is_intact,
    parse_time,
)
from chalicelib.domain.audit_checkpoints import (
    Checkpoint,
    SignatureVerifier,
    checkpoint_digest,
    checkpoint_message,
)

EDITED = "edited"  # a link's content no longer matches its hash
DELETED = "deleted"  # links missing before their expiry
REORDERED = "reordered"  # a link does not follow the one before it (moved, inserted, or that one rewritten)
TRUNCATED = "truncated"  # the newest links are gone, though a checkpoint covers them
CHECKPOINT_FORGED = "checkpoint_forged"  # its signature is not the audit key's
CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # signature valid but the chain differs at its seq (rewritten)
CHECKPOINT_SKIPPED = "checkpoint_skipped"  # a checkpoint is missing, or does not follow the one before
STALE = "stale"  # the newest checkpoint is older than two periods (heartbeat stopped, or tail cut)
WORM_MISSING = "worm_missing"  # an event in the table is absent from the WORM copy
WORM_DIFFERS = "worm_differs"  # an event in the table differs from its WORM copy (its expiry included)
TABLE_MISSING = "table_missing"  # an event of the WORM copy is gone from the table before its expiry
WORM_FORGED = "worm_forged"  # a WORM object whose content does not name the chain and seq of its key
MALFORMED = "malformed"  # a table item of the chain that names no valid (chain, seq): set aside
FUTURE_TIME = "future_time"  # a link's time is later than the signing of the first checkpoint covering it

# How far a writer's clock may run ahead of the signer's (both NTP-synchronised Lambda clocks).
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.detail}"


@dataclass
class VerificationReport:
    chain: str
    events_checked: int = 0
    checkpoints_checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    newest_checkpoint: str | None = None  # its signed_at
    worm_checked: int | None = None  # events compared with the WORM copy (None: not compared)
    expired_gaps: list[tuple[int, int]] = field(default_factory=list)
    findings: list[BrokenLink] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_broken(self) -> BrokenLink | None:
        # Lowest seq first; at equal seq an event's own finding before a checkpoint's.
        order = {
            TRUNCATED: 1,
            CHECKPOINT_MISMATCH: 2,
            CHECKPOINT_FORGED: 3,
            CHECKPOINT_SKIPPED: 4,
            STALE: 5,
            WORM_DIFFERS: 6,
            WORM_MISSING: 7,
            TABLE_MISSING: 8,
            WORM_FORGED: 9,
            MALFORMED: 10,
            FUTURE_TIME: 11,
        }
        return min(self.findings, key=lambda f: (f.seq, order.get(f.kind, 0)), default=None)

    def summary(self) -> str:
        span = f"seq {self.first_seq}..{self.last_seq}" if self.first_seq is not None else "no events"
        head = (
            f"chain {self.chain}: {self.events_checked} events ({span}), "
            f"{self.checkpoints_checked} checkpoints"
        )
        if self.worm_checked is not None:
            head += f", {self.worm_checked} compared with the WORM copy"
        first = self.first_broken
        if first is None:
            return f"{head}: intact"
        return f"{head}: BROKEN, first broken link {first} ({len(self.findings)} finding(s))"


@dataclass(frozen=True)
class CopiedLink:
    """What a link's first WORM version says: its expiry, and the hash and prev_hash that tie it into
    the chain (`hash` is None when the content does not match it). An image excuses a missing link
    as expired only once the chain pins it: its hash is the next link's prev_hash (or a signed
    checkpoint's head), so neither a forged file entry nor a version planted before the genuine
    link can vouch for an expiry the genuine link never had."""

    expires_at: int | None
    hash: str | None
    prev_hash: str

    @classmethod
    def of(cls, link: Link) -> CopiedLink:
        return cls(link.expires_at, link.hash if is_intact(link) else None, link.prev_hash)

    def due(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now.timestamp()


@dataclass(frozen=True)
class ExpiryEvidence:
    """What may excuse a missing link, none of it a field a writer can rewrite: each link's first
    WORM version (`copy`; None when the copy was not compared), trusted to say "expired" only where
    the chain pins its hash, and the retention policy applied to the signing time of the first
    signed checkpoint that covers the link."""

    copy: dict[int, CopiedLink] | None = None
    retention: timedelta | None = None

    def _signed_long_ago(self, seq: int, covering: Sequence[Checkpoint], now: datetime) -> bool:
        if self.retention is None:
            return False
        at = bisect.bisect_left(covering, seq, key=lambda cp: cp.head_seq)  # sorted by head_seq
        signed = _signed_at(covering[at]) if at < len(covering) else None
        # The link existed when the checkpoint was signed: it was due at the latest then + retention.
        return signed is not None and signed + self.retention <= now

    def run_expired(
        self, low: int, high: int, covering: Sequence[Checkpoint], now: datetime, pin: str | None
    ) -> bool:
        """Every link from `low` to `high` expired. `pin` is the hash the chain holds for link `high`
        (the next link's prev_hash, or a checkpoint's head_hash). From `high` down, a copy whose hash
        is the pin speaks for its link, and its prev_hash pins the one below; the first link without
        such a copy, and all below it, need the checkpoints (the highest needs the latest, so checking
        it checks them all). A copy that says "not yet due" is believed pinned or not: a deletion."""
        copy = self.copy or {}
        seq = high
        while seq >= low:
            copied = copy.get(seq)
            if copied is None or copied.hash is None or copied.hash != pin:
                break
            if not copied.due(now):
                return False
            pin, seq = copied.prev_hash, seq - 1
        if seq < low:
            return True
        span = range(low, seq + 1)
        listed = (s for s in span if s in copy) if len(span) <= len(copy) else (s for s in copy if s in span)
        if any(not copy[s].due(now) for s in listed):
            return False
        return self._signed_long_ago(seq, covering, now)


NO_EVIDENCE = ExpiryEvidence()


def _signed_at(cp: Checkpoint) -> datetime | None:
    try:
        return parse_time(cp.signed_at)
    except (TypeError, ValueError):
        return None


def _verify_checkpoints(
    checkpoints: Sequence[Checkpoint],
    verifier: SignatureVerifier,
    report: VerificationReport,
    chain: str,
) -> list[Checkpoint]:
    """The checkpoints signed by the audit key, in order; findings for forged and skipped ones."""
    valid: list[Checkpoint] = []
    previous: Checkpoint | None = None
    for cp in sorted(checkpoints, key=lambda c: c.n):
        report.checkpoints_checked += 1
        if cp.chain != chain or _signed_at(cp) is None or not verifier(checkpoint_message(cp), cp.signature):
            report.findings.append(
                BrokenLink(
                    cp.head_seq,
                    CHECKPOINT_FORGED,
                    f"checkpoint {cp.n}: its signature is not the audit key's",
                )
            )
            continue
        expected_n = 1 if previous is None else previous.n + 1
        expected_prev = GENESIS_HASH if previous is None else checkpoint_digest(previous)
        if cp.n < expected_n:
            report.findings.append(
                BrokenLink(cp.head_seq, CHECKPOINT_SKIPPED, f"checkpoint {cp.n} is listed twice")
            )
            continue
        if cp.n != expected_n:
            missing = f"{expected_n}" if cp.n == expected_n + 1 else f"{expected_n}..{cp.n - 1}"
            report.findings.append(
                BrokenLink(
                    cp.head_seq,
                    CHECKPOINT_SKIPPED,
                    f"checkpoint(s) {missing} missing before checkpoint {cp.n}",
                )
            )
        elif cp.prev != expected_prev:
            report.findings.append(
                BrokenLink(
                    cp.head_seq,
                    CHECKPOINT_SKIPPED,
                    f"checkpoint {cp.n} does not follow checkpoint {expected_n - 1} (prev digest)",
                )
            )
        elif previous is not None and cp.head_seq < previous.head_seq:
            report.findings.append(
                BrokenLink(cp.head_seq, CHECKPOINT_MISMATCH, f"checkpoint {cp.n} goes back along the chain")
            )
        valid.append(cp)
        previous = cp
    return valid


@dataclass(frozen=True)
class SignedCheckpoints:
    """A chain's checkpoints as stored, the check of the audit key's signature on each, and the
    period they are signed at (the newest older than STALE_AFTER_PERIODS of them is stale)."""

    checkpoints: Sequence[Checkpoint]
    verifier: SignatureVerifier
    period: timedelta = CHECKPOINT_PERIOD


class _ChainWalk:
    """One walk along a chain's links in seq order, against the valid checkpoints; each check adds its
    findings to the report."""

    def __init__(
        self, report: VerificationReport, valid: list[Checkpoint], expiry: ExpiryEvidence, now: datetime
    ) -> None:
        self.report = report
        self.valid = valid
        self.expiry = expiry
        self.now = now
        self.covering = sorted(valid, key=lambda c: (c.head_seq, c.n))
        self.pinned: dict[int, Checkpoint] = {}
        for cp in valid:
            self.pinned.setdefault(cp.head_seq, cp)
        self.last_good_checkpoint = 0
        self.previous: Link | None = None
        self.first_time: str | None = None

    def _find(self, seq: int, kind: str, detail: str) -> None:
        self.report.findings.append(BrokenLink(seq, kind, detail))

    def visit(self, link: Link) -> None:
        self.report.events_checked += 1
        if self.report.first_seq is None:
            self.report.first_seq = link.seq
            self.first_time = link.time
        previous = self.previous
        if previous is not None and link.seq <= previous.seq:
            self._find(link.seq, REORDERED, f"seq {link.seq} listed after seq {previous.seq}")
            return
        self._check_follows(link)
        self._check_time(link)
        if not is_intact(link):
            self._find(link.seq, EDITED, "content does not match its hash")
        self._check_pins(link)
        self.previous = link

    def _check_follows(self, link: Link) -> None:
        """Each link is compared with the stored hash of the link before it, so one edited link is one
        finding, not a cascade."""
        n, previous = link.seq, self.previous
        expected = 1 if previous is None else previous.seq + 1
        if n > expected:
            self._check_gap(link, expected)
        elif previous is None and link.prev_hash != GENESIS_HASH:
            self._find(n, REORDERED, "seq 1 does not start the chain (prev_hash)")
        elif previous is not None and link.prev_hash != previous.hash:
            self._find(
                n,
                REORDERED,
                f"prev_hash does not match the hash of seq {previous.seq}: links moved or inserted, "
                f"or seq {previous.seq} rewritten",
            )

    def _check_gap(self, link: Link, expected: int) -> None:
        n = link.seq
        anchor = self.pinned.get(n - 1)
        if anchor is not None and anchor.head_hash != link.prev_hash:
            # The link before the gap is gone but a checkpoint pins its hash.
            self._find(n, REORDERED, f"prev_hash does not match the checkpoint at seq {n - 1}")
        elif self.expiry.run_expired(expected, n - 1, self.covering, self.now, link.prev_hash):
            self.report.expired_gaps.append((expected, n - 1))
        else:
            missing = f"seq {expected}" if expected == n - 1 else f"seq {expected}..{n - 1}"
            detail = f"{missing} missing, yet neither its WORM copy nor a signed checkpoint shows it expired"
            self._find(expected, DELETED, detail)

    def _check_time(self, link: Link) -> None:
        # A link cannot be younger than a checkpoint that signed it: a writer's `time` far in the
        # future would drag every later link's time with it (time never goes back along a chain).
        at = bisect.bisect_left(self.covering, link.seq, key=lambda cp: cp.head_seq)
        signed = _signed_at(self.covering[at]) if at < len(self.covering) else None
        if signed is not None and link.time > format_time(signed + CLOCK_SKEW):
            self._find(link.seq, FUTURE_TIME, f"its time is after checkpoint {self.covering[at].n} signed it")

    def _check_pins(self, link: Link) -> None:
        n = link.seq
        mismatch = next((cp for cp in self.valid if cp.head_seq == n and cp.head_hash != link.hash), None)
        if mismatch is not None:
            self._find(
                n,
                CHECKPOINT_MISMATCH,
                f"checkpoint {mismatch.n} pins another hash at seq {n}: a link in seq "
                f"{self.last_good_checkpoint + 1}..{n} was rewritten",
            )
        elif n in self.pinned:
            self.last_good_checkpoint = n

    def finish(self, period: timedelta) -> None:
        last = self.previous.seq if self.previous is not None else 0
        self.report.last_seq = self.previous.seq if self.previous is not None else None
        self._check_tail(last)
        self._check_fresh(last, self.now - STALE_AFTER_PERIODS * period)

    def _check_tail(self, last: int) -> None:
        beyond = max((cp for cp in self.valid if cp.head_seq > last), key=lambda c: c.head_seq, default=None)
        if beyond is None:
            return
        # A chain whose every link expired keeps its checkpoints: that is not a truncation.
        if self.expiry.run_expired(last + 1, beyond.head_seq, self.covering, self.now, beyond.head_hash):
            self.report.expired_gaps.append((last + 1, beyond.head_seq))
            return
        self._find(
            last + 1,
            TRUNCATED,
            f"links after seq {last} are missing, yet checkpoint {beyond.n} covers them up to seq "
            f"{beyond.head_seq}",
        )

    def _check_fresh(self, last: int, limit: datetime) -> None:
        newest = self.valid[-1] if self.valid else None
        if newest is not None:
            self.report.newest_checkpoint = newest.signed_at
            signed = _signed_at(newest)
            if signed is not None and signed < limit:
                self._find(
                    max(last, newest.head_seq) + 1,
                    STALE,
                    f"the newest checkpoint ({newest.n}, {newest.signed_at}) is older than "
                    f"{STALE_AFTER_PERIODS} checkpoint periods: the heartbeat stopped, or the newest "
                    "events were deleted with their checkpoints",
                )
        elif self.first_time is not None and self.first_time < format_time(limit):
            self._find(
                self.report.first_seq or 1,
                STALE,
                f"no checkpoint signed, yet the chain has events older than {STALE_AFTER_PERIODS} "
                "checkpoint periods",
            )


def verify_chain(
    events: Iterable[Link],
    signed: SignedCheckpoints,
    *,
    chain: str,
    now: datetime,
    expiry: ExpiryEvidence = NO_EVIDENCE,
) -> VerificationReport:
    """Walk a chain in seq order; report every broken link, the lowest first (`first_broken`).

    Each link is compared with the stored hash of the link before it, so one edited link is one
    finding, not a cascade. Checkpoints are checked as a chain of their own, and for freshness.
    A missing run of links is excused only by `expiry` (never by the links' own expiry fields).
    """
    report = VerificationReport(chain=chain)
    walk = _ChainWalk(
        report, _verify_checkpoints(signed.checkpoints, signed.verifier, report, chain), expiry, now
    )
    for link in events:
        walk.visit(link)
    walk.finish(signed.period)
    return report
