"""When an operator is called: each threshold once, read by the template's alarms
(infra/template/alarms.py) and by `make status` (operations/status.py), so both say the same thing.

`make status` shows the current truth at once (SI-DEP failing now, any dead letter, any rejection
waiting for the pharmacy); an alarm waits for the durations below so that a blip pages nobody.
"""

from __future__ import annotations

from chalicelib.domain.audit_chain import CHECKPOINT_PERIOD, STALE_AFTER_PERIODS

# SI-DEP answers no batch (unreachable, TLS, 5xx, 429) for this long: the alarm fires.
SIDEP_FAILING_SECONDS = 300
# A result SI-DEP has not acknowledged this long after it was set (queued, retrying or a dead letter).
OLDEST_UNACKNOWLEDGED_SECONDS = 900
# Rejections by SI-DEP, dead letters, quarantined items: one is enough.
REJECTIONS = 1
# A rejection needs attention this long (the alarm's period; `status`: a rejection this recent).
# Older ones are still listed until their pharmacy corrects them, without holding `status` at 1.
REJECTIONS_WINDOW_SECONDS = 3600
DEAD_LETTERS = 1
QUARANTINED = 1
# The WORM copy of the journal is behind the journal by an event this old.
WORM_LAG_SECONDS = 900
# A chain without a signed checkpoint for this long missed its heartbeat (verify_audit's "stale").
CHECKPOINT_STALE_SECONDS = int((STALE_AFTER_PERIODS * CHECKPOINT_PERIOD).total_seconds())
