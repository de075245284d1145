"""A soak of the local stack: a busy pharmacy's day, judged from SI-DEP's own view.

    python -m devtools.soak [--stack .local/stack.json] [--clients 8] [--records 10000] [--seconds 2400]

`--clients` pharmacists at the two seeded pharmacies create `--records` records in all (or until
`--seconds`), through devtools/load.py's clients: most with an Idempotency-Key (some first attempts
cut short by the client, some answers "lost" and re-sent), some without. Some records are created
without a result and get one later, some get a corrected result, some are cancelled before any
result. Meanwhile the export and the journal's consumers run, and the fake SI-DEP's faults follow a
schedule (`<sidep state>/faults.json`, devtools/fake_sidep.py): answers cut after the batch was
taken, slow answers, 429 with Retry-After, down. Then the faults are cleared and the export given
`--drain` seconds to catch up, and the verdict is SI-DEP's view (its messages.json):
  * every record acknowledged by the API, and every one with a result held with that result (the
    last F/C SI-DEP accepted for it); nothing of a cancelled record ever sent;
  * no 5xx, and no 409 (the soak never reuses an Idempotency-Key with another body, so any 409 is
    a false conflict);
  * every journal chain verifies (`python -m operations.verify_audit --all`);
  * moto's resident memory (sampled) under `--max-rss-mib`; the last `--bucket` creates' p95 within
    `--max-p95-growth` times the first's.
It prints create latency by bucket (a thousand by default) with moto's memory then. Bounded in
count and time; loopback only. If no stack answers at --stack, one is started on free ports in a
temp dir and stopped at the end. Exit 0 if every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from devtools.load import (
    MAX_ATTEMPTS,
    REQUEST_TIMEOUT_SECONDS,
    RETRY_AFTER_CAP_SECONDS,
    USERS,
    Client,
    Stats,
    _loopback,
    percentile,
    running_stack,
    submission,
)

# SNOMED CT codes SI-DEP gets in OBX-5 (chalicelib/adapters/sidep/hl7.RESULT_CODES)
RESULT_CODES = {"positive": "260373001", "negative": "260415000", "invalid": "455371000124106"}

# (name, seconds, faults.json): the receiver's day, repeated while the clients run
SCHEDULE: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("clear", 40, {}),
    ("cut", 20, {"cut": True}),
    ("clear", 20, {}),
    ("slow", 20, {"slow_seconds": 6}),
    ("busy", 20, {"busy_seconds": 2}),
    ("clear", 20, {}),
    ("down", 20, {"down": True}),
)


@dataclass
class Plan:
    """What a record goes through, and what SI-DEP must hold of it at the end."""

    first: str | None  # the result at creation
    then: str | None = None  # a result set later (a first one, or a correction)
    cancel: bool = False
    with_key: bool = True

    @property
    def expected(self) -> str | None:
        return None if self.cancel else (self.then or self.first)


def plan(rng: random.Random) -> Plan:
    with_key = rng.random() < 0.8
    roll = rng.random()
    if roll < 0.10:
        return Plan(first=None, cancel=True, with_key=with_key)
    if roll < 0.25:
        return Plan(first=None, then=rng.choice(["negative", "positive"]), with_key=with_key)
    if roll < 0.30:
        return Plan(first="negative", then="positive", with_key=with_key)
    return Plan(first=rng.choice(["negative", "positive"]), with_key=with_key)


@dataclass
class Memory:
    """moto's resident memory, sampled from /proc while the soak runs."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, KiB)

    def rss_kib(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self, stop: threading.Event, started: float, every: float = 2.0) -> None:
        while not stop.is_set():
            self.samples.append((time.monotonic() - started, self.rss_kib()))
            stop.wait(every)

    @property
    def peak_mib(self) -> float:
        return max((kib for _, kib in self.samples), default=0) / 1024


class Faults:
    """The fake SI-DEP's fault file, stepped through SCHEDULE (durations times `scale`)."""

    def __init__(self, path: Path, scale: float) -> None:
        self.path = path
        self.scale = scale
        self.phases: list[str] = []
        self.cycled = threading.Event()  # every fault of the schedule happened once

    def write(self, faults: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.soak")
        tmp.write_text(json.dumps(faults))
        tmp.replace(self.path)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                for name, seconds, faults in SCHEDULE:
                    self.write(faults)
                    self.phases.append(name)
                    if stop.wait(seconds * self.scale):
                        return
                self.cycled.set()
        finally:
            self.write({})


@dataclass
class ServerError:
    """Evidence of one 5xx answer: what the client sent and got, and the stack's log lines that
    name its request id (filled in at the end, while the stack's logs are still there)."""

    method: str
    kind: str
    status: int
    request_id: str
    problem: Any
    log_lines: list[str] = field(default_factory=list)


EVIDENCE_LIMIT = 10  # 5xx answers whose evidence is kept (all are counted)
LOG_LINES_PER_ANSWER = 40


class SoakClient(Client):
    """A load client that also sets results and cancels, retrying what is safe to retry, and that
    keeps the evidence of each 5xx answer (`server_errors`, shared by the clients)."""

    server_errors: list[ServerError]

    def _send(
        self, method: str, path: str, kind: str, timeout: float, **kwargs: Any
    ) -> requests.Response | None:
        response = super()._send(method, path, kind, timeout, **kwargs)
        if response is not None and response.status_code >= 500:
            try:
                problem: Any = response.json()
            except ValueError:
                problem = response.text[:500]
            evidence = ServerError(
                method, kind, response.status_code, response.headers.get("X-Request-Id", ""), problem
            )
            with self.stats.lock:
                if len(self.server_errors) < EVIDENCE_LIMIT:
                    self.server_errors.append(evidence)
        return response

    def _idempotent(self, method: str, path: str, body: dict[str, Any] | None, ok: int) -> bool:
        for _ in range(MAX_ATTEMPTS):
            if time.monotonic() > self.deadline:
                return False
            data = json.dumps(body) if body is not None else None
            kind = "result" if method == "PUT" else "cancel"
            response = self._send(method, path, kind, REQUEST_TIMEOUT_SECONDS, data=data)
            if response is None:
                continue  # no answer: the same PUT or DELETE again
            if response.status_code == 503 and response.headers.get("Retry-After", "").isdigit():
                time.sleep(min(RETRY_AFTER_CAP_SECONDS, float(response.headers["Retry-After"])))
                continue
            if response.status_code != ok:
                self._unexpected(f"{method} {kind}", response)
                return False
            return True
        return False

    def follow(self, record_id: str, step: Plan) -> bool:
        if step.cancel:
            return self._idempotent("DELETE", f"/v1/tests/{record_id}", None, 204)
        if step.then is not None:
            return self._idempotent("PUT", f"/v1/tests/{record_id}/result", {"result": step.then}, 200)
        return True


@dataclass
class Outcome:
    """What SI-DEP holds against what it should."""

    expected_held: int = 0
    held: int = 0
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    cancelled_sent: list[str] = field(default_factory=list)


def judge(records: dict[str, Plan], messages: dict[str, dict[str, str]]) -> Outcome:
    last: dict[str, dict[str, str]] = {}
    sent: set[str] = set()
    for message in sorted(messages.values(), key=lambda m: int(m["seq"])):
        sent.add(message["record_id"])
        if message["kind"] in ("F", "C"):
            last[message["record_id"]] = message
    outcome = Outcome()
    for record_id, step in records.items():
        if step.cancel:
            if record_id in sent:
                outcome.cancelled_sent.append(record_id)
            continue
        if step.expected is None:
            continue
        outcome.expected_held += 1
        held = last.get(record_id)
        if held is None:
            outcome.missing.append(record_id)
        elif held["result"] != RESULT_CODES[step.expected]:
            outcome.wrong.append(record_id)
        else:
            outcome.held += 1
    return outcome


def _messages(path: Path) -> dict[str, dict[str, str]]:
    try:
        data: dict[str, dict[str, str]] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data


def log_lines(logs: dict[str, str], request_id: str, limit: int = LOG_LINES_PER_ANSWER) -> list[str]:
    """The stack's log lines (every process's log, `stack.json`'s "logs") that name `request_id`,
    each prefixed with its process's name; at most `limit`."""
    found: list[str] = []
    if not request_id:
        return found
    for name, path in sorted(logs.items()):
        try:
            with open(path, encoding="utf-8", errors="replace") as log:
                for line in log:
                    if request_id in line:
                        found.append(f"{name}: {line.rstrip()}")
                        if len(found) >= limit:
                            return found
        except OSError:
            continue
    return found


def by_bucket(latencies: list[float], size: int) -> list[dict[str, float]]:
    rows = []
    for start in range(0, len(latencies), size):
        chunk = latencies[start : start + size]
        rows.append(
            {
                "from": start + 1,
                "to": start + len(chunk),
                "p50_ms": 1000 * percentile(chunk, 0.5),
                "p95_ms": 1000 * percentile(chunk, 0.95),
            }
        )
    return rows


@dataclass(frozen=True)
class SoakPlan:
    """A soak: `clients` in parallel create `records` in all within `seconds`, then the export is
    given `drain_seconds` to catch up; the fault schedule's durations times `fault_scale`; create
    latency reported by `bucket` creates."""

    clients: int
    records: int
    seconds: float
    drain_seconds: float
    fault_scale: float
    bucket: int
    seed: int | None = None


class _Creates:
    """The clients' part of a soak: records created and followed until `records` were attempted
    or the deadline, while moto's memory is sampled and the fake SI-DEP's faults step on."""

    def __init__(self, stack: dict[str, Any], soak_plan: SoakPlan) -> None:
        from devtools.login import login_stack_user

        self.plan = soak_plan
        self.api = _loopback(stack["api_url"])
        sidep_dir = Path(stack["sidep_ledger"]).parent
        self.tokens = {user: login_stack_user(stack, user)["AccessToken"] for user in USERS}
        self.base = random.Random(soak_plan.seed)  # noqa: S311  # nosec B311: load-test data, not secrets
        self.marker = str(self.base.randint(100_000, 999_999))
        self.stats = Stats()
        self.started = time.monotonic()
        self.deadline = self.started + soak_plan.seconds
        self.now = datetime.now(UTC)
        self.memory = Memory(int(stack["processes"]["aws"]))
        self.faults = Faults(sidep_dir / "faults.json", soak_plan.fault_scale)
        self.planned: dict[str, Plan] = {}
        self.server_errors: list[ServerError] = []
        self.rss_at: list[float] = []  # moto's RSS (MiB) when each bucket of creates was done
        self._lock = threading.Lock()
        self._next_index = 0

    def run(self) -> float:
        """The clients until done, the faults' whole schedule met once; the seconds it took to
        create the records."""
        stop = threading.Event()
        background = [
            threading.Thread(target=self.memory.run, args=(stop, self.started), daemon=True),
            threading.Thread(target=self.faults.run, args=(stop,), daemon=True),
        ]
        for thread in background:
            thread.start()
        try:
            workers = [threading.Thread(target=self._work, args=(i,)) for i in range(self.plan.clients)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            created_seconds = time.monotonic() - self.started
            # a short run still meets every fault
            self.faults.cycled.wait(max(0.0, self.deadline - time.monotonic()))
        finally:
            stop.set()  # the faults are cleared: the export catches up
            for thread in background:
                thread.join()
        return created_seconds

    def _work(self, index: int) -> None:
        try:
            self._create_and_follow(index)
        except Exception as exc:  # a client that broke is a finding, not a hang
            with self.stats.lock:
                self.stats.unexpected.append(f"client {index}: {type(exc).__name__}")

    def _create_and_follow(self, index: int) -> None:
        rng = random.Random(self.base.random() + index)  # noqa: S311  # nosec B311: load-test data
        user = USERS[index % len(USERS)]
        client = SoakClient(self.api, self.tokens[user], user, self.stats, rng, self.deadline)
        client.server_errors = self.server_errors
        while time.monotonic() < self.deadline and self._take_one():
            step = plan(rng)
            body = submission(rng, self.marker, self.now)
            body["test"]["result"] = step.first
            created = client.create(
                body, rng.random() < 0.05, rng.random() < 0.05, with_key=step.with_key, read_back=0.2
            )
            if created is None:
                continue
            self._acknowledged(created["id"], step)
            client.follow(created["id"], step)

    def _take_one(self) -> bool:
        """One more record to create, if `records` are not all taken."""
        with self._lock:
            if self._next_index >= self.plan.records:
                return False
            self._next_index += 1
            return True

    def _acknowledged(self, record_id: str, step: Plan) -> None:
        with self._lock:
            self.planned[record_id] = step
            if len(self.planned) % self.plan.bucket == 0:
                self.rss_at.append(self.memory.rss_kib() / 1024)

    def latency_rows(self) -> list[dict[str, float]]:
        rows = by_bucket(self.stats.latencies["create"], self.plan.bucket)
        for row, rss in zip(rows, self.rss_at, strict=False):
            row["moto_rss_mib"] = rss
        return rows


def _drained(planned: dict[str, Plan], messages_path: Path, drain_seconds: float) -> Outcome:
    """SI-DEP's view once it holds every record as it should, or after `drain_seconds`."""
    drain_until = time.monotonic() + drain_seconds
    outcome = judge(planned, _messages(messages_path))
    while (outcome.missing or outcome.wrong) and time.monotonic() < drain_until:
        time.sleep(5)
        outcome = judge(planned, _messages(messages_path))
    return outcome


def _verify_audit(stack_file: Path) -> subprocess.CompletedProcess[str]:
    for _ in range(3):  # exit 2: could not run (moto busy), not a broken chain (exit 1)
        verify = subprocess.run(
            [sys.executable, "-m", "operations.verify_audit", "--all", "--stack", str(stack_file)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if verify.returncode != 2:
            break
        time.sleep(10)
    return verify


def _answers(statuses: dict[str, int]) -> tuple[int, int]:
    """The 5xx answers and the 409s among the statuses counted."""
    server_errors = sum(n for label, n in statuses.items() if label.split()[-1].startswith("5"))
    conflicts = sum(n for label, n in statuses.items() if label.split()[-1] == "409")
    return server_errors, conflicts


def run(stack: dict[str, Any], stack_file: Path, soak_plan: SoakPlan) -> dict[str, Any]:
    creates = _Creates(stack, soak_plan)
    created_seconds = creates.run()
    messages_path = Path(stack["sidep_ledger"]).parent / "messages.json"
    outcome = _drained(creates.planned, messages_path, soak_plan.drain_seconds)
    memory = creates.memory
    memory.samples.append((time.monotonic() - creates.started, memory.rss_kib()))
    drained_seconds = time.monotonic() - creates.started - created_seconds
    verify = _verify_audit(stack_file)
    for (
        error
    ) in creates.server_errors:  # the stack's logs go with a stack started for the soak: read them now
        error.log_lines = log_lines(stack.get("logs", {}), error.request_id)
    stats, planned = creates.stats, creates.planned
    statuses = dict(stats.statuses)
    server_errors_count, conflicts = _answers(statuses)
    return {
        "date": creates.now.isoformat(timespec="seconds"),
        "clients": soak_plan.clients,
        "records_planned": soak_plan.records,
        "records_acknowledged": len(planned),
        "seconds_creating": round(created_seconds, 1),
        "seconds_draining": round(drained_seconds, 1),
        "faults_phases": creates.faults.phases,
        "requests": stats.requests,
        "statuses": statuses,
        "server_errors": server_errors_count,
        "server_error_evidence": [asdict(error) for error in creates.server_errors],
        "conflicts": conflicts,
        "unexpected": stats.unexpected[:20],
        "unexpected_count": len(stats.unexpected),
        "key_conflicts": stats.key_conflicts,
        "expected_held": outcome.expected_held,
        "held": outcome.held,
        "missing": outcome.missing[:20],
        "missing_count": len(outcome.missing),
        "wrong_result": outcome.wrong[:20],
        "cancelled_records": sum(1 for p in planned.values() if p.cancel),
        "cancelled_sent": outcome.cancelled_sent[:20],
        "cancelled_sent_count": len(outcome.cancelled_sent),
        "verify_audit_exit": verify.returncode,
        "verify_audit_tail": verify.stdout.strip().splitlines()[-3:]
        + verify.stderr.strip().splitlines()[-3:],
        "moto_rss_peak_mib": round(memory.peak_mib, 1),
        "moto_rss_end_mib": round(memory.samples[-1][1] / 1024, 1),
        "create_latency_by_bucket": creates.latency_rows(),
        "bucket": soak_plan.bucket,
    }


def verdict(report: dict[str, Any], *, max_rss_mib: float, max_p95_growth: float) -> list[str]:
    """The checks that failed (empty: the soak passed)."""
    failed = []
    if report["records_acknowledged"] < report["records_planned"]:
        failed.append(
            f"{report['records_planned'] - report['records_acknowledged']} record(s) not acknowledged"
        )
    if report["server_errors"]:
        failed.append(f"{report['server_errors']} answer(s) 5xx")
    if report["conflicts"]:
        failed.append(f"{report['conflicts']} false 409(s)")
    if report["unexpected_count"] or report["key_conflicts"]:
        failed.append(
            f"{report['unexpected_count']} unexpected answer(s), {report['key_conflicts']} key conflict(s)"
        )
    if report["missing_count"] or report["wrong_result"]:
        failed.append(
            f"SI-DEP lacks {report['missing_count']} record(s), {len(report['wrong_result'])} wrong"
        )
    if report["cancelled_sent_count"]:
        failed.append(f"{report['cancelled_sent_count']} cancelled record(s) sent")
    if report["verify_audit_exit"] != 0:
        failed.append(f"verify_audit --all exited {report['verify_audit_exit']}")
    if report["moto_rss_peak_mib"] > max_rss_mib:
        failed.append(f"moto's RSS peaked at {report['moto_rss_peak_mib']} MiB (> {max_rss_mib})")
    rows = [r for r in report["create_latency_by_bucket"] if r["to"] - r["from"] + 1 == report["bucket"]]
    if len(rows) >= 2 and rows[-1]["p95_ms"] > max_p95_growth * rows[0]["p95_ms"]:
        failed.append(
            f"the last {report['bucket']} creates' p95 {rows[-1]['p95_ms']:.0f} ms > "
            f"{max_p95_growth} x the first's {rows[0]['p95_ms']:.0f} ms"
        )
    return failed


def summary(report: dict[str, Any], failed: list[str]) -> str:
    lines = [
        f"soak: {report['clients']} clients, {report['records_acknowledged']}/{report['records_planned']} "
        f"records acknowledged in {report['seconds_creating']}s "
        f"(+{report['seconds_draining']}s for the export)",
        f"  statuses: {dict(sorted(report['statuses'].items()))}",
        f"  5xx: {report['server_errors']}, 409: {report['conflicts']}, "
        f"unexpected: {report['unexpected_count']}",
        f"  SI-DEP holds {report['held']}/{report['expected_held']} records with their result; "
        f"cancelled: {report['cancelled_records']}, of which sent: {report['cancelled_sent_count']}",
        f"  verify_audit --all: exit {report['verify_audit_exit']}",
        f"  moto RSS: peak {report['moto_rss_peak_mib']} MiB, end {report['moto_rss_end_mib']} MiB",
        f"  fault phases: {len(report['faults_phases'])} "
        f"({', '.join(dict.fromkeys(report['faults_phases']))})",
        f"  create latency by {report['bucket']}:",
    ]
    for row in report["create_latency_by_bucket"]:
        rss = f", moto {row['moto_rss_mib']:.0f} MiB" if "moto_rss_mib" in row else ""
        lines.append(
            f"    {row['from']:>6}-{row['to']:<6} p50 {row['p50_ms']:.0f} ms, p95 {row['p95_ms']:.0f} ms{rss}"
        )
    lines += evidence_lines(report, indent="  ")
    lines.append("  verdict: " + ("PASS" if not failed else "FAIL: " + "; ".join(failed)))
    return "\n".join(lines)


def evidence_lines(report: dict[str, Any], indent: str = "") -> list[str]:
    """Each 5xx answer kept: the request, its problem body, its X-Request-Id and the stack's log
    lines that name it."""
    lines: list[str] = []
    for error in report.get("server_error_evidence", []):
        problem = json.dumps(error["problem"], ensure_ascii=False, sort_keys=True)
        lines.append(
            f"{indent}{error['method']} {error['kind']} answered {error['status']}, "
            f"X-Request-Id {error['request_id'] or '(none)'}: {problem}"
        )
        lines += [f"{indent}  {line}" for line in error["log_lines"]] or [
            f"{indent}  (no log line names this request id)"
        ]
    return lines


def _commit() -> str:
    try:
        answer = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return "?"
    return answer.stdout.strip() or "?"


def markdown(report: dict[str, Any], failed: list[str], commit: str) -> str:
    """The soak section of bench/results.md (bench/report.py appends bench/soak.md)."""
    rows = report["create_latency_by_bucket"]
    lines = [
        "## Soak of the local stack (`make soak`)",
        "",
        f"Run {report['date']} at commit {commit}, on the local stack of `make run` (moto server, "
        f"the API's server, the export every 10 s with its stream trigger, the audit checkpoints, "
        f"the audit stream's two consumers, the imports' worker). {report['clients']} clients at the two "
        f"pharmacies; the fake SI-DEP's faults on a schedule "
        f"({', '.join(dict.fromkeys(report['faults_phases']))}; {len(report['faults_phases'])} phases).",
        "",
        "| figure | measured | target |",
        "| --- | --- | --- |",
        f"| records acknowledged | {report['records_acknowledged']} of {report['records_planned']} "
        f"in {report['seconds_creating']} s | 10,000 |",
        f"| moto's resident memory | peak {report['moto_rss_peak_mib']} MiB, "
        f"end {report['moto_rss_end_mib']} MiB | < 1,536 MiB |",
    ]
    full = [r for r in rows if r["to"] - r["from"] + 1 == report["bucket"]]
    if len(full) >= 2:
        lines.append(
            f"| p95 of the last {report['bucket']} creates / the first {report['bucket']}'s | "
            f"{full[-1]['p95_ms']:.0f} / {full[0]['p95_ms']:.0f} ms = "
            f"{full[-1]['p95_ms'] / full[0]['p95_ms']:.2f} | ≤ 1.5 |"
        )
    lines += [
        f"| 5xx answers | {report['server_errors']} | 0 |",
        f"| 409 answers (never a key reused with another body: all false) | {report['conflicts']} | 0 |",
        f"| records SI-DEP holds with our result (last F/C) | {report['held']} of {report['expected_held']} "
        f"| all |",
        f"| cancelled records of which SI-DEP got a message | {report['cancelled_sent_count']} of "
        f"{report['cancelled_records']} | 0 |",
        f"| `verify_audit --all` | exit {report['verify_audit_exit']} | 0 (intact) |",
        "",
        f"Create latency (each answered `POST /v1/tests`, client side) by {report['bucket']}, and moto's "
        "resident memory when that many records were acknowledged:",
        "",
        "| creates | p50 ms | p95 ms | moto RSS MiB |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        rss = f"{row['moto_rss_mib']:.0f}" if "moto_rss_mib" in row else "–"
        lines.append(f"| {row['from']}–{row['to']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {rss} |")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(report["statuses"].items()))
    verdict_text = "pass." if not failed else "; ".join(failed) + "."
    lines += ["", f"Answers: {statuses}.", "", f"Verdict: {verdict_text}"]
    evidence = evidence_lines(report)
    if evidence:
        lines += ["", "Each 5xx answer, with the stack's log lines that name its request id:", "", "```"]
        lines += [*evidence, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default=".local/stack.json", help="the stack file (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--records", type=int, default=10_000, help="in all (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=2400.0, help="to create them (default: %(default)s)")
    parser.add_argument(
        "--drain", type=float, default=300.0, help="seconds for the export (default: %(default)s)"
    )
    parser.add_argument("--fault-scale", type=float, default=1.0, help="times the schedule's durations")
    parser.add_argument(
        "--bucket", type=int, default=1000, help="creates per latency row (default: %(default)s)"
    )
    parser.add_argument("--max-rss-mib", type=float, default=1536.0)
    parser.add_argument("--max-p95-growth", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="also write the bench/results.md section")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.records <= 100_000 and 0 < args.seconds <= 4 * 3600):
        parser.error("--clients must be 1..64, --records 1..100000, --seconds at most 4 hours")
    with running_stack(Path(args.stack)) as stack:
        stack_file = Path(stack["state_dir"]) / "stack.json"
        soak_plan = SoakPlan(
            clients=args.clients,
            records=args.records,
            seconds=args.seconds,
            drain_seconds=args.drain,
            fault_scale=args.fault_scale,
            bucket=args.bucket,
            seed=args.seed,
        )
        report = run(stack, stack_file, soak_plan)
    failed = verdict(report, max_rss_mib=args.max_rss_mib, max_p95_growth=args.max_p95_growth)
    report["verdict"] = failed or "pass"
    print(summary(report, failed), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(markdown(report, failed, _commit()))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
