"""Checkpoints of the audit journal's chains, without AWS: what the checkpoint function signs with the
audit key (ECDSA P-256, SHA-256), how checkpoints chain to each other, and how anyone holding the
public key checks a signature (chalicelib/domain/audit_chain.py tells why they pin the chain).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.audit_chain import GENESIS_HASH, Head, canonical_json, format_time

_CHECKPOINT_DOMAIN = b"depistage-audit-checkpoint/2\n"
CHECKPOINT_FORMAT = 2


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
    return _CHECKPOINT_DOMAIN + canonical_json(
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


def public_key_fingerprint(public_key_der: bytes) -> str:
    """SHA-256 (hex) of the DER public key: what an auditor compares with the stack output's key."""
    return hashlib.sha256(public_key_der).hexdigest()
