"""The audit journal's rules, without AWS: canonical form and hash of a link, checkpoints, verification.

A chain (one per pharmacy, plus "platform" for events that name none) is a sequence of links
numbered 1, 2, 3... Each link stores the event's fields (identifiers only), its time, its expiry,
the previous link's hash and expiry, and its own hash: SHA-256 over a canonical JSON of all of
these plus the chain name and sequence number. Anyone may recompute a SHA-256, so the chain alone
only shows accidental or clumsy tampering; a periodic checkpoint (the head's seq and hash, MACed
with a KMS key the API may use but not manage) pins everything up to it against an attacker who
can write to the table, and shows the deletion of links after it (truncation).

Links also leave by TTL after the retention period. The verifier tells such a removal from a
deletion by the `prev_expires_at` that every link carries (and that its hash covers): a missing
run of links is accepted only if the link just before the run was due to expire.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.services.ports import AuditEvent

GENESIS_HASH = "0" * 64
PLATFORM_CHAIN = "platform"
FORMAT_VERSION = 1
OUTCOMES = frozenset({"success", "denied", "failed", "error", "attempt"})
# Free-text fields come from headers or callers: bounded so a hostile User-Agent cannot bloat the journal.
FIELD_MAX = 512
RECORD_IDS_MAX = 1000

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: string order is time order
_CHECKPOINT_DOMAIN = b"depistage-audit-checkpoint\n"

# Fields of a stored event, in the order the API shows them.
EVENT_FIELDS = (
    "actor",
    "role",
    "finess",
    "action",
    "record_ids",
    "outcome",
    "request_id",
    "source_ip",
    "user_agent",
    "reason",
)


def chain_of(finess: str | None) -> str:
    return finess or PLATFORM_CHAIN


def format_time(moment: datetime) -> str:
    """UTC RFC 3339 with microseconds and Z, always the same width."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def _clean(value: str) -> str:
    # Control characters would let a header forge line breaks in an operator's terminal or report.
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in value)[:FIELD_MAX]


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """The stored form of an event: identifiers only, bounded; ValueError if it is malformed."""
    if not event.action:
        raise ValueError("an audit event needs an action")
    if event.outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {event.outcome!r}")
    record_ids = list(event.record_ids)
    if len(record_ids) > RECORD_IDS_MAX or not all(isinstance(r, str) for r in record_ids):
        raise ValueError("record_ids must be at most 1000 strings")
    return {
        "actor": _clean(event.actor),
        "role": _clean(event.role),
        "finess": event.finess,
        "action": _clean(event.action),
        "record_ids": [_clean(r) for r in record_ids],
        "outcome": event.outcome,
        "request_id": _clean(event.request_id),
        "source_ip": _clean(event.source_ip),
        "user_agent": _clean(event.user_agent),
        "reason": _clean(event.reason),
    }


@dataclass(frozen=True)
class Link:
    """One stored link of a chain, as read back (fields may have been tampered with)."""

    chain: str
    seq: int
    time: str
    event: Any
    prev_hash: str
    hash: str
    expires_at: int | None
    prev_expires_at: int | None


@dataclass(frozen=True)
class Head:
    """Where a chain ends: the next link follows it."""

    seq: int
    hash: str
    time: str
    expires_at: int | None


GENESIS = Head(seq=0, hash=GENESIS_HASH, time="", expires_at=None)


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(
    *,
    chain: str,
    seq: int,
    time: str,
    event: Any,
    prev_hash: str,
    expires_at: int | None,
    prev_expires_at: int | None,
) -> str:
    """SHA-256 (hex) of the canonical JSON of everything a link stores but its own hash."""
    document = {
        "v": FORMAT_VERSION,
        "chain": chain,
        "seq": seq,
        "time": time,
        "event": event,
        "prev_hash": prev_hash,
        "expires_at": expires_at,
        "prev_expires_at": prev_expires_at,
    }
    return hashlib.sha256(_canonical(document)).hexdigest()


def recompute(link: Link) -> str:
    return link_hash(
        chain=link.chain,
        seq=link.seq,
        time=link.time,
        event=link.event,
        prev_hash=link.prev_hash,
        expires_at=link.expires_at,
        prev_expires_at=link.prev_expires_at,
    )


def next_link(head: Head, chain: str, fields: dict[str, Any], *, now: datetime, retention_days: int) -> Link:
    """The link that follows `head`. Its time never goes back along the chain (clock skew between
    writers), so the by-time index lists a chain in sequence order."""
    moment = now.astimezone(UTC)
    if head.time:
        moment = max(moment, parse_time(head.time) + timedelta(microseconds=1))
    time = format_time(moment)
    expires_at = int((moment + timedelta(days=retention_days)).timestamp())
    seq = head.seq + 1
    digest = link_hash(
        chain=chain,
        seq=seq,
        time=time,
        event=fields,
        prev_hash=head.hash,
        expires_at=expires_at,
        prev_expires_at=head.expires_at,
    )
    return Link(chain, seq, time, fields, head.hash, digest, expires_at, head.expires_at)


def public_view(link: Link) -> dict[str, Any]:
    """What GET /v1/audit shows of a link."""
    event = link.event if isinstance(link.event, dict) else {}
    view: dict[str, Any] = {"time": link.time}
    view.update({name: event.get(name) for name in EVENT_FIELDS})
    view["seq"] = link.seq
    view["hash"] = link.hash
    return view


# --- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    chain: str
    seq: int
    hash: str
    mac: str
    key_id: str
    created_at: str
    head_time: str | None
    head_expires_at: int | None


def checkpoint_message(
    chain: str, seq: int, head_hash: str, head_time: str | None, head_expires_at: int | None
) -> bytes:
    """What a checkpoint's MAC covers (domain-separated from any other use of the key)."""
    return _CHECKPOINT_DOMAIN + _canonical(
        {
            "v": FORMAT_VERSION,
            "chain": chain,
            "seq": seq,
            "hash": head_hash,
            "head_time": head_time,
            "head_expires_at": head_expires_at,
        }
    )


def checkpoint_due(seq: int, every: int) -> bool:
    return every > 0 and seq % every == 0


# Checks a MAC over a message: True if it was made with the audit key. Raises if it cannot tell.
MacVerifier = Callable[[bytes, str], bool]


# --- verification ------------------------------------------------------------------------------

EDITED = "edited"  # a link's content no longer matches its hash
DELETED = "deleted"  # links missing before their expiry
REORDERED = "reordered"  # a link does not follow the one before it (moved, inserted, or that one rewritten)
TRUNCATED = "truncated"  # the newest links are gone, though a checkpoint covers them
CHECKPOINT_FORGED = "checkpoint_forged"  # its MAC is not the audit key's
CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # MAC valid but the chain differs at its seq (rewritten)


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
    expired_gaps: list[tuple[int, int]] = field(default_factory=list)
    findings: list[BrokenLink] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_broken(self) -> BrokenLink | None:
        # Lowest seq first; at equal seq an event's own finding before a checkpoint's.
        order = {TRUNCATED: 1, CHECKPOINT_MISMATCH: 2, CHECKPOINT_FORGED: 3}
        return min(self.findings, key=lambda f: (f.seq, order.get(f.kind, 0)), default=None)

    def summary(self) -> str:
        span = f"seq {self.first_seq}..{self.last_seq}" if self.first_seq is not None else "no events"
        head = (
            f"chain {self.chain}: {self.events_checked} events ({span}), "
            f"{self.checkpoints_checked} checkpoints"
        )
        first = self.first_broken
        if first is None:
            return f"{head}: intact"
        return f"{head}: BROKEN, first broken link {first} ({len(self.findings)} finding(s))"


def _gap_is_expiry(link: Link, now: datetime) -> bool:
    """Links before `link` are missing: fine only if the one just before it was due to expire."""
    return link.prev_expires_at is not None and link.prev_expires_at <= now.timestamp()


def _due(link: Link) -> str:
    if link.prev_expires_at is None:
        return "no expiry recorded for it"
    return f"it was due to expire at {datetime.fromtimestamp(link.prev_expires_at, UTC):%Y-%m-%dT%H:%M:%SZ}"


def verify_chain(
    events: Iterable[Link],
    checkpoints: Sequence[Checkpoint],
    mac_verifier: MacVerifier,
    *,
    chain: str,
    now: datetime,
) -> VerificationReport:
    """Walk a chain in seq order; report every broken link, the lowest first (`first_broken`).

    Each link is compared with the stored hash of the link before it, so one edited link is one
    finding, not a cascade.
    """
    report = VerificationReport(chain=chain)
    pinned: dict[int, Checkpoint] = {}
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        report.checkpoints_checked += 1
        message = checkpoint_message(cp.chain, cp.seq, cp.hash, cp.head_time, cp.head_expires_at)
        if cp.chain != chain or not mac_verifier(message, cp.mac):
            report.findings.append(
                BrokenLink(cp.seq, CHECKPOINT_FORGED, "the checkpoint's MAC is not the audit key's")
            )
        else:
            pinned[cp.seq] = cp
    last_good_checkpoint = 0

    previous: Link | None = None
    for link in events:
        report.events_checked += 1
        if report.first_seq is None:
            report.first_seq = link.seq
        n = link.seq
        if previous is not None and n <= previous.seq:
            report.findings.append(BrokenLink(n, REORDERED, f"seq {n} listed after seq {previous.seq}"))
            continue
        expected = 1 if previous is None else previous.seq + 1
        anchor = pinned.get(n - 1)
        if n > expected and anchor is not None and anchor.hash != link.prev_hash:
            # The link before the gap is gone but a checkpoint pins its hash.
            report.findings.append(
                BrokenLink(n, REORDERED, f"prev_hash does not match the checkpoint at seq {n - 1}")
            )
        elif n > expected:
            if _gap_is_expiry(link, now):
                report.expired_gaps.append((expected, n - 1))
            else:
                missing = f"seq {expected}" if expected == n - 1 else f"seq {expected}..{n - 1}"
                detail = f"{missing} missing, yet seq {n - 1} was not expired ({_due(link)})"
                report.findings.append(BrokenLink(expected, DELETED, detail))
        elif previous is None and link.prev_hash != GENESIS_HASH:
            report.findings.append(BrokenLink(n, REORDERED, "seq 1 does not start the chain (prev_hash)"))
        elif previous is not None and link.prev_hash != previous.hash:
            report.findings.append(
                BrokenLink(
                    n,
                    REORDERED,
                    f"prev_hash does not match the hash of seq {previous.seq}: links moved or inserted, "
                    f"or seq {previous.seq} rewritten",
                )
            )
        try:
            intact = recompute(link) == link.hash
        except (TypeError, ValueError):  # content no longer JSON-serialisable
            intact = False
        if not intact:
            report.findings.append(BrokenLink(n, EDITED, "content does not match its hash"))
        pin = pinned.get(n)
        if pin is not None:
            if pin.hash != link.hash:
                report.findings.append(
                    BrokenLink(
                        n,
                        CHECKPOINT_MISMATCH,
                        f"the checkpoint at seq {n} pins another hash: a link in seq "
                        f"{last_good_checkpoint + 1}..{n} was rewritten",
                    )
                )
            else:
                last_good_checkpoint = n
        previous = link

    report.last_seq = previous.seq if previous is not None else None
    last = previous.seq if previous is not None else 0
    beyond = [pinned[seq] for seq in pinned if seq > last]
    newest = max(beyond, key=lambda c: c.seq, default=None)
    # A chain whose every link expired keeps its checkpoints: that is not a truncation.
    if newest is not None and not (
        newest.head_expires_at is not None and newest.head_expires_at <= now.timestamp()
    ):
        report.findings.append(
            BrokenLink(
                last + 1,
                TRUNCATED,
                f"links after seq {last} are missing, yet the checkpoint at seq {newest.seq} covers them",
            )
        )
    return report
