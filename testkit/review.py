"""The journal review's test helpers: its thresholds as declared, a pharmacy's journal written as
the stream hands it to the review (chalicelib/services/review.py), and a simulated normal pharmacy.
Its ports' fakes are testkit/fakes.py's (FakeReviewStates, FakePharmacyHours)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import Settings
from chalicelib.domain.access_review import ReviewPolicy
from chalicelib.domain.audit_chain import format_time
from chalicelib.services.review import StoredLink

POLICY: ReviewPolicy = Settings().review_policy  # the declared defaults


@dataclass
class ChainWriter:
    """Writes one pharmacy's chain as StoredLinks, numbering them as the journal does."""

    finess: str
    links: list[StoredLink] = field(default_factory=list)

    def add(self, at: datetime, actor: str, action: str, **fields: Any) -> StoredLink:
        """One event: role `pharmacist`, outcome `success`, no record, a fixed source unless given."""
        event: dict[str, Any] = {
            "actor": actor,
            "role": "pharmacist",
            "finess": self.finess,
            "action": action,
            "record_ids": [],
            "outcome": "success",
            "request_id": "",
            "source_ip": "192.0.2.10",
            "user_agent": "",
            "reason": "",
            **fields,
        }
        event["record_ids"] = list(event["record_ids"])
        link = StoredLink(self.finess, len(self.links) + 1, format_time(at), event)
        self.links.append(link)
        return link


# --- a simulated normal pharmacy, for the false-alert rate (tests/unit) and the cost (bench/) -----

PARIS = "Europe/Paris"
# The hours its staff work (not only the door's): Monday to Friday 08:30-19:30, Saturday 09:00-18:00.
DECLARED_HOURS: dict[str, list[str]] = {
    **{day: ["08:30-19:30"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "sat": ["09:00-18:00"],
}
STAFF = ("pharmacist-a", "pharmacist-b", "pharmacist-c")
OWNER = "owner"
FIRST_MONDAY = date(2026, 11, 2)
LIST_PAGE = 50  # GET /v1/tests?day=...: the newest page of the day's records


class _Day:
    """One open day of the simulated pharmacy: its events as (time, actor, action, fields)."""

    def __init__(self, rng: random.Random, day: date, counter: list[int]) -> None:
        self.rng, self.day, self.counter = rng, day, counter
        self.events: list[tuple[datetime, str, str, dict[str, Any]]] = []
        opens, closes = ((9, 0), (18, 0)) if day.weekday() == 5 else ((8, 30), (19, 30))
        zone = ZoneInfo(PARIS)
        self.opens = datetime.combine(day, time(*opens), zone).astimezone(UTC)
        self.closes = datetime.combine(day, time(*closes), zone).astimezone(UTC)
        self.on_shift = [*rng.sample(STAFF, 2), OWNER]
        self.created: list[tuple[datetime, str]] = []

    def at(self, start: datetime, end: datetime) -> datetime:
        return start + timedelta(seconds=self.rng.uniform(0, max(0.0, (end - start).total_seconds())))

    def add(self, at: datetime, actor: str, action: str, **fields: Any) -> None:
        fields.setdefault("role", "pharmacy_admin" if actor == OWNER else "pharmacist")
        self.events.append((at, actor, action, fields))

    def tests(self) -> None:
        for _ in range(self.rng.randint(15, 40) if self.day.weekday() == 5 else self.rng.randint(25, 70)):
            self.counter[0] += 1
            record_id = f"rec-{self.counter[0]:07d}"
            actor, t = (
                self.rng.choice(self.on_shift),
                self.at(self.opens, self.closes - timedelta(minutes=30)),
            )
            self.created.append((t, record_id))
            self.add(t, actor, "create", record_ids=[record_id])
            self.add(t + timedelta(seconds=40), actor, "read", record_ids=[record_id])
            done = t + timedelta(minutes=self.rng.uniform(15, 25))
            self.add(done, actor, "set_result", record_ids=[record_id])
            self.add(done + timedelta(seconds=30), actor, "read", record_ids=[record_id])
            if self.rng.random() < 0.1:
                self.add(self.at(done, self.closes), OWNER, "read_delivery", record_ids=[record_id])
            if self.rng.random() < 0.02:
                self.add(done + timedelta(minutes=2), actor, "cancel", record_ids=[record_id])

    def lists(self) -> None:
        for actor in self.on_shift:
            t = self.opens + timedelta(minutes=self.rng.uniform(0, 20))
            while t < self.closes:
                newest = sorted((c for c in self.created if c[0] <= t), reverse=True)[:LIST_PAGE]
                self.add(t, actor, "list", record_ids=[record_id for _, record_id in newest])
                t += timedelta(minutes=self.rng.uniform(20, 60))

    def the_rest(self, earlier: list[str]) -> None:
        for actor in self.on_shift:
            self.add(self.opens + timedelta(minutes=self.rng.uniform(0, 10)), actor, "psc_login")
            self.add(self.closes - timedelta(minutes=self.rng.uniform(0, 10)), actor, "logout")
        for _ in range(self.rng.randint(0, 3)):  # a patient asks for their data
            self.add(
                self.at(self.opens, self.closes),
                self.rng.choice(self.on_shift),
                "patient_export",
                record_ids=self.rng.sample(earlier, min(len(earlier), self.rng.randint(1, 3))),
            )
        if earlier and self.rng.random() < 1 / 7:  # a patient's erasure
            erased, t = (
                self.rng.sample(earlier, min(len(earlier), self.rng.randint(1, 3))),
                self.at(self.opens, self.closes),
            )
            for record_id in erased:
                self.add(t, OWNER, "erase", record_ids=[record_id])
            self.add(t, OWNER, "patient_erasure", record_ids=erased)
        for _ in range(self.rng.randint(0, 2)):  # an ended session's token, retried once
            actor, t = self.rng.choice(self.on_shift), self.at(self.opens, self.closes)
            for retry in range(2):
                self.add(t + timedelta(seconds=retry), actor, "authenticate", outcome="denied")
        if self.rng.random() < 0.3:  # a mistyped id
            self.add(
                self.at(self.opens, self.closes),
                self.rng.choice(self.on_shift),
                "read",
                outcome="denied",
                record_ids=["rec-9999999"],
            )
        self.add(self.at(self.opens, self.closes), OWNER, "read_audit")


def normal_weeks(finess: str, weeks: int, seed: int) -> list[StoredLink]:
    """A seeded simulation of `weeks` normal weeks at one pharmacy (Europe/Paris, DECLARED_HOURS):
    two of three pharmacists and the owner on shift, 25-70 tests a weekday (15-40 on Saturday),
    each created, read, resulted and read again; each on-shift member lists the day's newest page
    every 20-60 minutes; 0-3 patient searches a day, an erasure about once a week, 0-2 ended
    sessions retried and sometimes a mistyped id (refusals), the owner reading the journal, and
    the nightly purge erasing what is due. Its chain, as the stream would hand it."""
    rng = random.Random(seed)
    counter = [0]
    timeline: list[tuple[datetime, str, str, dict[str, Any]]] = []
    earlier: list[str] = []
    for n in range(7 * weeks):
        day = FIRST_MONDAY + timedelta(days=n)
        night = datetime.combine(day, time(3, 0), ZoneInfo(PARIS)).astimezone(UTC)
        for i, record_id in enumerate(earlier[: rng.randint(0, 40)]):
            timeline.append(
                (
                    night + timedelta(seconds=i),
                    "system:purge",
                    "erase",
                    {"role": "system", "record_ids": [record_id]},
                )
            )
        if day.weekday() == 6:
            continue
        today = _Day(rng, day, counter)
        today.tests()
        today.lists()
        today.the_rest(earlier)
        timeline += today.events
        earlier += [record_id for _, record_id in today.created]
    chain = ChainWriter(finess)
    for at, actor, action, fields in sorted(timeline, key=lambda e: e[0]):
        chain.add(at, actor, action, **fields)
    return chain.links
