"""A bounded load test of the local stack: concurrent pharmacists on flaky networks, then a count.

    python -m devtools.load [--stack .local/stack.json] [--clients 8] [--creates 250]

Each client creates `--creates` records, each with its own Idempotency-Key. Some first attempts
are cut short by the client (a read timeout of a few milliseconds: the server goes on, the
client never sees the answer) and some acknowledged creates are sent again as if the answer had
been lost; both retry with the same key and body. Some records are read back. A 503 is retried
after its Retry-After (capped), a bounded number of times. At the end every day's listing of
both pharmacies is read through the API: every acknowledged create must be stored exactly once,
and every key must have named one id.

Bounded in count (clients × creates × attempts) and in time (--deadline), loopback only. If no
stack answers at --stack, one is started on free ports in a temp dir and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests

USERS = ("pharmacist-a", "pharmacist-b")
MAX_ATTEMPTS = 8  # per create, counting the cut-short first attempt
RETRY_AFTER_CAP_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 90.0

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Stats:
    statuses: Counter[str] = field(default_factory=Counter)  # "POST 201", "GET 200", "POST 503", ...
    unexpected: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"create": [], "read": []})
    requests: int = 0
    cut_short: int = 0  # first attempts the client abandoned on purpose
    resent: int = 0  # acknowledged creates sent again with the same key
    connection_errors: int = 0  # no answer at all (retried like a timeout)
    acknowledged: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (id, user)
    key_conflicts: int = 0  # a key that answered with two different ids
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, label: str, status: int | None, seconds: float | None, kind: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[f"{label} {status if status is not None else 'cut'}"] += 1
            if seconds is not None and kind is not None:
                self.latencies.setdefault(kind, []).append(seconds)


@dataclass(frozen=True)
class LoadReport:
    clients: int
    creates: int
    requests: int
    statuses: dict[str, int]
    unexpected: list[str]
    cut_short: int
    connection_errors: int
    resent: int
    acknowledged: int
    stored: int
    lost: int
    duplicated: int
    percentiles_ms: dict[str, dict[str, float]]
    seconds: float

    def summary(self) -> str:
        lines = [
            f"load: {self.clients} clients x {self.creates} creates, "
            f"{self.requests} requests in {self.seconds:.1f}s",
            f"  statuses: {dict(sorted(self.statuses.items()))}",
            f"  cut short by the client: {self.cut_short}, re-sent after an answer: {self.resent}, "
            f"connection errors retried: {self.connection_errors}",
            f"  acknowledged creates: {self.acknowledged}, stored: {self.stored}, "
            f"lost: {self.lost}, duplicated: {self.duplicated}",
            f"  unexpected: {len(self.unexpected)} {self.unexpected[:5]}",
        ]
        for kind, values in self.percentiles_ms.items():
            text = ", ".join(f"{name} {value:.0f} ms" for name, value in values.items())
            lines.append(f"  {kind} latency: {text}")
        return "\n".join(lines)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _loopback(url: str) -> str:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {url}: only the local stack on the loopback is a target")
    return url.rstrip("/")


def _nir(rng: random.Random, sex: str, born: date) -> str:
    departement = rng.choice([d for d in range(1, 96) if d != 20])
    head = f"{1 if sex == 'M' else 2}{born.year % 100:02d}{born.month:02d}{departement:02d}"
    head += f"{rng.randint(1, 990):03d}{rng.randint(1, 999):03d}"
    return f"{head}{97 - int(head) % 97:02d}"


def submission(rng: random.Random, marker: str, now: datetime) -> dict[str, Any]:
    """A valid body; `marker` (the sampling time's microseconds, which the record keeps) tells this
    run's records from any others."""
    sex = rng.choice("FM")
    born = date(rng.randint(1930, 2015), rng.randint(1, 12), rng.randint(1, 28))
    sampled = (now - timedelta(minutes=rng.randint(1, 120))).replace(microsecond=int(marker))
    return {
        "patient": {
            "nir": _nir(rng, sex, born),
            "last_name": rng.choice(["Dupont", "Martin", "Bernard", "Petit", "Durand"]),
            "first_name": rng.choice(["Jeanne", "Paul", "Léa", "Hugo", "Inès"]),
            "birth_date": born.isoformat(),
            "sex": sex,
        },
        "test": {
            "kind": "antigen",
            "device_id": "1232",
            "sampled_at": sampled.isoformat(),
            "result": rng.choice([None, "negative", "positive"]),
        },
    }


def waited_out_retry_after(response: requests.Response) -> bool:
    """True after sleeping out a 503's Retry-After (capped): the request may then be sent again."""
    if response.status_code == 503 and response.headers.get("Retry-After", "").isdigit():
        time.sleep(min(RETRY_AFTER_CAP_SECONDS, float(response.headers["Retry-After"])))
        return True
    return False


class Client:
    def __init__(
        self, api: str, token: str, user: str, stats: Stats, rng: random.Random, deadline: float
    ) -> None:
        self.api = api
        self.user = user
        self.stats = stats
        self.rng = rng
        self.deadline = deadline
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy: loopback only
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def _send(
        self, method: str, path: str, kind: str, timeout: float, **kwargs: Any
    ) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.api + path, timeout=timeout, **kwargs)
        except requests.Timeout:
            if timeout >= REQUEST_TIMEOUT_SECONDS:
                with self.stats.lock:
                    self.stats.unexpected.append(f"{method} {kind}: timeout")
            self.stats.note(method, None, None)
            return None
        except requests.ConnectionError:
            # A pooled connection the server closed after an abandoned request, or a reset: the
            # flaky network a mobile client lives with. No status came back; the client retries.
            with self.stats.lock:
                self.stats.connection_errors += 1
            self.stats.note(method, None, None)
            return None
        self.stats.note(method, response.status_code, time.perf_counter() - started, kind)
        return response

    def _unexpected(self, what: str, response: requests.Response) -> None:
        with self.stats.lock:
            self.stats.unexpected.append(f"{what}: {response.status_code}")

    def create(
        self,
        body: dict[str, Any],
        cut_short: bool,
        resend: bool,
        *,
        with_key: bool = True,
        read_back: float = 0.5,
    ) -> dict[str, Any] | None:
        """The acknowledged record, or None. Without a key (`with_key` False) nothing is cut short
        or re-sent: only a 503 is retried (nothing was written)."""
        key = str(uuid.uuid4())
        payload = json.dumps(body)
        headers = {"Idempotency-Key": key} if with_key else {}
        cut_short, resend = cut_short and with_key, resend and with_key
        ids: set[str] = set()
        acknowledged: dict[str, Any] | None = None
        for attempt in range(MAX_ATTEMPTS):
            if time.monotonic() > self.deadline:
                return None
            short = cut_short and attempt == 0
            timeout = self.rng.uniform(0.002, 0.05) if short else REQUEST_TIMEOUT_SECONDS
            response = self._send("POST", "/v1/tests", "create", timeout, data=payload, headers=headers)
            if response is None:
                if short:
                    with self.stats.lock:
                        self.stats.cut_short += 1
                continue
            if response.status_code == 201:
                acknowledged = response.json()
                ids.add(acknowledged["id"])
                if not (resend and attempt == 0):
                    break
                with self.stats.lock:
                    self.stats.resent += 1
                continue  # "the answer was lost": send it again with the same key
            if waited_out_retry_after(response):
                continue
            self._unexpected("POST /v1/tests", response)
            return None
        if acknowledged is None:
            with self.stats.lock:
                self.stats.unexpected.append("POST /v1/tests: never acknowledged")
            return None
        self._note_acknowledged(key, acknowledged["id"], ids)
        if self.rng.random() < read_back:
            self.read(acknowledged["id"], body["patient"]["last_name"])
        return acknowledged

    def _note_acknowledged(self, key: str, record_id: str, ids: set[str]) -> None:
        """`key` named `record_id`; more than one id among `ids` is a key that named two records."""
        with self.stats.lock:
            self.stats.acknowledged[key] = (record_id, self.user)
            if len(ids) > 1:
                self.stats.key_conflicts += 1

    def read(self, record_id: str, last_name: str) -> None:
        for _ in range(MAX_ATTEMPTS):
            response = self._send("GET", f"/v1/tests/{record_id}", "read", REQUEST_TIMEOUT_SECONDS)
            if response is None:
                continue  # no answer: read again
            if waited_out_retry_after(response):
                continue
            if response.status_code != 200 or response.json()["patient"]["last_name"] != last_name:
                self._unexpected("GET /v1/tests/{id}", response)
            return

    def listed(self, day: str, marker: str) -> list[str]:
        """Ids of this run's records of one day at this client's pharmacy, through the API."""
        return [item["id"] for item in self.summaries(day, marker)]

    def summaries(self, day: str, marker: str, status: str | None = None) -> list[dict[str, Any]]:
        """This run's records of one day at this client's pharmacy (in `status`, if given), as the
        API lists them."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10_000):  # bounded: 100 a page
            params = {"date": day, "limit": "100", **({"cursor": cursor} if cursor else {})}
            params.update({"status": status} if status else {})
            response = self.session.get(
                self.api + "/v1/tests", params=params, timeout=REQUEST_TIMEOUT_SECONDS
            )
            if response.status_code == 503:
                time.sleep(RETRY_AFTER_CAP_SECONDS)
                continue
            response.raise_for_status()
            page = response.json()
            found += [item for item in page["items"] if f".{marker}" in item["test"]["sampled_at"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return found


@dataclass(frozen=True)
class LoadPlan:
    """A run: `clients` in parallel, each creating `creates` records; the share of first attempts
    the client cuts short and of acknowledged creates it sends again; a deadline for the whole."""

    clients: int
    creates: int
    cut_short_rate: float = 0.1
    resend_rate: float = 0.1
    seed: int | None = None
    deadline_seconds: float = 900.0


def run(stack: dict[str, Any], plan: LoadPlan) -> LoadReport:
    from devtools.login import login_stack_user

    api = _loopback(stack["api_url"])
    tokens = {user: login_stack_user(stack, user)["AccessToken"] for user in USERS}
    base = random.Random(plan.seed)  # noqa: S311  # nosec B311: load-test data, not secrets
    marker = str(base.randint(100_000, 999_999))
    stats = Stats()
    started = time.monotonic()
    deadline = started + plan.deadline_seconds
    now = datetime.now(UTC)
    bodies: dict[int, list[dict[str, Any]]] = {}

    def work(index: int) -> None:
        rng = random.Random(base.random() + index)  # noqa: S311  # nosec B311: load-test data
        user = USERS[index % len(USERS)]
        client = Client(api, tokens[user], user, stats, rng, deadline)
        bodies[index] = []
        for _ in range(plan.creates):
            body = submission(rng, marker, now)
            bodies[index].append(body)
            client.create(body, rng.random() < plan.cut_short_rate, rng.random() < plan.resend_rate)

    with ThreadPoolExecutor(max_workers=plan.clients) as pool:
        list(pool.map(work, range(plan.clients)))
    elapsed = time.monotonic() - started

    # the pharmacies' days (the seeded ones are in mainland France)
    days = sorted(
        {
            datetime.fromisoformat(b["test"]["sampled_at"]).astimezone(PARIS).date().isoformat()
            for group in bodies.values()
            for b in group
        }
    )
    stored: Counter[str] = Counter()
    for user in USERS:
        checker = Client(api, tokens[user], user, stats, base, deadline + 60)
        for day in days:
            stored.update(checker.listed(day, marker))
    acked_ids = Counter(record_id for record_id, _ in stats.acknowledged.values())
    lost = sum(1 for record_id in acked_ids if stored[record_id] == 0)
    duplicated = (
        sum(count - 1 for count in stored.values() if count > 1)
        + sum(count - 1 for count in acked_ids.values() if count > 1)
        + sum(1 for record_id in stored if record_id not in acked_ids)  # stored, never acknowledged
        + stats.key_conflicts
    )
    return LoadReport(
        clients=plan.clients,
        creates=plan.creates,
        requests=stats.requests,
        statuses=dict(stats.statuses),
        unexpected=list(stats.unexpected),
        cut_short=stats.cut_short,
        connection_errors=stats.connection_errors,
        resent=stats.resent,
        acknowledged=len(stats.acknowledged),
        stored=sum(stored.values()),
        lost=lost,
        duplicated=duplicated,
        percentiles_ms={
            kind: {
                name: 1000 * percentile(values, q) for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            }
            for kind, values in stats.latencies.items()
        },
        seconds=elapsed,
    )


def _answers(stack_file: Path) -> dict[str, Any] | None:
    if not stack_file.is_file():
        return None
    stack: dict[str, Any] = json.loads(stack_file.read_text())
    try:
        ok = requests.get(_loopback(stack["api_url"]) + "/v1/health", timeout=3).status_code == 200
    except requests.RequestException:
        return None
    return stack if ok else None


@contextlib.contextmanager
def running_stack(stack_file: Path) -> Iterator[dict[str, Any]]:
    """The stack at `stack_file` if it answers, else one started for the occasion (and stopped)."""
    found = _answers(stack_file)
    if found is not None:
        yield found
        return
    from devtools.stack import PROJECT_DIR

    with tempfile.TemporaryDirectory(prefix="depistage-load-") as tmp:
        state = Path(tmp) / "state"
        ports = ["--api-port", "0", "--aws-port", "0", "--sidep-port", "0"]
        log = (Path(tmp) / "stack.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.stack", "--state-dir", str(state), *ports],
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            limit = time.monotonic() + START_TIMEOUT_SECONDS
            while not (state / "stack.json").is_file():
                if process.poll() is not None or time.monotonic() > limit:
                    raise SystemExit(f"the local stack did not start; see {tmp}/stack.log")
                time.sleep(0.2)
            print(f"started a local stack in {state}", file=sys.stderr)
            yield json.loads((state / "stack.json").read_text())
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.load", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default=".local/stack.json", help="the stack file (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--creates", type=int, default=250, help="per client (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.creates <= 10_000):
        parser.error("--clients must be 1..64 and --creates 1..10000")
    with running_stack(Path(args.stack)) as stack:
        plan = LoadPlan(
            clients=args.clients, creates=args.creates, seed=args.seed, deadline_seconds=args.deadline
        )
        report = run(stack, plan)
    print(report.summary())
    ok = not report.unexpected and report.lost == 0 and report.duplicated == 0
    ok = ok and report.acknowledged == args.clients * args.creates
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
