"""The journal's automatic review, without AWS: detectors over ONE pharmacy's journal events, with a
state bounded per pharmacy (services/review.py feeds them the audit stream, batch by batch).

Windows are UTC hours. Per hour and per actor the state keeps at most `bulk_reads_hard + 1` short
digests of the distinct records read (never the ids), and counts of searches, erasures and
refusals; at most `max_subjects` actors or sources are tracked per hour (the rest share one
overflow subject, `*`). When an hour closes, each actor's distinct count (capped at the hard
threshold, so an exfiltration cannot raise the pharmacy's baseline much) joins a fixed-size
history of the pharmacy's hourly counts, whose 95th percentile makes the relative threshold.

Each detector raises at most one alert per subject per window: the alert's id is derived from
(pharmacy, detector, subject, window start) (chalicelib/domain/alerts.py), the state remembers
what it raised in the current hour, and the state's `last_seq` skips events already reviewed, so a
replayed stream batch raises nothing twice. The review's own events (`alert_raised`, an admin's
reading or acknowledging of alerts: any action naming `alert` but its refusals, any `review:`
actor) never feed it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.alerts import DETECTORS, REVIEW_ACTOR_PREFIX, Alert
from chalicelib.domain.audit_chain import RECORD_IDS_MAX, format_time, parse_time
from chalicelib.domain.model import USERNAME_MAX_LENGTH
from chalicelib.domain.opening_hours import OpeningHours
from chalicelib.domain.sources import source_of

WINDOW = timedelta(hours=1)
OVERFLOW = "*"  # the subject of every actor or source past `max_subjects` in one hour
PLATFORM_ADMIN = "platform_admin"
# What counts as reading or exporting a record (the journal's own action names: services/records.py,
# services/patients.py); only a success disclosed anything. A result's PUT and a withdrawal answer
# the whole record, its patient included (a PUT of the same result changes nothing): reads too.
READ_ACTIONS = frozenset({"read", "list", "read_delivery", "patient_export", "set_result", "withdraw"})
SEARCH_ACTIONS = frozenset({"patient_export"})  # POST /v1/patients/search
ERASE_ACTIONS = frozenset({"erase"})  # one per erased record; the purge's (role system) are not counted
HUMAN_ROLES = frozenset({"pharmacist", "pharmacy_admin"})
# The longest record id an alert keeps as it is (a record's is a UUID, services/records.py): a longer
# one (a crafted link) by its digest.
RECORD_ID_MAX = 128


@dataclass(frozen=True)
class ReviewPolicy:
    """The detectors' thresholds (chalicelib/config.py declares each, with why)."""

    bulk_reads_hard: int  # distinct records one actor reads in an hour: always an alert above
    bulk_reads_factor: int  # the relative threshold: this many times the pharmacy's usual (p95)...
    bulk_reads_floor: int  # ...never below this
    bulk_reads_min_history: int  # hours of history before the relative threshold applies
    history_size: int  # past hourly per-actor counts kept
    search_burst: int  # patient searches by one actor in an hour
    erasure_burst: int  # records one actor erases in an hour
    refusal_burst: int  # refusals of one actor, or of one source address, in an hour
    max_subjects: int  # actors or sources tracked per hour


@dataclass(frozen=True)
class ReviewEvent:
    """What the detectors read of one link of a pharmacy's chain."""

    seq: int
    time: datetime
    actor: str
    role: str
    action: str
    outcome: str
    record_ids: tuple[str, ...] = ()
    source: str = ""


def is_review_own(action: str, actor: str, outcome: str = "success") -> bool:
    """The review's own events and the admins' handling of alerts: never fed back (no loop). A
    refusal on the alerts routes is fed like any refusal (a probe, an admin trying to close the
    alert about themselves): it raises at most `repeated_refusals`, whose own event is not fed."""
    return ("alert" in action and outcome != "denied") or actor.startswith(REVIEW_ACTOR_PREFIX)


def review_event(seq: int, time: str, fields: Mapping[str, Any]) -> ReviewEvent | None:
    """The event of a stored link (chain fields as audit_chain.event_fields writes them); None if
    it is the review's own, or not a readable event."""
    try:
        moment = parse_time(time)
    except (TypeError, ValueError):
        return None
    action, actor = str(fields.get("action") or ""), str(fields.get("actor") or "")
    if not action or is_review_own(action, actor, str(fields.get("outcome") or "")):
        return None
    ids = fields.get("record_ids")
    return ReviewEvent(
        seq=seq,
        time=moment,
        actor=bounded_name(actor, USERNAME_MAX_LENGTH),
        role=str(fields.get("role") or ""),
        action=action,
        outcome=str(fields.get("outcome") or ""),
        record_ids=tuple(bounded_name(str(r), RECORD_ID_MAX) for r in ids[:RECORD_IDS_MAX])
        if isinstance(ids, list)
        else (),
        source=source_of(str(fields.get("source_ip") or "")),  # an IPv6 source by its /64
    )


def bounded_name(name: str, longest: int) -> str:
    """`name` as the state and an alert keep it: a name no user or record has (longer, or not
    printable ASCII: a link any journal writer could craft, whose names would otherwise make the
    state or the alert outgrow a DynamoDB item, so that every save failed and the stream stalled)
    is named by its digest, which still tells it apart."""
    if len(name) <= longest and name.isascii() and name.isprintable():
        return name
    return "unreadable:" + record_digest(name)


def record_digest(record_id: str) -> str:
    """12 hex digits: enough to count distinct records (a collision among a few hundred ids is about
    one in 10^9), a quarter of an id's size in the state, and no id stored."""
    return hashlib.blake2b(record_id.encode(), digest_size=6).hexdigest()


def window_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class ReviewState:
    """One pharmacy's review state: bounded (see the module's docstring), stored as one item."""

    last_seq: int = 0
    window: str = ""  # the current hour's start (format_time), "" before any event
    reads: dict[str, list[str]] = field(default_factory=dict)  # actor -> distinct record digests
    searches: dict[str, int] = field(default_factory=dict)
    erasures: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)  # actor, or "source:<address>"
    alerted: list[str] = field(default_factory=list)  # "<detector> <subject>" raised this hour
    history: list[int] = field(default_factory=list)  # past hours' per-actor distinct counts

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ReviewState:
        """The state stored as `text`; ValueError unless every field has its type (a state of
        another shape would make the detectors raise on every delivery: the stream would stall)."""
        state = cls(**json.loads(text))
        if not (
            _is_int(state.last_seq)
            and isinstance(state.window, str)
            and (not state.window or _is_time(state.window))
            and _is_map(state.reads, lambda v: isinstance(v, list) and all(isinstance(d, str) for d in v))
            and all(_is_map(counts, _is_int) for counts in (state.searches, state.erasures, state.refusals))
            and _is_list(state.alerted, lambda v: isinstance(v, str))
            and _is_list(state.history, _is_int)
        ):
            raise ValueError("a review state of another shape")
        return state


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def _is_map(value: object, is_value: Callable[[Any], bool]) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and is_value(v) for k, v in value.items())


def _is_list(value: object, is_item: Callable[[Any], bool]) -> bool:
    return isinstance(value, list) and all(is_item(v) for v in value)


def percentile_95(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def bulk_threshold(history: list[int], policy: ReviewPolicy) -> int:
    """Distinct records per actor-hour above which `bulk_reads` fires: the hard threshold, or lower
    once the pharmacy has history, `factor` x its 95th percentile but never under the floor."""
    if len(history) < policy.bulk_reads_min_history:
        return policy.bulk_reads_hard
    relative = max(policy.bulk_reads_floor, policy.bulk_reads_factor * percentile_95(history))
    return min(policy.bulk_reads_hard, relative)


class _Review:
    """One pass of the detectors over a batch of one pharmacy's events."""

    def __init__(self, state: ReviewState, finess: str, policy: ReviewPolicy, hours: OpeningHours | None):
        self.state, self.finess, self.policy, self.hours = state, finess, policy, hours
        self.alerts: list[Alert] = []
        # actor -> the record ids read in this batch, in order (for the alert: the state keeps none)
        self.batch_ids: dict[str, dict[str, None]] = {}
        self.known: dict[str, set[str]] = {}  # actor -> its digests as a set, while this pass runs
        self.bulk_threshold = bulk_threshold(state.history, policy)  # the history changes only on a roll
        self.thresholds = {
            "search_burst": policy.search_burst,
            "erasure_burst": policy.erasure_burst,
            "repeated_refusals": policy.refusal_burst,
        }

    def run(self, events: Iterable[ReviewEvent]) -> None:
        for event in sorted(events, key=lambda e: e.seq):
            if event.seq <= self.state.last_seq:
                continue  # reviewed already: a replayed batch
            self._roll(window_of(event.time))
            self._detect(event)
            self.state.last_seq = event.seq

    def _roll(self, hour: datetime) -> None:
        start = format_time(hour)
        if self.state.window == start:
            return
        if self.state.window and start < self.state.window:
            return  # time never goes back along a chain; a skewed event counts in the current hour
        cap = self.policy.bulk_reads_hard
        closed = [min(len(digests), cap) for digests in self.state.reads.values()]
        self.state.history = (self.state.history + closed)[-self.policy.history_size :]
        self.state.window = start
        self.state.reads, self.state.searches, self.state.erasures, self.state.refusals = {}, {}, {}, {}
        self.state.alerted = []
        self.known = {}
        self.bulk_threshold = bulk_threshold(self.state.history, self.policy)

    def _detect(self, event: ReviewEvent) -> None:
        if event.role == PLATFORM_ADMIN and event.outcome == "success":
            self._raise("platform_decision", event.actor, 1, 0, event.record_ids)
        if event.outcome == "denied":
            self._count(self.state.refusals, event.actor or OVERFLOW, "repeated_refusals", event)
            if event.source:
                self._count(self.state.refusals, "source:" + event.source, "repeated_refusals", event)
        if event.role not in HUMAN_ROLES or event.outcome != "success":
            return
        if self.hours is not None and not self.hours.is_open(event.time):
            self._raise("outside_hours", event.actor, 1, 0, event.record_ids)
        if event.action in SEARCH_ACTIONS:
            self._count(self.state.searches, event.actor, "search_burst", event)
        if event.action in ERASE_ACTIONS:
            self._count(self.state.erasures, event.actor, "erasure_burst", event)
        if event.action in READ_ACTIONS:
            self._read(event)

    def _subject(self, counts: Mapping[str, Any], subject: str) -> str:
        return subject if subject in counts or len(counts) < self.policy.max_subjects else OVERFLOW

    def _count(self, counts: dict[str, int], subject: str, detector: str, event: ReviewEvent) -> None:
        subject = self._subject(counts, subject)
        counts[subject] = counts.get(subject, 0) + 1
        threshold = self.thresholds[detector]
        if counts[subject] > threshold:
            self._raise(detector, subject, counts[subject], threshold, event.record_ids)

    def _read(self, event: ReviewEvent) -> None:
        actor = self._subject(self.state.reads, event.actor)
        digests = self.state.reads.setdefault(actor, [])
        known = self.known.get(actor)
        if known is None:
            known = self.known[actor] = set(digests)
        cap = self.policy.bulk_reads_hard + 1
        ids = self.batch_ids.setdefault(actor, {})
        for record_id in event.record_ids:
            if len(ids) < RECORD_IDS_MAX:
                ids[record_id] = None
            if len(digests) >= cap:
                continue
            digest = record_digest(record_id)
            if digest not in known:
                digests.append(digest)
                known.add(digest)
        if len(digests) > self.bulk_threshold:
            self._raise("bulk_reads", actor, len(digests), self.bulk_threshold, tuple(ids))

    def _raise(self, detector: str, subject: str, count: int, threshold: int, ids: Iterable[str]) -> None:
        key = f"{detector} {subject}"
        if key not in self.state.alerted and len(self.state.alerted) >= self._alerted_max():
            subject, key = OVERFLOW, f"{detector} {OVERFLOW}"  # bounded: past it, one alert for all
        if key in self.state.alerted:
            return
        self.state.alerted.append(key)
        start = parse_time(self.state.window)
        self.alerts.append(
            Alert(
                finess=self.finess,
                detector=detector,
                subject=subject,
                window_start=start,
                window_end=start + WINDOW,
                count=count,
                threshold=threshold,
                record_ids=tuple(ids)[:RECORD_IDS_MAX],
            )
        )

    def _alerted_max(self) -> int:
        return len(DETECTORS) * (self.policy.max_subjects + 1)


def review(
    state: ReviewState,
    finess: str,
    events: Iterable[ReviewEvent],
    policy: ReviewPolicy,
    hours: OpeningHours | None = None,
) -> tuple[ReviewState, list[Alert]]:
    """The detectors over `events` (one pharmacy's, any order: they are reviewed by seq) from
    `state`: the new state and the alerts to raise. Pure: `state` is not changed."""
    run = _Review(ReviewState.from_json(state.to_json()), finess, policy, hours)
    run.run(events)
    return run.state, run.alerts
