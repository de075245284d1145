"""Refusals of requests without a valid identity (401, and 403 for a token of no member): journaled
per source and reason per time window, not per request.

One chained, year-long journal link per refused request let anyone with a stream of garbage
tokens grow the `platform` chain at will and contend with the platform's own events for its head
(the first release answered some of them 503). Here, per window of `window_seconds`, and per
(source IP, action, reason), a process appends one event:

- an opening event for the first such refusal, right away (evidence even if no other follows),
  which also carries how many followed the first in the key's previous window;
- only for a key that did not come back in the window after: a closing event with that count,
  when this process next refuses a request after that window.

So a flood of N requests grows the journal by one event per window and source, not N (and one
more when it stops).
Every refusal is still counted at once in the `UnauthenticatedRefusals` metric (and the gate logs
each request with its status). A
refusal never answers 503: if the journal cannot take an event, the count is kept for the next
event and the failure is logged. Counts still pending when a process ends are lost to the
journal (not to the metric). At most `max_sources` sources are told apart per window; the rest
share the source "*". A source is an IPv4 address or an IPv6 address's /64 (`source_of`, which the
PSC start limit counts by too): rotating addresses inside one subscriber's prefix open no new
tally, whichever route refuses them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.sources import source_of
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
        # tallies of the window before, with followers, until their key opens again (folded into
        # its opening event) or the window after ends (then closed on their own)
        self._carried: dict[_Key, _Tally] = {}
        self._sources: set[str] = set()
        self._current = -1
        self._lock = threading.Lock()

    def refuse(self, meta: RequestMeta, action: str, reason: str) -> None:
        """Count one refusal; journal what is due. Never raises."""
        count(UNAUTHENTICATED_REFUSALS)
        meta = replace(meta, source_ip=source_of(meta.source_ip))  # the tally's and its event's source
        now = int(self._clock.now().timestamp())
        window = now - now % self._window
        # (event, the key of an opening event, the tally it folds in)
        due: list[tuple[AuditEvent, _Key | None, _Tally | None]] = []
        with self._lock:
            if window != self._current:  # the windows before it are over
                for ended in self._carried.values():  # their key did not come back: close them
                    due.append((self._closing(ended), None, None))
                self._carried = {key: t for key, t in self._tallies.items() if t.followers}
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
                before = self._carried.pop(key, None)
                due.append((self._event(opened, self._span(opened, "first", before)), key, before))
            else:
                found.followers += 1
        for event, opener, folded in due:
            self._append(event, opener, folded)

    def _span(self, tally: _Tally, what: str, before: _Tally | None = None) -> str:
        start = datetime.fromtimestamp(tally.window, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        span = f"{what} in window {start} +{self._window}s"
        return span if before is None else f"{span}; {self._span(before, f'{before.followers} more')}"

    def _closing(self, tally: _Tally) -> AuditEvent:
        return self._event(tally, self._span(tally, f"{tally.followers} more"))

    def _event(self, tally: _Tally, span: str) -> AuditEvent:
        return AuditEvent(
            action=tally.action,
            outcome="denied",
            actor="anonymous",
            role="",
            finess=None,
            request_id=tally.first.request_id,
            source_ip=tally.first.source_ip,
            user_agent=tally.first.user_agent,
            reason=f"{tally.reason} [{span}]",
        )

    def _append(self, event: AuditEvent, opener: _Key | None, folded: _Tally | None) -> None:
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
                        if folded is not None:  # and the previous window's count, on its own
                            self._carried[opener] = folded
