"""A screening campaign end to end on the local stack: synchronised in batches, watched until SI-DEP
acknowledges each record.

    python -m devtools.campaign [--stack .local/stack.json] [--records 300] [--wait 120]

A pharmacist back from a campaign (docs/campaigns.md) synchronises `--records` records through
`POST /v1/test-batches`, 100 a request, each item with its own client key; every fifth record
was captured offline the day before (sampled then, with the device's `captured_at`), the others
today. Every record has its result, so each goes to SI-DEP as it arrives. The second batch is sent
twice, as after an answer lost on the way back: the same outcomes, nothing created twice. Then
it watches the fake SI-DEP's view (its messages.json, as devtools/soak.py does) until it holds
every record's result, and the API until each record is `acknowledged`, for at most `--wait`
seconds, and prints a short verdict: created, acknowledged by SI-DEP, the time to the last
acknowledgement. Exit 0 if every record was created and acknowledged in time, 1 otherwise.

Loopback only; if no stack answers at --stack, one is started on free ports in a temp dir and
stopped at the end (devtools/load.py `running_stack`).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.payloads.requests import BATCH_MAX_ITEMS
from devtools.load import (
    MAX_ATTEMPTS,
    PARIS,
    REQUEST_TIMEOUT_SECONDS,
    Client,
    Stats,
    _loopback,
    running_stack,
    submission,
    waited_out_retry_after,
)
from devtools.soak import RESULT_CODES, _messages

USER = "pharmacist-a"
BATCH_SIZE = BATCH_MAX_ITEMS  # POST /v1/test-batches' limit
OFFLINE_EVERY = 5  # one record in five captured offline the day before
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class CampaignPlan:
    records: int = 300
    wait_seconds: float = 120.0
    seed: int | None = None


@dataclass
class CampaignReport:
    planned: int
    offline: int
    batches: int
    created: dict[str, str] = field(default_factory=dict)  # key -> record id
    results: dict[str, str] = field(default_factory=dict)  # record id -> result sent
    captured: dict[str, str] = field(default_factory=dict)  # record id -> captured_at sent
    invalid: list[str] = field(default_factory=list)  # "batch N item M: outcome"
    replay_same: bool = False
    posted_seconds: float = 0.0
    held_by_sidep: int = 0
    acknowledged_here: int = 0
    captured_shown: int = 0
    last_ack_seconds: float | None = None  # from the first batch sent to SI-DEP's last acknowledgement

    @property
    def failures(self) -> list[str]:
        failed = []
        if len(self.created) < self.planned or self.invalid:
            failed.append(f"{self.planned - len(self.created)} record(s) not created {self.invalid[:3]}")
        if not self.replay_same:
            failed.append("the replayed batch did not answer the same outcomes")
        if self.held_by_sidep < len(self.created):
            failed.append(f"SI-DEP lacks {len(self.created) - self.held_by_sidep} record(s)")
        if self.acknowledged_here < len(self.created):
            failed.append(f"{len(self.created) - self.acknowledged_here} record(s) not acknowledged here")
        if self.captured_shown < len(self.captured):
            failed.append(f"{len(self.captured) - self.captured_shown} capture time(s) not shown")
        return failed

    def summary(self) -> str:
        last = f"{self.last_ack_seconds:.1f} s" if self.last_ack_seconds is not None else "never"
        failed = self.failures
        return "\n".join(
            [
                f"campaign: {self.planned} records in {self.batches} batches of up to {BATCH_SIZE} "
                f"({self.offline} captured offline the day before), sent in {self.posted_seconds:.1f} s",
                f"  created: {len(self.created)}/{self.planned}; a batch sent again answered "
                + ("the same outcomes" if self.replay_same else "OTHER outcomes"),
                f"  acknowledged by SI-DEP: {self.held_by_sidep}/{len(self.created)}, "
                f"marked acknowledged here: {self.acknowledged_here}/{len(self.created)}, "
                f"capture times shown: {self.captured_shown}/{len(self.captured)}",
                f"  time to the last acknowledgement: {last} after the first batch was sent",
                "  verdict: " + ("PASS" if not failed else "FAIL: " + "; ".join(failed)),
            ]
        )


def campaign_items(rng: random.Random, marker: str, now: datetime, records: int) -> list[dict[str, Any]]:
    """The campaign's batch items: devtools/load.py's bodies (this run's `marker` in the sampling
    time), each with a result and a key; every OFFLINE_EVERY-th sampled the day before, with the
    time the pharmacist entered it on the device (the result read a quarter of an hour later)."""
    items = []
    for index in range(records):
        offline = index % OFFLINE_EVERY == OFFLINE_EVERY - 1
        body = submission(rng, marker, now - timedelta(days=1) if offline else now)
        body["test"]["result"] = rng.choice(["negative", "negative", "negative", "positive"])
        if offline:
            sampled = datetime.fromisoformat(body["test"]["sampled_at"])
            captured = sampled + timedelta(minutes=15, seconds=rng.randint(0, 600))
            body["test"]["captured_at"] = captured.replace(microsecond=0).astimezone(PARIS).isoformat()
        items.append({"key": str(uuid.uuid4()), **body})
    return items


def post_batch(client: Client, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The batch's outcomes; a lost answer or a 503 is sent again as is (a replay creates nothing)."""
    payload = json.dumps({"items": items})
    for _ in range(MAX_ATTEMPTS):
        response = client._send("POST", "/v1/test-batches", "batch", REQUEST_TIMEOUT_SECONDS, data=payload)
        if response is None or waited_out_retry_after(response):
            continue
        if response.status_code != 200:
            client._unexpected("POST /v1/test-batches", response)
            return None
        outcomes: list[dict[str, Any]] = response.json()["items"]
        return outcomes
    return None


class Campaign:
    def __init__(self, stack: dict[str, Any], plan: CampaignPlan) -> None:
        from devtools.login import login_stack_user

        self.plan = plan
        self.rng = random.Random(plan.seed)  # noqa: S311  # nosec B311: test data, not secrets
        self.marker = str(self.rng.randint(100_000, 999_999))
        token = login_stack_user(stack, USER)["AccessToken"]
        deadline = time.monotonic() + 600 + plan.wait_seconds
        self.stats = Stats()
        self.client = Client(_loopback(stack["api_url"]), token, USER, self.stats, self.rng, deadline)
        self.messages_path = Path(stack["sidep_ledger"]).parent / "messages.json"
        self.now = datetime.now(UTC)
        self.items = campaign_items(self.rng, self.marker, self.now, plan.records)
        batches = [self.items[i : i + BATCH_SIZE] for i in range(0, len(self.items), BATCH_SIZE)]
        self.batches = batches
        self.report = CampaignReport(
            planned=plan.records,
            offline=sum("captured_at" in i["test"] for i in self.items),
            batches=len(batches),
        )

    def run(self) -> CampaignReport:
        started = time.monotonic()
        for number, batch in enumerate(self.batches, start=1):
            self._record(number, batch, post_batch(self.client, batch))
        replayed = self.batches[min(1, len(self.batches) - 1)]
        again = post_batch(self.client, replayed)
        self.report.replay_same = again is not None and all(
            o["outcome"] == "created" and self.report.created.get(o["key"]) == o["id"] for o in again
        )
        self.report.posted_seconds = time.monotonic() - started
        self._watch(started)
        return self.report

    def _record(
        self, number: int, batch: list[dict[str, Any]], outcomes: list[dict[str, Any]] | None
    ) -> None:
        if outcomes is None:
            self.report.invalid.append(f"batch {number}: no answer")
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome["outcome"] != "created":
                self.report.invalid.append(f"batch {number} item {outcome['index']}: {outcome['outcome']}")
                continue
            self.report.created[item["key"]] = outcome["id"]
            self.report.results[outcome["id"]] = item["test"]["result"]
            if "captured_at" in item["test"]:
                self.report.captured[outcome["id"]] = item["test"]["captured_at"]

    def _held(self) -> int:
        """How many of the campaign's records SI-DEP holds with the result sent (its last F/C)."""
        last: dict[str, str] = {}
        for message in sorted(_messages(self.messages_path).values(), key=lambda m: int(m["seq"])):
            if message["kind"] in ("F", "C"):
                last[message["record_id"]] = message["result"]
        return sum(last.get(rid) == RESULT_CODES[result] for rid, result in self.report.results.items())

    def _watch(self, started: float) -> None:
        until = time.monotonic() + self.plan.wait_seconds
        report = self.report
        while True:
            report.held_by_sidep = self._held()
            if report.held_by_sidep >= len(report.created) and report.last_ack_seconds is None:
                report.last_ack_seconds = time.monotonic() - started
            if report.last_ack_seconds is not None:
                self._read_back()
                if report.acknowledged_here >= len(report.created):
                    return
            if time.monotonic() > until:
                return
            time.sleep(POLL_SECONDS if report.last_ack_seconds is None else 2.0)

    def _read_back(self) -> None:
        """The API's view: each record acknowledged, each offline one with its capture time."""
        days = sorted(
            {datetime.fromisoformat(i["test"]["sampled_at"]).astimezone(PARIS).date() for i in self.items}
        )
        listed = [
            s for day in days for s in self.client.summaries(day.isoformat(), self.marker, "acknowledged")
        ]
        ours = [s for s in listed if s["id"] in self.report.results]
        self.report.acknowledged_here = len(ours)
        self.report.captured_shown = sum(
            s["test"]["captured_at"] is not None
            and datetime.fromisoformat(s["test"]["captured_at"])
            == datetime.fromisoformat(self.report.captured[s["id"]])
            for s in ours
            if s["id"] in self.report.captured
        )


def run(stack: dict[str, Any], plan: CampaignPlan) -> CampaignReport:
    return Campaign(stack, plan).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.campaign", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default=".local/stack.json", help="the stack file (default: %(default)s)")
    parser.add_argument("--records", type=int, default=300, help="(default: %(default)s)")
    parser.add_argument(
        "--wait",
        type=float,
        default=120.0,
        help="seconds for SI-DEP's acknowledgements (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if not (1 <= args.records <= 1_000 and 0 < args.wait <= 3_600):
        parser.error("--records must be 1..1000 and --wait 0..3600 seconds")
    with running_stack(Path(args.stack)) as stack:
        report = run(stack, CampaignPlan(records=args.records, wait_seconds=args.wait, seed=args.seed))
    print(report.summary())
    return 0 if not report.failures else 1


if __name__ == "__main__":
    sys.exit(main())
