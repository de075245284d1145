"""The OpenAPI 3.1 description of the public API (CONTRACT.md §3), served at GET /v1/openapi.json.

Built in Python so that enums and limits come from the domain and cannot drift from it; a test
checks that its paths and methods are exactly the app's routes and that it is a valid 3.1 document.

Request schemas are exactly as strict as the server is wherever a JSON Schema can say it (types,
required fields, unknown fields, enums, patterns): a fuzzer's schema-violating request must be
refused. Rules a schema cannot say (the NIR's key and its agreement with sex and birth date, date
ranges, NFC-normalised lengths) are in the descriptions and answered with 400 by the server.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.context import MAX_JSON_DEPTH
from chalicelib.api.problems import SECURITY_HEADERS
from chalicelib.domain import validation
from chalicelib.domain.devices import device_list
from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.model import (
    DeliveryState,
    MessageKind,
    RecordStatus,
    Role,
    ScreeningKind,
    ScreeningResult,
    Sex,
)
from chalicelib.domain.pharmacy_day import FRENCH_ZONES

blueprint = Blueprint(__name__)

Schema = dict[str, Any]

API_VERSION = "1.0.0"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
CURSOR_PATTERN = "^[A-Za-z0-9_-]+={0,2}$"
FINESS_PATTERN = "^(0[1-9]|1[0-9]|2[1-9ABab]|[3-8][0-9]|9[0-5]|97|98)[0-9]{7}$"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _values(kind: Any) -> list[str]:
    return [member.value for member in kind]


def _nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], required: list[str], description: str = "") -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


_STRING: Schema = {"type": "string"}
_TIMESTAMP: Schema = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC (Z)."}


def _ins_traits_in() -> dict[str, Schema]:
    """The optional INS traits of a submission (the status is never submitted)."""
    return {
        "birth_last_name": {
            **_nullable(_STRING),
            "description": "Optional: the birth family name (nom de naissance), beside last_name.",
        },
        "birth_first_names": {
            **_nullable(_STRING),
            "description": "Optional: the first names as on the birth record, space-separated.",
        },
        "birth_place": {
            **_nullable({"type": "string", "pattern": "^[0-9][0-9ABab][0-9]{3}$"}),
            "description": "Optional: the INSEE code of the birth commune (2A/2B in Corsica), or 99 and "
            "the country's code for a birth abroad; checked against INSEE's list.",
        },
        "identity_document": {
            **_nullable({"type": "string", "enum": _values(IdentityDocument)}),
            "description": "Optional: the identity document seen at the counter, or none.",
        },
    }


def _schemas() -> dict[str, Schema]:
    address_in = _object(
        {
            "line": {"type": "string", "description": f"1 to {validation.ADDRESS_LINE_MAX} characters."},
            "postal_code": {"type": "string", "description": "5 digits, a French département."},
            "city": {"type": "string", "description": f"1 to {validation.CITY_MAX} characters."},
        },
        ["line", "postal_code", "city"],
    )
    patient_in = _object(
        {
            "nir": {
                "type": "string",
                "description": "15 digits with its key (spaces allowed; Corsica 2A/2B); key = 97 − "
                "(first 13 digits mod 97); must agree with sex and birth_date.",
            },
            "last_name": {"type": "string", "description": f"Letters, 1 to {validation.NAME_MAX}."},
            "first_name": {"type": "string", "description": f"Letters, 1 to {validation.NAME_MAX}."},
            "birth_date": {"type": "string", "format": "date", "description": "1900-01-01 to today."},
            "sex": {"type": "string", "enum": _values(Sex)},
            "email": {**_nullable(_STRING), "description": "Optional."},
            "phone": {**_nullable(_STRING), "description": "Optional; stored in E.164."},
            "address": _nullable(_ref("AddressInput")),
            **_ins_traits_in(),
        },
        ["nir", "last_name", "first_name", "birth_date", "sex"],
    )
    test_in = _object(
        {
            "kind": {"type": "string", "enum": _values(ScreeningKind)},
            "device_id": {
                "type": "string",
                "enum": sorted(device_list().devices, key=int),
                "description": "The test device's id on the EU common list of rapid antigen tests (the "
                f"DCC value set of {device_list().value_set_date.isoformat()}); a device taken off the "
                "list is refused for tests sampled from the day it left.",
            },
            "sampled_at": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 with an offset; not in the future, within the retention period.",
            },
            "result": {
                **_nullable({"type": "string", "enum": _values(ScreeningResult)}),
                "description": "Null: pending.",
            },
        },
        ["kind", "device_id", "sampled_at"],
    )
    address = _object(
        {"line": _STRING, "postal_code": _STRING, "city": _STRING}, ["line", "postal_code", "city"]
    )
    patient = _object(
        {
            "nir": {"type": "string", "pattern": "^[0-9]{5}[0-9AB][0-9]{9}$", "description": "Normalised."},
            "last_name": _STRING,
            "first_name": _STRING,
            "birth_date": {"type": "string", "format": "date"},
            "sex": {"type": "string", "enum": _values(Sex)},
            "email": _nullable(_STRING),
            "phone": _nullable(_STRING),
            "address": _nullable(_ref("Address")),
            "birth_last_name": _nullable(_STRING),
            "birth_first_names": _nullable(_STRING),
            "birth_place": _nullable(_STRING),
            "identity_document": _nullable({"type": "string", "enum": _values(IdentityDocument)}),
            "identity_status": {
                "type": "string",
                "enum": _values(IdentityStatus),
                "description": "Derived by the server from what was checked (README \"The patient's "
                'identity"): provisional, recovered (INSi), validated (document), qualified (both).',
            },
        },
        ["nir", "last_name", "first_name", "birth_date", "sex", "email", "phone", "address"],
    )
    test = _object(
        {
            "kind": {"type": "string", "enum": _values(ScreeningKind)},
            "device_id": _STRING,
            "device_name": {
                **_nullable(_STRING),
                "description": "The device's manufacturer and name on the EU common list.",
            },
            "sampled_at": {"type": "string", "format": "date-time"},
            "result": _nullable({"type": "string", "enum": _values(ScreeningResult)}),
        },
        ["kind", "device_id", "device_name", "sampled_at", "result"],
    )
    summary_fields: dict[str, Schema] = {
        "id": {"type": "string", "format": "uuid"},
        "finess": _STRING,
        "status": {"type": "string", "enum": _values(RecordStatus)},
        "test": _ref("Test"),
        "day": {
            "type": "string",
            "format": "date",
            "description": "The sampling's day in the pharmacy's time zone: the day it is listed and "
            "counted under.",
        },
        "created_at": _TIMESTAMP,
        "updated_at": _TIMESTAMP,
        "created_by": _STRING,
    }
    summary = _object(summary_fields, list(summary_fields), "A list item: no NIR, e-mail, phone or address.")
    record = _object({**summary_fields, "patient": _nullable(_ref("Patient"))}, [*summary_fields, "patient"])
    delivery_event = _object(
        {"at": _TIMESTAMP, "event": _STRING, "detail": _STRING}, ["at", "event", "detail"]
    )
    delivery = _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": _values(RecordStatus)},
            "state": {"type": "string", "enum": _values(DeliveryState)},
            "pending_message": _nullable({"type": "string", "enum": _values(MessageKind)}),
            "attempts": {"type": "integer", "minimum": 0},
            "last_error": _nullable(_STRING),
            "acknowledged_at": _nullable(_TIMESTAMP),
            "acknowledged_version": {"type": "integer", "minimum": 0},
            "next_attempt_at": _nullable(_TIMESTAMP),
            # when a message first left for SI-DEP: from then on the test is withdrawn, never cancelled
            "first_sent_at": _nullable(_TIMESTAMP),
            "history": {"type": "array", "items": _ref("DeliveryEvent")},
        },
        [
            "id",
            "status",
            "state",
            "pending_message",
            "attempts",
            "last_error",
            "acknowledged_at",
            "acknowledged_version",
            "next_attempt_at",
            "first_sent_at",
            "history",
        ],
    )
    audit_event: Schema = {
        "type": "object",
        "description": "One event of the pharmacy's audit journal (identifiers only).",
        "properties": {
            "time": _TIMESTAMP,
            "actor": _STRING,
            "role": _STRING,
            "finess": _nullable(_STRING),
            "action": _STRING,
            "record_ids": {"type": "array", "items": _STRING},
            "outcome": _STRING,
            "request_id": _STRING,
        },
        "required": ["time", "actor", "role", "finess", "action", "record_ids", "outcome", "request_id"],
    }
    problem: Schema = {
        "type": "object",
        "description": "RFC 9457 problem details; never echoes a submitted personal value.",
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": _STRING,
            "errors": {"type": "array", "items": _ref("FieldError")},
            "withdrawal": {
                "type": "string",
                "description": "On a 409 cancelling an already sent test: the route withdrawing it (POST).",
            },
        },
        "required": ["type", "title", "status", "detail"],
    }
    return {
        "AddressInput": address_in,
        "PatientInput": patient_in,
        "TestInput": test_in,
        "Submission": _object(
            {"patient": _ref("PatientInput"), "test": _ref("TestInput")}, ["patient", "test"]
        ),
        "ResultUpdate": _object(
            {"result": _nullable({"type": "string", "enum": _values(ScreeningResult)})},
            ["result"],
            "Null sets the record back to pending.",
        ),
        "Address": address,
        "Patient": patient,
        "Test": test,
        "Record": record,
        "Summary": summary,
        "RecordPage": _object(
            {"items": {"type": "array", "items": _ref("Summary")}, "next_cursor": _nullable(_STRING)},
            ["items", "next_cursor"],
        ),
        "DeliveryEvent": delivery_event,
        "Delivery": delivery,
        "AuditEvent": audit_event,
        "AuditPublicKey": _object(
            {
                "key_id": _STRING,
                "algorithm": {"type": "string", "enum": ["ECDSA_SHA_256"]},
                "public_key_pem": {
                    "type": "string",
                    "description": "SubjectPublicKeyInfo (ECC_NIST_P256), PEM: verify_audit --public-key.",
                },
                "fingerprint": {
                    "type": "string",
                    "description": "SHA-256 (hex) of the DER public key: compare with the stack output.",
                },
            },
            ["key_id", "algorithm", "public_key_pem", "fingerprint"],
            "The key that signs the audit journal's checkpoints: anyone holding it verifies them offline.",
        ),
        "AuditPage": _object(
            {"items": {"type": "array", "items": _ref("AuditEvent")}, "next_cursor": _nullable(_STRING)},
            ["items", "next_cursor"],
        ),
        "PharmacyInput": _object(
            {
                "finess": {"type": "string", "description": "9 characters with its Luhn key."},
                "name": {"type": "string", "description": f"1 to {validation.PHARMACY_NAME_MAX} characters."},
                "time_zone": {
                    "type": "string",
                    "enum": list(FRENCH_ZONES),
                    "description": "Optional: the zone of the pharmacy's days (listing, today, statistics, "
                    "retention); by default its FINESS département's. Fixed once onboarded.",
                },
            },
            ["finess", "name"],
        ),
        "Pharmacy": _object(
            {"finess": _STRING, "name": _STRING, "time_zone": {"type": "string", "enum": list(FRENCH_ZONES)}},
            ["finess", "name", "time_zone"],
        ),
        "Invitation": _object(
            {
                "email": _STRING,
                "role": {"type": "string", "enum": [Role.PHARMACIST.value, Role.PHARMACY_ADMIN.value]},
            },
            ["email", "role"],
        ),
        "Member": _object(
            {
                "username": _STRING,
                "email": _STRING,
                "role": {"type": "string", "enum": [Role.PHARMACIST.value, Role.PHARMACY_ADMIN.value]},
                "finess": _STRING,
            },
            ["username", "email", "role", "finess"],
        ),
        "Health": _object({"status": {"type": "string", "const": "ok"}}, ["status"]),
        "FieldError": _object({"field": _STRING, "message": _STRING}, ["field", "message"]),
        "Problem": problem,
    }


_ERRORS = {
    "400": ("BadRequest", "Validation failed: `errors` names every field."),
    "401": ("Unauthenticated", "No valid Cognito access token."),
    "403": ("Forbidden", "The caller's role does not allow this."),
    "404": ("NotFound", "Unknown id, or a record of another pharmacy."),
    "409": ("Conflict", "The state or the Idempotency-Key forbids it."),
    "410": ("Gone", "The login expired: start a new one."),
    "429": ("TooManyRequests", "Polling too fast (slow_down): wait Retry-After seconds."),
    "413": ("PayloadTooLarge", "The body is too large."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "503": ("ServiceUnavailable", "A dependency failed; nothing was half-written. Retry after Retry-After."),
}


def _headers() -> dict[str, Schema]:
    headers: dict[str, Schema] = {
        name: {"description": "Sent on every response.", "schema": {"type": "string", "const": value}}
        for name, value in SECURITY_HEADERS.items()
        if name == "Cache-Control"  # the one that matters for health data; the others are tested elsewhere
    }
    headers["X-Request-Id"] = {"description": "Correlation id of the request.", "schema": _STRING}
    return headers


def _responses() -> dict[str, Schema]:
    problem_content = {"application/problem+json": {"schema": _ref("Problem")}}
    responses: dict[str, Schema] = {
        name: {"description": description, "headers": _headers(), "content": problem_content}
        for name, description in _ERRORS.values()
    }
    responses["ServiceUnavailable"]["headers"] = {
        **_headers(),
        "Retry-After": {
            "required": True,
            "description": "Seconds.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
    }
    return responses


def _json(schema_name: str, description: str, **extra: Any) -> Schema:
    response: Schema = {
        "description": description,
        "headers": _headers(),
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }
    response.update(extra)
    return response


def _errors(*codes: str) -> dict[str, Schema]:
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}


_RECORD_ID: Schema = {
    "name": "record_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "description": "A test record id; anything else is 404.",
}
_FINESS_PARAM: Schema = {
    "name": "finess",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": FINESS_PATTERN},
}


def _body(schema_name: str, example: Schema | None = None) -> Schema:
    media: Schema = {"schema": _ref(schema_name)}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


# CONTRACT.md's example record (a real, valid NIR agreeing with sex and birth date).
SUBMISSION_EXAMPLE: Schema = {
    "patient": {
        "nir": "2 95 10 99 126 111 93",
        "last_name": "Dupont",
        "first_name": "Jeanne",
        "birth_date": "1995-10-01",
        "sex": "F",
        "email": "jeanne@example.org",
        "phone": "+33612345678",
        "address": {"line": "1 rue de la Paix", "postal_code": "75002", "city": "Paris"},
    },
    "test": {
        "kind": "antigen",
        "device_id": "1232",
        "sampled_at": "2026-11-29T10:15:00+01:00",
        "result": "negative",
    },
}


def _record_links() -> dict[str, Schema]:
    by_id = {"record_id": "$response.body#/id"}
    return {
        "ReadTest": {"operationId": "readTest", "parameters": by_id},
        "SetResult": {"operationId": "setTestResult", "parameters": by_id},
        "ReadDelivery": {"operationId": "readTestDelivery", "parameters": by_id},
        "CancelTest": {"operationId": "cancelTest", "parameters": by_id},
        "WithdrawTest": {"operationId": "withdrawTest", "parameters": by_id},
    }


# Every record route answers these besides its own; a body route adds 400/413/415.
_COMMON = ("401", "403", "503")
_BODY = ("400", "413", "415")


def _paths() -> dict[str, Schema]:
    record_read_errors = _errors(*_COMMON, "404")
    return {
        "/v1/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness; no authentication.",
                "security": [],
                "responses": {"200": _json("Health", "The service answers.")},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document; no authentication.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 description.",
                        "headers": _headers(),
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/v1/tests": {
            "post": {
                "operationId": "createTest",
                "summary": "Record a test (pharmacist).",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
                        "description": "A retry with the same key and body returns the first response and "
                        "creates nothing; the same key with another body is 409.",
                    }
                ],
                "requestBody": _body("Submission", SUBMISSION_EXAMPLE),
                "responses": {
                    "201": _json(
                        "Record",
                        "Created (or the replay of an idempotent create).",
                        headers={
                            **_headers(),
                            "Location": {"required": True, "schema": {"type": "string"}},
                        },
                        links=_record_links(),
                    ),
                    **_errors(*_COMMON, *_BODY, "409"),
                },
            },
            "get": {
                "operationId": "listTests",
                "summary": "List one day's records of the caller's pharmacy (summaries).",
                "parameters": [
                    {
                        "name": "date",
                        "in": "query",
                        "schema": {"type": "string", "format": "date"},
                        "description": "A day of the pharmacy's time zone; by default its today.",
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": _values(RecordStatus)},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": validation.LIST_LIMIT_MAX},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "pattern": CURSOR_PATTERN,
                            "maxLength": validation.CURSOR_MAX,
                        },
                    },
                ],
                "responses": {
                    "200": _json("RecordPage", "A page of summaries."),
                    **_errors(*_COMMON, "400"),
                },
            },
        },
        "/v1/tests/{record_id}": {
            "parameters": [_RECORD_ID],
            "get": {
                "operationId": "readTest",
                "summary": "Read a record with its patient.",
                "responses": {"200": _json("Record", "The record."), **record_read_errors},
            },
            "delete": {
                "operationId": "cancelTest",
                "summary": "Cancel a test SI-DEP never saw (else 409: withdraw it).",
                "responses": {
                    "204": {"description": "Cancelled.", "headers": _headers()},
                    **_errors(*_COMMON, "404", "409"),
                },
            },
        },
        "/v1/tests/{record_id}/result": {
            "parameters": [_RECORD_ID],
            "put": {
                "operationId": "setTestResult",
                "summary": "Set (or correct) the result.",
                "requestBody": _body("ResultUpdate"),
                "responses": {
                    "200": _json(
                        "Record",
                        "The record.",
                        links={
                            "ReadDelivery": {
                                "operationId": "readTestDelivery",
                                "parameters": {"record_id": "$response.body#/id"},
                            }
                        },
                    ),
                    **_errors(*_COMMON, *_BODY, "404", "409"),
                },
            },
        },
        "/v1/tests/{record_id}/withdrawal": {
            "parameters": [_RECORD_ID],
            "post": {
                "operationId": "withdrawTest",
                "summary": "Ask SI-DEP to withdraw a result it acknowledged (beyond the contract).",
                "description": "Send `Content-Type: application/json`; the body, if any, is ignored.",
                "responses": {
                    "200": _json("Record", "The withdrawal is scheduled."),
                    **_errors(*_COMMON, "404", "409", "413", "415"),
                },
            },
        },
        "/v1/tests/{record_id}/delivery": {
            "parameters": [_RECORD_ID],
            "get": {
                "operationId": "readTestDelivery",
                "summary": "The record's SI-DEP delivery state and history.",
                "responses": {"200": _json("Delivery", "The delivery state."), **record_read_errors},
            },
        },
        "/v1/audit": {
            "get": {
                "operationId": "readAudit",
                "summary": "The caller's pharmacy's audit journal (pharmacy_admin).",
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": validation.AUDIT_LIMIT_MAX},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "pattern": CURSOR_PATTERN,
                            "maxLength": validation.CURSOR_MAX,
                        },
                    },
                ],
                "responses": {"200": _json("AuditPage", "A page of events."), **_errors(*_COMMON, "400")},
            }
        },
        "/v1/audit/public-key": {
            "get": {
                "operationId": "readAuditPublicKey",
                "summary": "The public key that verifies the journal's signed checkpoints (pharmacy_admin).",
                "responses": {
                    "200": _json("AuditPublicKey", "The audit public key."),
                    **_errors(*_COMMON),
                },
            }
        },
        "/v1/admin/pharmacies": {
            "post": {
                "operationId": "onboardPharmacy",
                "summary": "Onboard a pharmacy (platform_admin).",
                "requestBody": _body("PharmacyInput"),
                "responses": {
                    "201": _json(
                        "Pharmacy",
                        "Onboarded.",
                        headers={**_headers(), "Location": {"required": True, "schema": _STRING}},
                    ),
                    **_errors(*_COMMON, *_BODY, "409"),
                },
            }
        },
        "/v1/admin/pharmacies/{finess}/members": {
            "parameters": [_FINESS_PARAM],
            "post": {
                "operationId": "inviteMember",
                "summary": "Invite a member (that pharmacy's pharmacy_admin; the platform only the first).",
                "description": (
                    "The platform_admin invites a pharmacy's first pharmacy_admin, while it has none (else "
                    "`409`), and no one else (`403`); the pharmacy's admins invite the rest."
                ),
                "requestBody": _body("Invitation"),
                "responses": {
                    "201": _json(
                        "Member", "Invited; Cognito sends the invitation (by e-mail) or PSC vouches at login."
                    ),
                    **_errors(*_COMMON, *_BODY, "404", "409"),
                },
            },
        },
        "/v1/admin/pharmacies/{finess}/members/{username}": {
            "parameters": [
                _FINESS_PARAM,
                {"name": "username", "in": "path", "required": True, "schema": _STRING},
            ],
            "delete": {
                "operationId": "revokeMember",
                "summary": "Revoke a member, effective on their next request (that pharmacy's admin).",
                "description": "Not oneself; a pharmacy keeps one pharmacy_admin (`409`).",
                "responses": {
                    "204": {"description": "Revoked.", "headers": _headers()},
                    **_errors(*_COMMON, "404", "409"),
                },
            },
        },
        "/v1/session/logout": {
            "post": {
                "operationId": "logout",
                "summary": "End the caller's sessions: the same access token is 401 from the next request.",
                "description": (
                    "Cognito revokes the caller's refresh tokens; access tokens issued until now are "
                    "refused. No body."
                ),
                "responses": {
                    "204": {"description": "Logged out.", "headers": _headers()},
                    **_errors(*_COMMON, "413", "415"),
                },
            }
        },
    }


@functools.cache
def _document() -> Schema:
    from chalicelib.api import (
        psc_openapi,  # the Pro Santé Connect login and pharmacy settings
        rights_openapi,  # the patients' rights and statistics routes
    )

    schemas = _schemas()
    schemas.update(rights_openapi.schemas(schemas))
    schemas.update(psc_openapi.schemas(schemas))
    paths = _paths()
    paths.update(rights_openapi.paths())
    paths.update(psc_openapi.paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "depistage",
            "version": API_VERSION,
            "summary": "Pharmacies record COVID-19 antigen tests; results go to SI-DEP.",
            "description": (
                "Every route but health, this document and the Pro Santé Connect login needs "
                "`Authorization: Bearer <access token>` (Cognito's, or ours after a PSC login). "
                "Bodies are `application/json`, at most as nested as "
                f"{MAX_JSON_DEPTH} levels, with no unknown field. Errors are `application/problem+json`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT (Cognito access token)",
                }
            },
            "schemas": schemas,
            "responses": _responses(),
        },
    }


def document() -> Schema:
    """A fresh copy of the document (callers may change theirs)."""
    return copy.deepcopy(_document())


@blueprint.route("/v1/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    return Response(body=_document(), status_code=200, headers={"Content-Type": "application/json"})
