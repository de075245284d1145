"""The journal's automatic review, on the audit stream: a batch of new links, grouped by pharmacy,
each pharmacy's detectors run from its stored state (chalicelib/domain/access_review.py), the
alerts raised through the alert store (chalicelib/ports/alerts.py: stored with their
`alert_raised` event on the pharmacy's chain, once per id), the state saved on its version.

It reads only what the stream hands it: no table scan, no read of the journal. Per pharmacy in a
batch: one state read, one hours read, one conditional state write (none if the batch was
reviewed already), and one store write per alert raised.

Retries: Lambda delivers a failed batch again. The alerts are raised before the state is saved, so
a crash between them re-raises, and the store answers "exists" (same id); the state's `last_seq`
skips the links it has already reviewed. Two invocations saving one pharmacy's state at once (a
retry overlapping, a shard split) meet the version condition: the loser reviews again from the
winner's state. The `platform` chain is not reviewed: its refusals have their own metric and
alarm, and each platform decision about a pharmacy is on that pharmacy's chain too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.access_review import ReviewEvent, ReviewPolicy, review, review_event
from chalicelib.domain.alerts import Alert
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.finess import is_finess
from chalicelib.ports import Alerts, Clock, PharmacyHours, ReviewStates

# A state saved by another invocation in between: review again from it, this many times in all.
SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class ReviewDeps:
    states: ReviewStates
    hours: PharmacyHours
    alerts: Alerts
    policy: ReviewPolicy
    clock: Clock
    on_alert: Callable[[Alert], None] = lambda alert: None  # each alert raised (a metric)


@dataclass(frozen=True)
class StoredLink:
    """A link of the journal as the stream hands it: its chain, seq, time and event fields."""

    chain: str
    seq: int
    time: str
    event: Mapping[str, Any]


@dataclass
class ReviewSummary:
    links: int = 0
    reviewed: int = 0  # events of a pharmacy's chain fed to its detectors (replays included)
    pharmacies: int = 0
    raised: int = 0
    already_raised: int = 0  # a replay's, or a save conflict's, alerts the store already had
    conflicts: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def by_pharmacy(links: Iterable[StoredLink]) -> dict[str, list[ReviewEvent]]:
    """The events of each pharmacy's chain, the review's own and unreadable ones left out."""
    grouped: dict[str, list[ReviewEvent]] = {}
    for link in links:
        if not is_finess(link.chain):
            continue
        event = review_event(link.seq, link.time, link.event)
        if event is not None:
            grouped.setdefault(link.chain, []).append(event)
    return grouped


def review_links(deps: ReviewDeps, links: Iterable[StoredLink]) -> ReviewSummary:
    """Review one stream batch. Raises ServiceUnavailable (the batch is delivered again) if a store
    fails or a pharmacy's state kept changing under it."""
    links = list(links)
    summary = ReviewSummary(links=len(links))
    for finess, events in sorted(by_pharmacy(links).items()):
        summary.pharmacies += 1
        summary.reviewed += len(events)
        _review_pharmacy(deps, finess, events, summary)
    return summary


def _review_pharmacy(
    deps: ReviewDeps, finess: str, events: list[ReviewEvent], summary: ReviewSummary
) -> None:
    hours = deps.hours.opening_hours(finess)
    for _ in range(SAVE_ATTEMPTS):
        state, version = deps.states.load(finess)
        after, alerts = review(state, finess, events, deps.policy, hours)
        for alert in alerts:
            if deps.alerts.raise_alert(alert, at=deps.clock.now()):
                summary.raised += 1
                deps.on_alert(alert)
            else:
                summary.already_raised += 1
        if after.last_seq == state.last_seq:
            return  # every event reviewed already: nothing to save
        if deps.states.save(finess, after, version=version):
            return
        summary.conflicts += 1
    raise ServiceUnavailable("A pharmacy's review state kept changing; the batch is retried.")
