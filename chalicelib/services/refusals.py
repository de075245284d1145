"""Refusals of requests without a valid identity (401, and 403 for a token of no member): journaled
per source and reason per time window, not per request.

One chained, year-long journal link per refused request let anyone with a stream of garbage
tokens grow the `platform` chain at will and contend with the platform's own events for its head
(the first release answered some of them 503). Here, per window of `window_seconds`, and per
(source IP, reason), a process appends:

- an opening event for the first such refusal, right away (evidence even if no other follows);
- a closing event with how many followed it in that window, when this process next refuses a
  request after the window ended.

So a flood of N requests grows the journal by about two events per window and source, not N.
Every refusal is still counted at once in the `UnauthenticatedRefusals` metric (and the gate logs
each request with its status). A
refusal never answers 503: if the journal cannot take an event, the count is kept for the next
event and the failure is logged. Counts still pending when a process ends are lost to the
journal (not to the metric). At most `max_sources` sources are told apart per window; the rest
share the source "*".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.observability import UNAUTHENTICATED_REFUSALS, count, logger
from chalicelib.ports import AuditJournal, Clock, RequestMeta

WINDOW_SECONDS = 300  # the AuthFailures alarm's period
MAX_SOURCES = 100  # per window and process: bounds what rotating IPv6 sources can add
OTHER_SOURCES = "*"


_Key = tuple[str, str, str]  # source, action, reason


@dataclass
class _Tally:
    window: int  # start, epoch seconds
    action: str
    reason: str
    first: RequestMeta
    followers: int = 0  # refusals after the first, not yet journaled


class UnauthenticatedRefusals:
    def __init__(
        self,
        journal: AuditJournal,
        clock: Clock,
        *,
        window_seconds: int = WINDOW_SECONDS,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._window = window_seconds
        self._max_sources = max_sources
        self._tallies: dict[_Key, _Tally] = {}  # of the current window only
        self._sources: set[str] = set()
        self._current = -1
        self._lock = threading.Lock()

    def refuse(self, meta: RequestMeta, action: str, reason: str) -> None:
        """Count one refusal; journal what is due. Never raises."""
        count(UNAUTHENTICATED_REFUSALS)
        now = int(self._clock.now().timestamp())
        window = now - now % self._window
        due: list[tuple[AuditEvent, _Key | None]] = []  # (event, the key of an opening event)
        with self._lock:
            if window != self._current:  # the windows before it are over: close them
                for ended in self._tallies.values():
                    if ended.followers:
                        due.append((self._event(ended, ended.followers, closing=True), None))
                self._tallies.clear()
                self._sources.clear()
                self._current = window
            source = meta.source_ip
            if source not in self._sources and len(self._sources) >= self._max_sources:
                source = OTHER_SOURCES
            self._sources.add(source)
            key = (source, action, reason)
            found = self._tallies.get(key)
            if found is None:
                opened = self._tallies[key] = _Tally(window, action, reason, meta)
                due.append((self._event(opened, 1, closing=False), key))
            else:
                found.followers += 1
        for event, opener in due:
            self._append(event, opener)

    def _event(self, tally: _Tally, n: int, *, closing: bool) -> AuditEvent:
        start = datetime.fromtimestamp(tally.window, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = f"{n} more" if closing else "first"
        return AuditEvent(
            action=tally.action,
            outcome="denied",
            actor="anonymous",
            role="",
            finess=None,
            request_id=tally.first.request_id,
            source_ip=tally.first.source_ip,
            user_agent=tally.first.user_agent,
            reason=f"{tally.reason} [{what} in window {start} +{self._window}s]",
        )

    def _append(self, event: AuditEvent, opener: _Key | None) -> None:
        try:
            self._journal.append(event)
        except ServiceUnavailable:
            logger.error(
                "refusal not journaled", extra={"action": event.action, "request_id": event.request_id}
            )
            if opener is not None:  # counted on the window's closing event instead
                with self._lock:
                    tally = self._tallies.get(opener)
                    if tally is not None and tally.window == self._current:
                        tally.followers += 1
