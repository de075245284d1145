"""Every request body, query string and response body of the API, declared once (chalicelib/schema.py):
the declaration parses requests into domain objects, renders responses from domain values, and is
what the OpenAPI document (chalicelib/api/openapi.py) publishes as components.schemas and parameters.

- fields.py: the patterns, the field rules and the kinds (one field's parser and schema).
- requests.py: the request bodies and the parsers the services call on them.
- queries.py: the query strings and their parsers.
- responses.py: the response bodies.

Where to add a field: its rule and kind in fields.py (if no kind says it yet), then a `Field` in the
body of requests.py or responses.py that carries it; the document follows.
"""

from __future__ import annotations

from typing import Any

from chalicelib.payloads.fields import (
    FINESS_PARAM,
    LOGIN_ID_PARAM,
    SECONDS_HEADER,
    UUID_PARAM,
    finess_with_check_digit,
    parse_uuid,
    validate_finess,
)
from chalicelib.payloads.queries import (
    AUDIT_QUERY,
    LIST_QUERY,
    STATS_QUERY,
    AuditQuery,
    ListQuery,
    parse_audit_query,
    parse_list_query,
    parse_stats_query,
)
from chalicelib.payloads.requests import (
    ADDRESS_INPUT,
    INVITATION,
    PATIENT_INPUT,
    PATIENT_QUERY,
    PHARMACY_INPUT,
    PHARMACY_SETTINGS,
    PSC_LOGIN_REQUEST,
    RESULT_UPDATE,
    SUBMISSION,
    TEST_INPUT,
    Invitation,
    parse_invitation,
    parse_login_request,
    parse_patient_query,
    parse_pharmacy,
    parse_pharmacy_settings,
    parse_result_update,
    parse_submission,
)
from chalicelib.payloads.responses import (
    ADDRESS,
    AUDIT_EVENT,
    AUDIT_PAGE,
    AUDIT_PUBLIC_KEY,
    DAY_STATS,
    DELIVERY,
    DELIVERY_EVENT,
    FIELD_ERROR,
    HEALTH,
    JWKS,
    MEMBER,
    PATIENT,
    PATIENT_ERASURE,
    PATIENT_EXPORT,
    PATIENT_RECORD,
    PHARMACY,
    PHARMACY_SETTINGS_STATE,
    PROBLEM,
    PSC_LOGIN,
    PSC_TOKEN,
    RECORD,
    RECORD_PAGE,
    REJECTION,
    REJECTION_COUNT,
    STATS,
    SUMMARY,
    TEST,
)
from chalicelib.schema import Schema, Shape

__all__ = [
    "AUDIT_QUERY",
    "FINESS_PARAM",
    "LIST_QUERY",
    "LOGIN_ID_PARAM",
    "SECONDS_HEADER",
    "STATS_QUERY",
    "UUID_PARAM",
    "AuditQuery",
    "Invitation",
    "ListQuery",
    "component_schemas",
    "finess_with_check_digit",
    "parse_audit_query",
    "parse_invitation",
    "parse_list_query",
    "parse_login_request",
    "parse_patient_query",
    "parse_pharmacy",
    "parse_pharmacy_settings",
    "parse_result_update",
    "parse_stats_query",
    "parse_submission",
    "parse_uuid",
    "validate_finess",
]

# components.schemas, in the document's order
COMPONENTS: tuple[Shape[Any], ...] = (
    ADDRESS_INPUT,
    PATIENT_INPUT,
    TEST_INPUT,
    SUBMISSION,
    RESULT_UPDATE,
    ADDRESS,
    PATIENT,
    TEST,
    RECORD,
    SUMMARY,
    RECORD_PAGE,
    DELIVERY_EVENT,
    REJECTION,
    DELIVERY,
    AUDIT_EVENT,
    AUDIT_PUBLIC_KEY,
    AUDIT_PAGE,
    PHARMACY_INPUT,
    PHARMACY,
    INVITATION,
    MEMBER,
    HEALTH,
    FIELD_ERROR,
    PROBLEM,
    PATIENT_QUERY,
    PATIENT_RECORD,
    PATIENT_EXPORT,
    PATIENT_ERASURE,
    DAY_STATS,
    REJECTION_COUNT,
    STATS,
    PHARMACY_SETTINGS,
    PHARMACY_SETTINGS_STATE,
    PSC_LOGIN_REQUEST,
    PSC_LOGIN,
    PSC_TOKEN,
    JWKS,
)


def component_schemas() -> dict[str, Schema]:
    return {component.name: component.json_schema() for component in COMPONENTS}
