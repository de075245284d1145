"""The audit journal against its WORM copy, without AWS: which stored items name a valid link of a
chain, which WORM objects are genuine, and every link that differs between the table and the copy
or is missing from one (the copy is written by the stream consumer, chalicelib/adapters/worm.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.audit_chain import format_time, is_chain, is_seq
from chalicelib.domain.audit_verification import (
    MALFORMED,
    TABLE_MISSING,
    WORM_DIFFERS,
    WORM_FORGED,
    WORM_MISSING,
    BrokenLink,
    VerificationReport,
)

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
