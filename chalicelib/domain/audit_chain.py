"""The audit journal's chain, without AWS: events, the canonical form and hash of a link, and the
journal's constants. Checkpoints are in audit_checkpoints.py, verification in audit_verification.py,
the comparison with the WORM copy in audit_worm_check.py.

A chain (one per pharmacy, plus "platform" for events that name none) is a sequence of links
numbered 1, 2, 3... Each link stores the event's fields (identifiers only), its time, its expiry,
the previous link's hash and expiry, and its own hash: SHA-256 over a canonical JSON of all of
these plus the chain name and sequence number. Anyone may recompute a SHA-256, so the chain alone
only shows accidental or clumsy tampering. Checkpoints pin it: the checkpoint function (alone able
to sign) signs every chain's head hourly with an asymmetric KMS key (ECDSA P-256, SHA-256), even
when no event came. Checkpoints form their own chain (numbered 1, 2, 3..., each naming the digest
of the one before), so one deleted, inserted or reordered is seen; and a chain whose newest
checkpoint is older than two periods is reported, so a cut tail shows within two hours. Anyone
holding the public key checks them; no writer of the journal can make one.

Links also leave by TTL after the retention period. The verifier tells such a removal from a
deletion only by what no writer can rewrite: the expiry in the link's first WORM version (the copy
keeps every version), or, without one, the time of the first signed checkpoint that covers the
link plus the retention policy (the link existed when it was signed). A link's own `expires_at`
and the next link's `prev_expires_at` are the writer's word: stored and hashed, never trusted.

Names are checked at every boundary: a chain is "platform" or a FINESS number (its key valid,
chalicelib/domain/finess.py), a seq a positive integer of at most 12 digits (the WORM key's
width), so that (chain, seq) and the WORM object key name each other one to one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from chalicelib.domain.finess import is_finess

GENESIS_HASH = "0" * 64
PLATFORM_CHAIN = "platform"
SEQ_MAX = 10**12 - 1  # the WORM key writes a seq on 12 digits (adapters/worm.py)
FORMAT_VERSION = 1
OUTCOMES = frozenset({"success", "denied", "failed", "error", "attempt"})
# Free-text fields come from headers or callers: bounded so a hostile User-Agent cannot bloat the journal.
FIELD_MAX = 512
RECORD_IDS_MAX = 1000

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: string order is time order
# The checkpoint schedule's period (api/schedules.py runs at it); a chain whose newest checkpoint is
# older than STALE_AFTER_PERIODS of them is broken (its heartbeat stopped, or its tail was cut).
CHECKPOINT_PERIOD = timedelta(hours=1)
STALE_AFTER_PERIODS = 2
AUDIT_KEY_SPEC = "ECC_NIST_P256"  # the audit key's KeySpec (infra/template/keys.py, devtools/provision.py)
SIGNING_ALGORITHM: Literal["ECDSA_SHA_256"] = "ECDSA_SHA_256"  # its KMS SigningAlgorithm

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


@dataclass(frozen=True)
class AuditEvent:
    """What the journal records of one access or decision: identifiers only, never a personal value."""

    action: str
    outcome: str  # success | denied | failed | error
    actor: str
    role: str
    finess: str | None
    record_ids: Sequence[str] = ()
    request_id: str = ""
    source_ip: str = ""
    user_agent: str = ""
    reason: str = ""


def is_chain(name: object) -> bool:
    """A chain's name: "platform" or a FINESS number in canonical form. Never raises."""
    return name == PLATFORM_CHAIN or is_finess(name)


def is_seq(value: object) -> bool:
    """A link's number: an int (not a bool) from 1 to SEQ_MAX."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= SEQ_MAX


def chain_of(finess: str | None) -> str:
    """The chain an event belongs to; ValueError if it names something that is not a FINESS."""
    chain = finess or PLATFORM_CHAIN
    if not is_chain(chain):
        raise ValueError("an audit chain is 'platform' or a FINESS number with a valid key")
    return chain


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


def canonical_json(document: dict[str, Any]) -> bytes:
    """The one JSON form that is hashed or signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(link: Link) -> str:
    """SHA-256 (hex) of the canonical JSON of everything a link stores but its own hash; raises
    TypeError or ValueError if its content is no longer JSON-serialisable."""
    document = {
        "v": FORMAT_VERSION,
        "chain": link.chain,
        "seq": link.seq,
        "time": link.time,
        "event": link.event,
        "prev_hash": link.prev_hash,
        "expires_at": link.expires_at,
        "prev_expires_at": link.prev_expires_at,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def is_intact(link: Link) -> bool:
    """Whether a stored link's content still matches its hash."""
    try:
        return link_hash(link) == link.hash
    except (TypeError, ValueError, RecursionError):  # content no longer JSON-serialisable
        return False


def next_link(head: Head, chain: str, fields: dict[str, Any], *, now: datetime, retention_days: int) -> Link:
    """The link that follows `head`. Its time never goes back along the chain (clock skew between
    writers), so the by-time index lists a chain in sequence order."""
    if not is_chain(chain) or not is_seq(head.seq + 1):
        raise ValueError("an audit link needs a valid chain name and seq")
    moment = now.astimezone(UTC)
    if head.time:
        moment = max(moment, parse_time(head.time) + timedelta(microseconds=1))
    expires_at = int((moment + timedelta(days=retention_days)).timestamp())
    link = Link(chain, head.seq + 1, format_time(moment), fields, head.hash, "", expires_at, head.expires_at)
    return replace(link, hash=link_hash(link))


def public_view(link: Link) -> dict[str, Any]:
    """What GET /v1/audit shows of a link."""
    event = link.event if isinstance(link.event, dict) else {}
    view: dict[str, Any] = {"time": link.time}
    view.update({name: event.get(name) for name in EVENT_FIELDS})
    view["seq"] = link.seq
    view["hash"] = link.hash
    return view
