"""Operator command: a breach's scope. Which record ids did this account, this address or this
pharmacy touch between these times, per pharmacy, from chains it has verified.

    python -m operations.breach_scope --actor pharmacist-a --from 2026-12-07T02:00Z --to 2026-12-07T04:00Z
    python -m operations.breach_scope --source-ip 2001:db8::7 --from ... --to ... --out-dir scope/
    python -m operations.breach_scope --finess 750000010 --from ... --to ... --json

What it selects: the journal's events whose time is in [--from, --to] and that match every
criterion given: `--actor` (the username, exactly), `--source-ip` (an IPv4 address, or an IPv6
address's /64, as the refusal counter counts sources: chalicelib/services/refusals.py), `--finess`
(that pharmacy's chain only; otherwise every chain). Of those, the successful events naming
record ids (read, list, read_delivery, patient_export, create, result, cancel, erase, export...:
the journal's own action names) make the scope: per pharmacy, each record id with how it was
touched (action, count, first and last time). Attempts that did not succeed (a 404 probe of an id
that is not the caller's pharmacy's, a failed erasure) are counted, their ids not listed: nothing
of them was disclosed. Record ids only, never a personal value: each pharmacy maps the ids to
people through its own API (`GET /v1/tests/{id}`), as the controller it is.

Each chain is verified first, exactly as `verify_audit` does (operations/verify_audit.py: links,
signed checkpoints, the WORM copy). A chain that verifies is read from the table. A chain that
fails (the table was tampered with) is read from its WORM copy instead, once that copy verifies on
its own against the signed checkpoints (the chain is then marked `worm`); if neither verifies, the
chain is `refused` and none of its events is used, unless `--include-unverified` lists them, marked
`unverified`. Its findings are named either way.

Output: a summary, or with `--json` one document; with `--out-dir DIR`, for each pharmacy whose
records were touched, `DIR/<FINESS>.csv` (record_id, action, count, first, last) and
`DIR/<FINESS>.json`, one file per controller's notification.

Cost: what verification costs, nothing more. Per chain: its links by Query (pages of 1 MiB, about
1,500 events each), its checkpoints by Query, and the WORM copy listed (1,000 keys a page) with one
GetObject per copied event, the bulk of the time; the window is then cut in memory (the journal's
time index would serve a window alone, but an unverified window is what this command refuses).
`--no-worm` skips the copy (a tampered chain is then refused).

Exit status: 0 every chain read was verified, 1 a chain was marked or refused (named), 2 could not
run (no service, bad arguments, an unknown pharmacy).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from chalicelib.domain.access_review import is_review_own
from chalicelib.domain.audit_chain import CHECKPOINT_PERIOD, format_time
from chalicelib.domain.audit_verification import VerificationReport
from chalicelib.domain.sources import source_of
from operations import cli
from operations.target import Target
from operations.verify_audit import EXPORT_FORMAT, NEEDS, UnknownChain, verify_document

Clock = Callable[[], datetime]
VERIFIED, WORM, REFUSED, UNVERIFIED = "verified", "worm", "refused", "unverified"
CSV_HEADER = ("record_id", "action", "count", "first", "last")


@dataclass(frozen=True)
class Criteria:
    """What an event must match: the window always, each criterion given."""

    start: str  # the journal's own time format: string order is time order
    end: str
    actor: str | None = None
    source: str | None = None

    def matches(self, time: str, event: dict[str, Any]) -> bool:
        if not self.start <= time <= self.end:
            return False
        if self.actor is not None and event.get("actor") != self.actor:
            return False
        return self.source is None or source_of(str(event.get("source_ip") or "")) == self.source


@dataclass
class Touch:
    count: int = 0
    first: str = ""
    last: str = ""

    def add(self, time: str) -> None:
        self.count += 1
        self.first = min(self.first or time, time)
        self.last = max(self.last, time)


@dataclass
class ChainScope:
    """One chain's part of the scope: its status, and each record id with how it was touched."""

    chain: str
    status: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Touch]] = field(default_factory=dict)
    events: int = 0  # events matched that touched records
    attempts: int = 0  # events matched that did not succeed (nothing disclosed)

    def add(self, time: str, event: dict[str, Any]) -> None:
        ids = [str(i) for i in event.get("record_ids") or () if isinstance(i, str)]
        own = is_review_own(
            str(event.get("action") or ""), str(event.get("actor") or ""), str(event.get("outcome") or "")
        )
        if not ids or own:
            return  # an alert of the journal's review names records it saw touched, it touched none
        if event.get("outcome") != "success":
            self.attempts += 1
            return
        self.events += 1
        action = str(event.get("action") or "unknown")
        for record_id in ids:
            self.records.setdefault(record_id, {}).setdefault(action, Touch()).add(time)

    def rows(self) -> list[tuple[str, str, int, str, str]]:
        return [
            (record_id, action, touch.count, touch.first, touch.last)
            for record_id, actions in sorted(self.records.items())
            for action, touch in sorted(actions.items())
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "pharmacy": self.chain,
            "status": self.status,
            "record_count": len(self.records),
            "events": self.events,
            "attempts_not_succeeded": self.attempts,
            "findings": self.findings,
            "records": [
                {
                    "id": record_id,
                    "actions": {
                        action: {"count": t.count, "first": t.first, "last": t.last}
                        for action, t in sorted(actions.items())
                    },
                }
                for record_id, actions in sorted(self.records.items())
            ],
        }


def scope_of(chain: str, status: str, items: Iterable[dict[str, Any]], criteria: Criteria) -> ChainScope:
    """The scope of one chain's links (DynamoDB images, from the table or the WORM copy)."""
    from chalicelib.adapters.dynamodb.audit_items import link_from_item

    scope = ChainScope(chain, status)
    for item in items:
        link = link_from_item(item)
        event = link.event if isinstance(link.event, dict) else {}
        if criteria.matches(link.time, event):
            scope.add(link.time, event)
    return scope


# --- verification, then the scope -----------------------------------------------------------------


@dataclass(frozen=True)
class Verifying:
    verifier: Any
    now: datetime
    period: timedelta
    retention: timedelta
    include_unverified: bool


def _findings(report: VerificationReport) -> list[dict[str, Any]]:
    return [{"seq": f.seq, "kind": f.kind, "detail": f.detail} for f in report.findings]


def _copy_document(document: dict[str, Any]) -> dict[str, Any] | None:
    """The chain as its WORM copy holds it (each key's first version, whose content names its key),
    with the checkpoints as signed; None without a copy."""
    from chalicelib.adapters.worm import key_names
    from chalicelib.domain.audit_worm_check import image_names

    images = []
    for entry in document.get("worm") or []:
        names, image = key_names(str(entry.get("key"))), entry.get("image")
        if names is not None and isinstance(image, dict) and image_names(image) == names:
            images.append(image)
    if not images:
        return None
    return {**{k: v for k, v in document.items() if k != "worm"}, "events": images, "format": EXPORT_FORMAT}


def chain_scope(document: dict[str, Any], how: Verifying, criteria: Criteria) -> ChainScope:
    """Verify the chain, then read its scope from what verified: the table, else the WORM copy."""
    chain = str(document["chain"])
    report = verify_document(document, how.verifier, **_when(how))
    if report.ok:
        return scope_of(chain, VERIFIED, document["events"], criteria)
    findings = _findings(report)
    copy = _copy_document(document)
    if copy is not None and verify_document(copy, how.verifier, **_when(how)).ok:
        scope = scope_of(chain, WORM, copy["events"], criteria)
    elif how.include_unverified:
        scope = scope_of(chain, UNVERIFIED, document["events"], criteria)
    else:
        scope = ChainScope(chain, REFUSED)
    scope.findings = findings
    return scope


def _when(how: Verifying) -> dict[str, Any]:
    return {"now": how.now, "period": how.period, "retention": how.retention}


# --- the command -----------------------------------------------------------------------------------


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name}: not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{name}: give the time with its offset (Z)")
    return moment.astimezone(UTC)


def criteria_of(args: argparse.Namespace) -> Criteria:
    start, end = _moment(args.start, "--from"), _moment(args.end, "--to")
    if end < start:
        raise ValueError("--to is before --from")
    if not (args.actor or args.source_ip or args.finess):
        raise ValueError("give --actor, --source-ip or --finess (or several)")
    return Criteria(
        start=format_time(start),
        end=format_time(end),
        actor=args.actor,
        source=source_of(args.source_ip) if args.source_ip else None,
    )


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: the journal's fields are the writers' word, and a
    record id written as `=HYPERLINK(...)` would be a formula in a controller's spreadsheet."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_files(scope: ChainScope, out_dir: Path) -> list[Path]:
    """`<FINESS>.csv` and `<FINESS>.json`: one pharmacy's notification, record ids only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / f"{scope.chain}.csv", out_dir / f"{scope.chain}.json"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows([_cell(cell) for cell in row] for row in scope.rows())
    json_path.write_text(json.dumps(scope.as_json(), indent=1) + "\n", encoding="utf-8")
    return [csv_path, json_path]


def _present(scopes: list[ChainScope], criteria: Criteria, target: Target, out: cli.Output) -> int:
    touched = [s for s in scopes if s.records]
    flagged = [s for s in scopes if s.status != VERIFIED]
    total = sum(len(s.records) for s in touched)
    out.line(
        f"{total} record(s) touched at {len(touched)} pharmacy(ies), from {criteria.start} to {criteria.end}"
    )
    out.table(
        ["pharmacy", "status", "records", "events", "attempts"],
        [[s.chain, s.status, len(s.records), s.events, s.attempts] for s in touched or flagged],
    )
    for scope in flagged:
        out.line(f"chain {scope.chain}: {scope.status} ({len(scope.findings)} finding(s); see verify_audit)")
    out.document(
        {
            "target": target.source,
            "criteria": {
                "from": criteria.start,
                "to": criteria.end,
                "actor": criteria.actor,
                "source": criteria.source,
            },
            "record_count": total,
            "pharmacies": [s.as_json() for s in scopes if s.records or s.status != VERIFIED],
        }
    )
    return cli.EXIT_ATTENTION if flagged else cli.EXIT_OK


def online(args: argparse.Namespace, target: Target, out: cli.Output, clock: Clock) -> int:
    from chalicelib.adapters.audit_key import public_key_verifier
    from operations.verify_audit import AwsSource

    criteria = criteria_of(args)
    target.require(NEEDS)
    aws = AwsSource(worm=not args.no_worm)
    now = clock()
    key = args.public_key.read_bytes() if args.public_key is not None else aws.public_key()
    how = Verifying(
        verifier=public_key_verifier(key),
        now=now,
        period=timedelta(minutes=args.period_minutes),
        retention=timedelta(days=aws.settings.audit_retention_days),
        include_unverified=args.include_unverified,
    )
    chains = [args.finess] if args.finess else aws.chains()
    scopes: list[ChainScope] = []
    with cli.progress("verifying and reading chains", total=len(chains)) as bar:
        for chain in chains:
            try:
                scopes.append(chain_scope(aws.document(chain, now), how, criteria))
            except UnknownChain as exc:
                if args.finess:
                    return cli.say_cannot_run("breach_scope", str(exc))
                # listed, nothing recorded yet (the platform's chain before its first event)
            bar.advance(1, f"chain {chain}")
    if args.out_dir is not None:
        for scope in scopes:
            if scope.records:
                write_files(scope, args.out_dir)
        out.line(f"wrote {args.out_dir}/<FINESS>.csv and .json for each pharmacy touched")
    return _present(scopes, criteria, target, out)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("breach_scope", (__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--from", dest="start", required=True, help="the window's start (RFC 3339, with Z)")
    parser.add_argument("--to", dest="end", required=True, help="the window's end (RFC 3339, with Z)")
    parser.add_argument("--actor", help="a username (exactly as journaled)")
    parser.add_argument("--source-ip", help="a source address (IPv6: its /64)")
    parser.add_argument("--finess", help="one pharmacy's chain only (default: every chain)")
    parser.add_argument("--out-dir", type=Path, help="write <FINESS>.csv and <FINESS>.json per pharmacy")
    parser.add_argument("--public-key", type=Path, help="the audit public key (default: read from KMS)")
    parser.add_argument(
        "--no-worm", action="store_true", help="skip the WORM copy (a tampered chain is refused)"
    )
    parser.add_argument(
        "--include-unverified",
        action="store_true",
        help="list a chain that verifies neither in the table nor in its copy, marked unverified",
    )
    parser.add_argument(
        "--period-minutes",
        type=float,
        default=CHECKPOINT_PERIOD.total_seconds() / 60,
        help="the checkpoint schedule's period",
    )
    return parser


def run(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    clock: Clock = lambda: datetime.now(UTC),
) -> int:
    args = build_parser().parse_args(argv)
    return cli.run("breach_scope", args, lambda a, t, o: online(a, t, o, clock), out=out)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
