"""The one Logger and Metrics of the service (Powertools).

Log lines carry identifiers (request id, record ids, FINESS, username) and never a personal
value, a token or key material: callers pass only such fields.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "depistage"
NAMESPACE = "Depistage"
# Refused requests (infra/template/alarms.py alarms on both). API Gateway's access log already counts
# 401/403 into AUTH_FAILURES; the service adds what the log cannot tell: 404s on record ids of
# another pharmacy (or of none), which are probes.
AUTH_FAILURES = "AuthFailures"
UNAUTHENTICATED_REFUSALS = "UnauthenticatedRefusals"
# The journal's watchers (infra/template/alarms.py alarms on both): a table item that differs from its
# WORM copy (rewritten after it was copied), and an item a watcher set aside as malformed.
AUDIT_WORM_DIFFERS = "AuditWormDiffers"
AUDIT_QUARANTINED = "AuditQuarantined"
# The journal's automatic review (services/review.py): one per alert raised (alarmed), whatever
# its detector; the alert itself is on the pharmacy's chain and in the alert store.
REVIEW_ALERTS = "ReviewAlerts"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1) -> None:
    """One count, written now (EMF on stdout): the request path has no flush. Powertools gives it
    the `service` dimension (POWERTOOLS_SERVICE_NAME), which its alarm names (infra/template/alarms.py
    COUNTED)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE):
        pass
