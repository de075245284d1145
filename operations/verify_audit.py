"""Operator command: verify audit chains end to end and name every broken link; export a chain.

    python -m operations.verify_audit --all                 # every chain of the local stack
    python -m operations.verify_audit --chain 750000010     # one chain (repeatable); 'platform' too
    python -m operations.verify_audit --all --stage prod --json
    python -m operations.verify_audit --save-public-key audit-public-key.pem
    python -m operations.verify_audit --export 750000010 --out audit-750000010.json
    python -m operations.verify_audit --file audit-750000010.json --public-key audit-public-key.pem

Online (`--chain`/`--all`): finds the service as every operator command does (operations/target.py),
reads the tables and the WORM copy (unless --no-worm), and checks the checkpoints' signatures with
the public key: `--public-key FILE`, else read from KMS (kms:GetPublicKey, the operator's role).
Signatures are checked here, never by KMS. One line per chain as each is verified (progress on
stderr when it is a terminal), then the totals; `--json` prints one document.

Offline (`--file`): an exported file and the public key, nothing else: no AWS call, no credential,
no service to find. The file is one JSON document: {"format": "depistage-audit-export/1", "chain",
"exported_at", "events": [...], "checkpoints": [...],
"worm": [{"key", "image"}...]}, each item exactly as DynamoDB (or the WORM copy, under its object
key) holds it, in DynamoDB JSON. Freshness (the heartbeat) is judged against now, or `--as-of`:
never the file's own `exported_at`, which whoever wrote the file chose. A missing link is excused
as expired only by its WORM copy's expiry, once the chain pins that copy's hash (a file's "worm"
entries are the file author's word until then), or by the signing time of the first checkpoint
covering it plus `--retention-days` (the policy, by default the service's).

Exit status: 0 every chain intact, 1 a chain is broken (its findings are named), 2 the check could
not run (no service found, AWS unreachable, unreadable file, an unknown chain: one with no event,
no checkpoint, no WORM copy and no pharmacy, such as a mistyped FINESS).

What is verified is chalicelib/domain/audit_verification.py (`verify_chain`) and audit_worm_check.py
(`compare_with_worm`); this module gathers the inputs and presents the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from chalicelib.adapters.audit_key import public_key_verifier
from chalicelib.config import Settings
from chalicelib.domain.audit_chain import CHECKPOINT_PERIOD, format_time, is_chain
from chalicelib.domain.audit_checkpoints import SignatureVerifier
from chalicelib.domain.audit_verification import (
    CopiedLink,
    ExpiryEvidence,
    SignedCheckpoints,
    VerificationReport,
    verify_chain,
)
from chalicelib.domain.audit_worm_check import compare_with_worm, genuine_copy, image_names, well_formed_items
from operations import cli
from operations.target import Target

NEEDS = ("AUDIT_KEY_ID",)
EXPORT_FORMAT = "depistage-audit-export/1"
Clock = Callable[[], datetime]


def report_json(report: VerificationReport) -> dict[str, Any]:
    first = report.first_broken
    return {
        "chain": report.chain,
        "ok": report.ok,
        "events": report.events_checked,
        "checkpoints": report.checkpoints_checked,
        "newest_checkpoint": report.newest_checkpoint,
        "worm_compared": report.worm_checked,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "expired_gaps": report.expired_gaps,
        "first_broken": None
        if first is None
        else {"seq": first.seq, "kind": first.kind, "detail": first.detail},
        "findings": [{"seq": f.seq, "kind": f.kind, "detail": f.detail} for f in report.findings],
    }


def report_lines(report: VerificationReport, max_findings: int) -> list[str]:
    lines = [report.summary()]
    lines += [f"  expired by retention: seq {gap[0]}..{gap[1]}" for gap in report.expired_gaps]
    lines += [f"  {finding}" for finding in sorted(report.findings, key=lambda f: f.seq)[:max_findings]]
    return lines


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("give the time with its offset (Z)")
    return moment.astimezone(UTC)


# --- the one verification, whatever the source ----------------------------------------------------


class UnknownChain(ValueError):
    """The chain named is no chain the journal knows: a typo is no verdict."""

    def __init__(self, chain: str) -> None:
        super().__init__(f"unknown chain {chain[:40]!r}: no event, no checkpoint, no WORM copy, no pharmacy")


def _worm_entries(chain: str, worm: list[Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The copy's images by the (chain, seq) of the key each was found under. A file of the older
    form lists bare images: each is placed at the (chain, seq) its content claims, checked anyway."""
    from chalicelib.adapters.worm import key_names

    entries: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in worm:
        if isinstance(entry, dict) and "key" in entry and "image" in entry:
            names = key_names(str(entry["key"]))
            image = entry["image"]
        else:
            names, image = (image_names(entry) if isinstance(entry, dict) else None), entry
        if names is None or not isinstance(image, dict):
            continue  # a key no chain's copy can have: not listed for this chain
        entries[names] = image
    return entries


def verify_document(
    document: dict[str, Any],
    verifier: SignatureVerifier,
    *,
    now: datetime,
    period: timedelta,
    retention: timedelta | None = None,
) -> VerificationReport:
    """Verify one chain as exported (or as just read from AWS): links, checkpoints, WORM copy."""
    from chalicelib.adapters.dynamodb.audit_items import checkpoint_from_item, link_from_item

    if document.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not a {EXPORT_FORMAT} document")
    chain = str(document["chain"])
    if not is_chain(chain) or not (
        document.get("events") or document.get("checkpoints") or document.get("worm")
    ):
        raise UnknownChain(chain)
    report = VerificationReport(chain=chain)
    events = well_formed_items(report, document.get("events", []))
    worm = document.get("worm")
    genuine = genuine_copy(report, _worm_entries(chain, worm)) if worm is not None else None
    copied = (
        None if genuine is None else {seq: CopiedLink.of(link_from_item(i)) for seq, i in genuine.items()}
    )
    evidence = ExpiryEvidence(copy=copied, retention=retention)
    signed = SignedCheckpoints(
        [checkpoint_from_item(item) for item in document.get("checkpoints", [])], verifier, period
    )
    checked = verify_chain(
        (link_from_item(item) for item in events), signed, chain=chain, now=now, expiry=evidence
    )
    checked.findings[:0] = report.findings
    if genuine is not None:
        table = {link_from_item(item).seq: item for item in events}
        compare_with_worm(checked, table, genuine, now=now)
    return checked


# --- AWS side (online verification and export) ----------------------------------------------------


class AwsSource:
    """Reads chains from the tables and the WORM copy with the process's settings (target applied)."""

    def __init__(self, *, worm: bool = True) -> None:
        import boto3

        from chalicelib.adapters.worm import S3WormCopy
        from chalicelib.bootstrap import bind_tables
        from chalicelib.config import load_settings

        self.settings = load_settings()
        bind_tables(self.settings)
        self._session = boto3.Session(region_name=self.settings.region)
        self._worm = (
            S3WormCopy(self._client("s3"), self.settings.audit_worm_bucket)
            if worm and self.settings.audit_worm_bucket
            else None
        )

    def _client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.settings.aws_endpoint_url)  # type: ignore[call-overload]

    def public_key(self) -> bytes:
        from chalicelib.adapters.dynamodb.audit_checkpointer import KmsSigner

        return KmsSigner(self._client("kms"), self.settings.audit_key_id).public_key()[0]

    def chains(self) -> list[str]:
        from chalicelib.adapters.dynamodb.audit_items import known_chains, stored_chains

        found = stored_chains() | known_chains()
        if self._worm is not None:
            found |= self._worm.chains()
        return sorted(chain for chain in found if is_chain(chain))

    def quarantined(self) -> int | None:
        """How many items the journal's watchers set aside (None without the WORM bucket)."""
        return None if self._worm is None else self._worm.quarantined()

    def document(self, chain: str, now: datetime) -> dict[str, Any]:
        from chalicelib.adapters.dynamodb.audit_items import checkpoint_items, is_known_chain, link_items

        if not is_chain(chain):
            raise UnknownChain(chain)
        worm = list(self._worm.chain_images(chain)) if self._worm is not None else None
        if not worm and not is_known_chain(chain):
            raise UnknownChain(chain)
        document: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "chain": chain,
            "exported_at": format_time(now),
            "events": list(link_items(chain)),
            "checkpoints": checkpoint_items(chain),
        }
        if worm is not None:
            from chalicelib.adapters.worm import object_key

            document["worm"] = [{"key": object_key(*names), "image": image} for names, image in worm]
        return document


def quarantined_items(settings: Any, session: Any) -> int | None:
    """How many audit items the journal's watchers set aside (the operator's status shows it);
    None without a WORM bucket."""
    from chalicelib.adapters.worm import S3WormCopy

    if not settings.audit_worm_bucket:
        return None
    s3 = session.client("s3", endpoint_url=settings.aws_endpoint_url)
    return S3WormCopy(s3, settings.audit_worm_bucket).quarantined()


# --- the commands ----------------------------------------------------------------------------------


def _present(
    reports: list[VerificationReport], source: str, args: argparse.Namespace, out: cli.Output
) -> int:
    broken = [r.chain for r in reports if not r.ok]
    names = f": {', '.join(broken)}" if broken else ""
    out.line(f"{len(reports) - len(broken)} intact, {len(broken)} broken{names}")
    out.document(
        {
            "target": source,
            "intact": len(reports) - len(broken),
            "broken": broken,
            "chains": [report_json(r) for r in reports],
        }
    )
    return cli.EXIT_ATTENTION if broken else cli.EXIT_OK


def online(args: argparse.Namespace, target: Target, out: cli.Output, clock: Clock) -> int:
    from chalicelib.adapters.audit_key import public_key_pem
    from chalicelib.domain.audit_checkpoints import public_key_fingerprint

    target.require(NEEDS)
    aws = AwsSource(worm=not args.no_worm)
    now = _moment(args.now) if args.now else clock()
    if args.save_public_key is not None:
        der = aws.public_key()
        args.save_public_key.write_text(public_key_pem(der))
        out.line(f"wrote {args.save_public_key} (SHA-256 {public_key_fingerprint(der)})")
        out.document({"public_key": str(args.save_public_key), "fingerprint": public_key_fingerprint(der)})
        return cli.EXIT_OK
    if args.export is not None:
        if args.out is None:
            raise ValueError("--export needs --out FILE")
        document = aws.document(args.export, now)
        args.out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        out.line(
            f"wrote {args.out}: chain {args.export}, {len(document['events'])} events, "
            f"{len(document['checkpoints'])} checkpoints"
        )
        out.document({"file": str(args.out), "chain": args.export, "events": len(document["events"])})
        return cli.EXIT_OK
    key = args.public_key.read_bytes() if args.public_key is not None else aws.public_key()
    verifier = public_key_verifier(key)
    chains = aws.chains() if args.all else list(args.chain)
    period = timedelta(minutes=args.period_minutes)
    retention = timedelta(days=args.retention_days or aws.settings.audit_retention_days)
    out.line(f"verifying {len(chains)} audit chain(s) of {target.source}")
    reports: list[VerificationReport] = []
    with cli.progress("verifying audit chains", total=len(chains)) as bar:
        for chain in chains:
            try:
                document = aws.document(chain, now)
                report = verify_document(document, verifier, now=now, period=period, retention=retention)
            except UnknownChain as exc:
                if args.all:  # listed, yet nothing recorded (the platform's chain before its first event)
                    out.line(f"chain {chain}: nothing recorded yet")
                    bar.advance(1, f"chain {chain}")
                    continue
                return cli.say_cannot_run("verify_audit", str(exc))  # a mistyped chain is no verdict
            reports.append(report)
            for line in report_lines(report, args.max_findings):
                out.line(line)
            bar.advance(1, f"chain {chain}")
    return _present(reports, target.source, args, out)


def offline(args: argparse.Namespace, out: TextIO | None, clock: Clock) -> int:
    """An exported file and the public key: no service, no AWS."""
    output = cli.Output(args.json, out)
    try:
        if args.public_key is None:
            raise ValueError("--file needs --public-key (the audit key's public part)")
        document = json.loads(args.file.read_text())
        now = _moment(args.now) if args.now else clock()  # never the file's own `exported_at`
        verifier = public_key_verifier(args.public_key.read_bytes())
        retention = timedelta(days=args.retention_days or Settings.audit_retention_days)
        report = verify_document(
            document, verifier, now=now, period=timedelta(minutes=args.period_minutes), retention=retention
        )
    except Exception as exc:  # an unreadable file or key: no verdict rather than a false one
        return cli.say_cannot_run("verify_audit", f"could not verify: {type(exc).__name__}: {exc}")
    for line in report_lines(report, args.max_findings):
        output.line(line)
    return _present([report], str(args.file), args, output)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("verify_audit", (__doc__ or "").split("\n", 1)[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--chain", action="append", help="a FINESS, or 'platform' (repeatable)")
    which.add_argument("--all", action="store_true", help="every chain known to the tables or the WORM copy")
    which.add_argument("--file", type=Path, help="verify an exported chain offline (needs --public-key)")
    which.add_argument("--export", metavar="CHAIN", help="write a chain to --out for offline verification")
    which.add_argument(
        "--save-public-key", type=Path, metavar="FILE", help="write the audit public key (PEM)"
    )
    parser.add_argument("--out", type=Path, help="with --export: the file to write")
    parser.add_argument("--public-key", type=Path, help="the audit public key (PEM or DER)")
    parser.add_argument("--no-worm", action="store_true", help="do not compare with the WORM copy")
    parser.add_argument(
        "--as-of", "--now", dest="now", help="judge freshness at this time (RFC 3339) instead of now"
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="the audit retention policy that excuses expired links (default: the service's)",
    )
    parser.add_argument(
        "--period-minutes",
        type=float,
        default=CHECKPOINT_PERIOD.total_seconds() / 60,
        help="the checkpoint schedule's period (a chain with no checkpoint for two is broken)",
    )
    parser.add_argument("--max-findings", type=int, default=20, help="findings listed per broken chain")
    return parser


def run(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    clock: Clock = lambda: datetime.now(UTC),
) -> int:
    args = build_parser().parse_args(argv)
    if args.file is not None:
        return offline(args, out, clock)
    return cli.run("verify_audit", args, lambda a, t, o: online(a, t, o, clock), out=out)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
