"""The audit journal's rules, without AWS: canonical form and hash of a link, checkpoints, verification.

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

import base64
import bisect
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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
_CHECKPOINT_DOMAIN = b"depistage-audit-checkpoint/2\n"
CHECKPOINT_FORMAT = 2
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
    if not is_chain(chain) or not is_seq(head.seq + 1):
        raise ValueError("an audit link needs a valid chain name and seq")
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
    """A signed statement: chain `chain` had head `head_seq`/`head_hash` at `signed_at`; it follows
    checkpoint `n - 1`, whose digest is `prev`. `signature` is over `checkpoint_message(...)`."""

    chain: str
    n: int
    head_seq: int
    head_hash: str
    head_time: str | None
    head_expires_at: int | None
    signed_at: str
    prev: str
    signature: str = ""
    key_id: str = ""


def checkpoint_message(cp: Checkpoint) -> bytes:
    """What a checkpoint's signature covers (domain-separated from any other use of the key)."""
    return _CHECKPOINT_DOMAIN + _canonical(
        {
            "v": CHECKPOINT_FORMAT,
            "chain": cp.chain,
            "n": cp.n,
            "head_seq": cp.head_seq,
            "head_hash": cp.head_hash,
            "head_time": cp.head_time,
            "head_expires_at": cp.head_expires_at,
            "signed_at": cp.signed_at,
            "prev": cp.prev,
        }
    )


def checkpoint_digest(cp: Checkpoint) -> str:
    """SHA-256 (hex) of the signed message: the next checkpoint's `prev`."""
    return hashlib.sha256(checkpoint_message(cp)).hexdigest()


def next_checkpoint(previous: Checkpoint | None, chain: str, head: Head, *, now: datetime) -> Checkpoint:
    """The unsigned checkpoint that follows `previous` and pins `head`."""
    return Checkpoint(
        chain=chain,
        n=1 if previous is None else previous.n + 1,
        head_seq=head.seq,
        head_hash=head.hash,
        head_time=head.time or None,
        head_expires_at=head.expires_at,
        signed_at=format_time(now),
        prev=GENESIS_HASH if previous is None else checkpoint_digest(previous),
    )


# Checks a signature over a message: True if the audit key made it. Raises if it cannot tell.
SignatureVerifier = Callable[[bytes, str], bool]


def public_key_verifier(public_key_der: bytes) -> SignatureVerifier:
    """Verify checkpoint signatures with the audit key's public key alone (no AWS call).

    `public_key_der` is the SubjectPublicKeyInfo KMS GetPublicKey returns (PEM is accepted too)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if public_key_der.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(public_key_der)
    else:
        key = serialization.load_der_public_key(public_key_der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the audit public key must be an ECC_NIST_P256 (secp256r1) key")

    def verify(message: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except (ValueError, TypeError):
            return False
        if not raw:
            return False
        try:
            key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    return verify


def public_key_pem(public_key_der: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_public_key(public_key_der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_key_fingerprint(public_key_der: bytes) -> str:
    """SHA-256 (hex) of the DER public key: what an auditor compares with the stack output's key."""
    return hashlib.sha256(public_key_der).hexdigest()


# --- verification ------------------------------------------------------------------------------

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
        try:
            intact = recompute(link) == link.hash
        except (TypeError, ValueError, RecursionError):
            intact = False
        return cls(link.expires_at, link.hash if intact else None, link.prev_hash)

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


def verify_chain(
    events: Iterable[Link],
    checkpoints: Sequence[Checkpoint],
    verifier: SignatureVerifier,
    *,
    chain: str,
    now: datetime,
    period: timedelta = CHECKPOINT_PERIOD,
    expiry: ExpiryEvidence = NO_EVIDENCE,
) -> VerificationReport:
    """Walk a chain in seq order; report every broken link, the lowest first (`first_broken`).

    Each link is compared with the stored hash of the link before it, so one edited link is one
    finding, not a cascade. Checkpoints are checked as a chain of their own, and for freshness.
    A missing run of links is excused only by `expiry` (never by the links' own expiry fields).
    """
    report = VerificationReport(chain=chain)
    valid = _verify_checkpoints(checkpoints, verifier, report, chain)
    covering = sorted(valid, key=lambda c: (c.head_seq, c.n))
    pinned: dict[int, Checkpoint] = {}
    for cp in valid:
        pinned.setdefault(cp.head_seq, cp)
    last_good_checkpoint = 0

    previous: Link | None = None
    first_time: str | None = None
    for link in events:
        report.events_checked += 1
        if report.first_seq is None:
            report.first_seq = link.seq
            first_time = link.time
        n = link.seq
        if previous is not None and n <= previous.seq:
            report.findings.append(BrokenLink(n, REORDERED, f"seq {n} listed after seq {previous.seq}"))
            continue
        expected = 1 if previous is None else previous.seq + 1
        anchor = pinned.get(n - 1)
        if n > expected and anchor is not None and anchor.head_hash != link.prev_hash:
            # The link before the gap is gone but a checkpoint pins its hash.
            report.findings.append(
                BrokenLink(n, REORDERED, f"prev_hash does not match the checkpoint at seq {n - 1}")
            )
        elif n > expected:
            if expiry.run_expired(expected, n - 1, covering, now, link.prev_hash):
                report.expired_gaps.append((expected, n - 1))
            else:
                missing = f"seq {expected}" if expected == n - 1 else f"seq {expected}..{n - 1}"
                detail = (
                    f"{missing} missing, yet neither its WORM copy nor a signed checkpoint shows it expired"
                )
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
        # A link cannot be younger than a checkpoint that signed it: a writer's `time` far in the
        # future would drag every later link's time with it (time never goes back along a chain).
        at = bisect.bisect_left(covering, n, key=lambda cp: cp.head_seq)
        signed = _signed_at(covering[at]) if at < len(covering) else None
        if signed is not None and link.time > format_time(signed + CLOCK_SKEW):
            report.findings.append(
                BrokenLink(n, FUTURE_TIME, f"its time is after checkpoint {covering[at].n} signed it")
            )
        try:
            intact = recompute(link) == link.hash
        except (TypeError, ValueError, RecursionError):  # content no longer JSON-serialisable
            intact = False
        if not intact:
            report.findings.append(BrokenLink(n, EDITED, "content does not match its hash"))
        for cp in valid:
            if cp.head_seq != n:
                continue
            if cp.head_hash != link.hash:
                report.findings.append(
                    BrokenLink(
                        n,
                        CHECKPOINT_MISMATCH,
                        f"checkpoint {cp.n} pins another hash at seq {n}: a link in seq "
                        f"{last_good_checkpoint + 1}..{n} was rewritten",
                    )
                )
                break
        else:
            if n in pinned:
                last_good_checkpoint = n
        previous = link

    report.last_seq = previous.seq if previous is not None else None
    last = previous.seq if previous is not None else 0
    newest = valid[-1] if valid else None
    beyond = max((cp for cp in valid if cp.head_seq > last), key=lambda c: c.head_seq, default=None)
    # A chain whose every link expired keeps its checkpoints: that is not a truncation.
    if beyond is not None and expiry.run_expired(last + 1, beyond.head_seq, covering, now, beyond.head_hash):
        report.expired_gaps.append((last + 1, beyond.head_seq))
    elif beyond is not None:
        report.findings.append(
            BrokenLink(
                last + 1,
                TRUNCATED,
                f"links after seq {last} are missing, yet checkpoint {beyond.n} covers them up to seq "
                f"{beyond.head_seq}",
            )
        )
    limit = now - STALE_AFTER_PERIODS * period
    if newest is not None:
        report.newest_checkpoint = newest.signed_at
        signed = _signed_at(newest)
        if signed is not None and signed < limit:
            report.findings.append(
                BrokenLink(
                    max(last, newest.head_seq) + 1,
                    STALE,
                    f"the newest checkpoint ({newest.n}, {newest.signed_at}) is older than "
                    f"{STALE_AFTER_PERIODS} checkpoint periods: the heartbeat stopped, or the newest "
                    "events were deleted with their checkpoints",
                )
            )
    elif first_time is not None and first_time < format_time(limit):
        report.findings.append(
            BrokenLink(
                report.first_seq or 1,
                STALE,
                f"no checkpoint signed, yet the chain has events older than {STALE_AFTER_PERIODS} "
                "checkpoint periods",
            )
        )
    return report


# The stream consumer copies a link within seconds; younger links may not be in the copy yet.
WORM_LAG = timedelta(minutes=15)


def _image_number(image: dict[str, Any], name: str) -> int | None:
    value = image.get(name)
    text = value.get("N") if isinstance(value, dict) else None
    # Exactly an integer's canonical ASCII digits, as many as DynamoDB keeps (38): "1.5", "01", "1e3",
    # "²" or 5,000 digits name no number (int() would raise on the last two).
    if not isinstance(text, str):
        return None
    digits = text.removeprefix("-")
    if not (0 < len(digits) <= 38 and digits.isascii() and digits.isdigit()) or str(int(text)) != text:
        return None
    return int(text)


def _image_time(image: dict[str, Any]) -> str:
    value = image.get("time")
    return str(value.get("S", "")) if isinstance(value, dict) else ""


def image_names(image: dict[str, Any]) -> tuple[str, int] | None:
    """The (chain, seq) a link's DynamoDB image names, if both are well-formed; else None."""
    chain = image.get("chain")
    name = chain.get("S") if isinstance(chain, dict) else None
    seq = _image_number(image, "seq")
    if not is_chain(name) or seq is None or not is_seq(seq):
        return None
    return str(name), seq


def genuine_copy(
    report: VerificationReport, worm: dict[tuple[str, int], dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """The WORM images of `report.chain` by seq, each checked against the (chain, seq) of the key it
    was found under: an image that names another (a decoy planted under a look-alike key) is
    named `worm_forged` and never stands for the genuine copy."""
    genuine: dict[int, dict[str, Any]] = {}
    for (chain, seq), image in sorted(worm.items()):
        if chain != report.chain or image_names(image) != (chain, seq):
            report.findings.append(
                BrokenLink(
                    seq, WORM_FORGED, "a WORM object's content does not name the chain and seq of its key"
                )
            )
            continue
        genuine[seq] = image
    return genuine


def well_formed_items(report: VerificationReport, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table items that are links of `report.chain` (their (chain, seq) valid), in seq order; each
    other one is named `malformed` and kept out of the walk, so it blames no genuine link."""
    kept: list[tuple[int, dict[str, Any]]] = []
    for item in items:
        names = image_names(item)
        if names is None or names[0] != report.chain:
            report.findings.append(
                BrokenLink(0, MALFORMED, "a table item of this chain names no valid seq (set it aside)")
            )
            continue
        kept.append((names[1], item))
    return [item for _seq, item in sorted(kept, key=lambda pair: pair[0])]


def compare_with_worm(
    report: VerificationReport,
    table: dict[int, dict[str, Any]],
    worm: dict[int, dict[str, Any]],
    *,
    now: datetime,
    lag: timedelta = WORM_LAG,
) -> VerificationReport:
    """Name every link that differs between the table and its (genuine) WORM copy, or is missing
    from one. `worm` is what `genuine_copy` kept; `report` is verify_chain's (its expired gaps)."""
    report.worm_checked = 0
    recent = format_time(now - lag)
    for seq in sorted(set(table) | set(worm)):
        mine, copy = table.get(seq), worm.get(seq)
        if mine is not None and copy is not None:
            report.worm_checked += 1
            if _image_number(mine, "expires_at") != _image_number(copy, "expires_at"):
                report.findings.append(
                    BrokenLink(
                        seq, WORM_DIFFERS, "the table's expiry differs from its WORM copy's (rewritten)"
                    )
                )
            elif mine != copy:
                report.findings.append(
                    BrokenLink(seq, WORM_DIFFERS, "the table's event differs from its WORM copy (rewritten)")
                )
        elif mine is not None:
            if _image_time(mine) < recent:
                report.findings.append(
                    BrokenLink(seq, WORM_MISSING, "in the table but absent from the WORM copy")
                )
        elif copy is not None and not any(low <= seq <= high for low, high in report.expired_gaps):
            # Only what verify_chain excused on evidence the chain pins (expired_gaps) left by TTL:
            # the copy's own expiry may be a version planted before the genuine link took its seq.
            report.findings.append(
                BrokenLink(seq, TABLE_MISSING, "in the WORM copy but gone from the table before its expiry")
            )
    return report
