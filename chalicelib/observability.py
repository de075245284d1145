"""The one Logger and Metrics of the service (Powertools).

Log lines carry identifiers (request id, record ids, FINESS, username) and never a personal
value, a token or key material: callers pass only such fields.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "depistage"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Depistage", service=SERVICE)
