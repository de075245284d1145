"""Chains built for the audit tests, without AWS: events, links, checkpoints signed by a test key
(and an attacker's), and the verifier's verdicts."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.adapters.audit_key import public_key_verifier
from chalicelib.domain.audit_chain import GENESIS, AuditEvent, Head, Link, event_fields, next_link, parse_time
from chalicelib.domain.audit_checkpoints import Checkpoint, checkpoint_message, next_checkpoint
from chalicelib.domain.audit_verification import (
    BrokenLink,
    ExpiryEvidence,
    SignedCheckpoints,
    VerificationReport,
    verify_chain,
)

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
