"""The OpenAPI 3.1 description of the public API (CONTRACT.md §3), served at GET /v1/openapi.json.

Generated: components.schemas and the query parameters are the payload declarations of
chalicelib/payloads.py (the same ones that parse the requests); this module only says, route by
route, which payload goes in and out, the path and header parameters, the error codes and the links.
A test checks that its paths and methods are exactly the app's routes and that it is a valid 3.1
document; another that it means what the hand-written document it replaced meant.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from chalice import Response

from chalicelib import payloads
from chalicelib.api.context import MAX_JSON_DEPTH
from chalicelib.api.problems import SECURITY_HEADERS
from chalicelib.api.psc import JWKS, LOGIN_TOKEN, LOGINS
from chalicelib.api.routing import ApiBlueprint
from chalicelib.schema import Schema, Shape, ref

blueprint = ApiBlueprint(__name__)

API_VERSION = "1.0.0"
_STRING: Schema = {"type": "string"}

_ERRORS = {
    "400": ("BadRequest", "Validation failed: `errors` names every field."),
    "401": ("Unauthenticated", "No valid Cognito access token."),
    "403": ("Forbidden", "The caller's role does not allow this."),
    "404": ("NotFound", "Unknown id, or a record of another pharmacy."),
    "409": ("Conflict", "The state or the Idempotency-Key forbids it."),
    "410": ("Gone", "The login expired: start a new one."),
    "429": ("TooManyRequests", "Too fast or too many (slow_down): wait Retry-After seconds."),
    "413": ("PayloadTooLarge", "The body is too large."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "503": ("ServiceUnavailable", "A dependency failed; nothing was half-written. Retry after Retry-After."),
}
# Every protected route answers these besides its own; a body route adds 400/413/415.
_COMMON = ("401", "403", "503")
_BODY = ("400", "413", "415")


def _headers() -> dict[str, Schema]:
    headers: dict[str, Schema] = {
        name: {"description": "Sent on every response.", "schema": {"type": "string", "const": value}}
        for name, value in SECURITY_HEADERS.items()
        if name == "Cache-Control"  # the one that matters for health data; the others are tested elsewhere
    }
    headers["X-Request-Id"] = {"description": "Correlation id of the request.", "schema": _STRING}
    return headers


def _responses() -> dict[str, Schema]:
    problem_content = {"application/problem+json": {"schema": ref(payloads.PROBLEM.name)}}
    responses: dict[str, Schema] = {
        name: {"description": description, "headers": _headers(), "content": problem_content}
        for name, description in _ERRORS.values()
    }
    responses["ServiceUnavailable"]["headers"] = {
        **_headers(),
        "Retry-After": {"required": True, "description": "Seconds.", "schema": payloads.SECONDS_HEADER},
    }
    return responses


def _json(
    payload: Shape[Any] | None,
    description: str,
    *,
    location: bool = False,
    headers: bool = True,
    links: dict[str, Schema] | None = None,
) -> Schema:
    """A response: its body is `payload` (None: no body)."""
    response: Schema = {"description": description}
    if headers:
        response["headers"] = _headers()
    if location:
        response["headers"] = {
            **response.get("headers", {}),
            "Location": {"required": True, "schema": dict(_STRING)},
        }
    if payload is not None:
        response["content"] = {"application/json": {"schema": payload.reference()}}
    if links:
        response["links"] = links
    return response


def _errors(*codes: str) -> dict[str, Schema]:
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}


def _body(payload: Shape[Any], example: Schema | None = None) -> Schema:
    media: Schema = {"schema": payload.reference()}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


def _path(name: str, schema: Schema, description: str = "") -> Schema:
    parameter: Schema = {"name": name, "in": "path", "required": True, "schema": dict(schema)}
    if description:
        parameter["description"] = description
    return parameter


_RECORD_ID = _path("record_id", payloads.UUID_PARAM, "A test record id; anything else is 404.")
_FINESS = _path("finess", payloads.FINESS_PARAM)

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


def _by_record_id(*names: tuple[str, str]) -> dict[str, Schema]:
    return {
        name: {"operationId": operation, "parameters": {"record_id": "$response.body#/id"}}
        for name, operation in names
    }


_RECORD_LINKS = _by_record_id(
    ("ReadTest", "readTest"),
    ("SetResult", "setTestResult"),
    ("ReadDelivery", "readTestDelivery"),
    ("CancelTest", "cancelTest"),
    ("WithdrawTest", "withdrawTest"),
)


def _operation(operation_id: str, summary: str, responses: Schema, **extra: Any) -> Schema:
    return {"operationId": operation_id, "summary": summary, **extra, "responses": responses}


def _paths() -> dict[str, Schema]:
    p = payloads
    record_read = _errors(*_COMMON, "404")
    anonymous = ("400", "413", "415", "503")
    return {
        "/v1/health": {
            "get": _operation(
                "health",
                "Liveness; no authentication.",
                {"200": _json(p.HEALTH, "The service answers.")},
                security=[],
            )
        },
        "/v1/openapi.json": {
            "get": _operation(
                "openapi",
                "This document; no authentication.",
                {
                    "200": {
                        "description": "The OpenAPI 3.1 description.",
                        "headers": _headers(),
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                security=[],
            )
        },
        "/v1/tests": {
            "post": _operation(
                "createTest",
                "Record a test (pharmacist).",
                {
                    "201": _json(
                        p.RECORD,
                        "Created (or the replay of an idempotent create).",
                        location=True,
                        links=_RECORD_LINKS,
                    ),
                    **_errors(*_COMMON, *_BODY, "409"),
                },
                parameters=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": dict(p.UUID_PARAM),
                        "description": "A retry with the same key and body returns the first response and "
                        "creates nothing; the same key with another body is 409.",
                    }
                ],
                requestBody=_body(p.SUBMISSION, SUBMISSION_EXAMPLE),
            ),
            "get": _operation(
                "listTests",
                "List one day's records of the caller's pharmacy (summaries).",
                {"200": _json(p.RECORD_PAGE, "A page of summaries."), **_errors(*_COMMON, "400")},
                parameters=p.LIST_QUERY.parameters(),
            ),
        },
        "/v1/tests/{record_id}": {
            "parameters": [_RECORD_ID],
            "get": _operation(
                "readTest",
                "Read a record with its patient.",
                {"200": _json(p.RECORD, "The record."), **record_read},
            ),
            "delete": _operation(
                "cancelTest",
                "Cancel a test SI-DEP never saw (else 409: withdraw it).",
                {"204": _json(None, "Cancelled."), **_errors(*_COMMON, "404", "409")},
            ),
        },
        "/v1/tests/{record_id}/result": {
            "parameters": [_RECORD_ID],
            "put": _operation(
                "setTestResult",
                "Set (or correct) the result.",
                {
                    "200": _json(
                        p.RECORD, "The record.", links=_by_record_id(("ReadDelivery", "readTestDelivery"))
                    ),
                    **_errors(*_COMMON, *_BODY, "404", "409"),
                },
                requestBody=_body(p.RESULT_UPDATE),
            ),
        },
        "/v1/tests/{record_id}/withdrawal": {
            "parameters": [_RECORD_ID],
            "post": _operation(
                "withdrawTest",
                "Ask SI-DEP to withdraw a result it acknowledged (beyond the contract).",
                {
                    "200": _json(p.RECORD, "The withdrawal is scheduled."),
                    **_errors(*_COMMON, "404", "409", "413", "415"),
                },
                description="Send `Content-Type: application/json`; the body, if any, is ignored.",
            ),
        },
        "/v1/tests/{record_id}/delivery": {
            "parameters": [_RECORD_ID],
            "get": _operation(
                "readTestDelivery",
                "The record's SI-DEP delivery state and history.",
                {"200": _json(p.DELIVERY, "The delivery state."), **record_read},
            ),
        },
        "/v1/audit": {
            "get": _operation(
                "readAudit",
                "The caller's pharmacy's audit journal (pharmacy_admin).",
                {"200": _json(p.AUDIT_PAGE, "A page of events."), **_errors(*_COMMON, "400")},
                parameters=p.AUDIT_QUERY.parameters(),
            )
        },
        "/v1/audit/public-key": {
            "get": _operation(
                "readAuditPublicKey",
                "The public key that verifies the journal's signed checkpoints (pharmacy_admin).",
                {"200": _json(p.AUDIT_PUBLIC_KEY, "The audit public key."), **_errors(*_COMMON)},
            )
        },
        "/v1/admin/pharmacies": {
            "post": _operation(
                "onboardPharmacy",
                "Onboard a pharmacy (platform_admin).",
                {"201": _json(p.PHARMACY, "Onboarded.", location=True), **_errors(*_COMMON, *_BODY, "409")},
                requestBody=_body(p.PHARMACY_INPUT),
            )
        },
        "/v1/admin/pharmacies/{finess}/members": {
            "parameters": [_FINESS],
            "post": _operation(
                "inviteMember",
                "Invite a member (that pharmacy's pharmacy_admin; the platform only the first).",
                {
                    "201": _json(
                        p.MEMBER, "Invited; Cognito sends the invitation (by e-mail) or PSC vouches at login."
                    ),
                    **_errors(*_COMMON, *_BODY, "404", "409"),
                },
                description="The platform_admin invites a pharmacy's first pharmacy_admin, while it has "
                "none (else `409`), by national identifier only: a pharmacist the national directory lists "
                "at that pharmacy, who logs in with Pro Santé Connect; no one else, no e-mail (`403`). The "
                "pharmacy's admins invite the rest; a pharmacy that requires Pro Santé Connect by national "
                "identifier only (`409`). A professional is invited only where the national directory lists "
                "them as a pharmacist (`403`; `503` if it cannot answer); a membership elsewhere, where it "
                "does not list them, moves here; one it also vouches for stays (`409`).",
                requestBody=_body(p.INVITATION),
            ),
        },
        "/v1/admin/pharmacies/{finess}/members/{username}": {
            "parameters": [_FINESS, _path("username", _STRING)],
            "delete": _operation(
                "revokeMember",
                "Revoke a member, effective on their next request (that pharmacy's admin).",
                {"204": _json(None, "Revoked."), **_errors(*_COMMON, "404", "409")},
                description="Not oneself; a pharmacy keeps one pharmacy_admin (`409`).",
            ),
        },
        "/v1/admin/pharmacies/{finess}/settings": {
            "parameters": [_FINESS],
            "put": _operation(
                "setPharmacySettings",
                "Set whether the pharmacy's members, admins included, must log in with Pro Santé Connect "
                "(platform_admin, or that pharmacy's pharmacy_admin).",
                {
                    "200": _json(p.PHARMACY_SETTINGS_STATE, "The pharmacy's settings."),
                    **_errors(*_COMMON, *_BODY, "404", "409"),
                },
                description="Turned on only once the pharmacy has a pharmacy_admin who logs in with Pro "
                "Santé Connect (else `409`): from then on a Cognito member, admin or pharmacist, is refused.",
                requestBody=_body(p.PHARMACY_SETTINGS, {"psc_required": True}),
            ),
        },
        "/v1/session/logout": {
            "post": _operation(
                "logout",
                "End the caller's sessions: the same access token is 401 from the next request.",
                {"204": _json(None, "Logged out."), **_errors(*_COMMON, "413", "415")},
                description="Cognito revokes the caller's refresh tokens; access tokens issued until now are "
                "refused. No body.",
            )
        },
        "/v1/patients/search": {
            "post": _operation(
                "exportPatient",
                "Everything the caller's pharmacy holds about one patient, found by NIR "
                "(pharmacist, pharmacy_admin). Journaled as patient_export.",
                {
                    "200": _json(p.PATIENT_EXPORT, "The patient's records at this pharmacy (maybe none)."),
                    **_errors(*_COMMON, *_BODY),
                },
                requestBody=_body(p.PATIENT_QUERY, {"nir": "2 95 10 99 126 111 93"}),
            )
        },
        "/v1/patients/erasure": {
            "post": _operation(
                "erasePatient",
                "Erase the patient's records never sent to SI-DEP (cancelled, personal data erased); "
                "name those already sent: SI-DEP holds them and erases them there.",
                {
                    "200": _json(p.PATIENT_ERASURE, "What was erased and what SI-DEP holds."),
                    **_errors(*_COMMON, *_BODY, "409"),
                },
                requestBody=_body(p.PATIENT_QUERY),
            )
        },
        "/v1/stats": {
            "get": _operation(
                "readStats",
                "The pharmacy's tests per day, positivity and delivery states, from record skeletons "
                "only (pharmacy_admin).",
                {"200": _json(p.STATS, "The statistics."), **_errors(*_COMMON, "400")},
                parameters=p.STATS_QUERY.parameters(),
            )
        },
        LOGINS: {
            "post": _operation(
                "startPscLogin",
                "Start a Pro Santé Connect login (CIBA): PSC asks the e-CPS app to approve.",
                {
                    "201": _json(
                        p.PSC_LOGIN,
                        "Started: show the binding message, then poll the token route.",
                        headers=False,
                        location=True,
                    ),
                    **_errors(*anonymous, "429"),
                },
                description="No bearer token. The server posts the backchannel authentication request to "
                "PSC with its own client credentials and the binding message; the app never talks to PSC. "
                "The professional approves only the e-CPS push that shows the same binding message. "
                "Every identifier gets the same 201, invited or not (no push is sent for one that leads "
                "nowhere: its poll ends as a push not approved). At most a few starts per identifier and "
                "per source address per window: 429 slow_down, retry after Retry-After seconds.",
                security=[],
                requestBody=_body(p.PSC_LOGIN_REQUEST, {"national_id": "810000000001"}),
            )
        },
        LOGIN_TOKEN: {
            "parameters": [_path("login_id", p.LOGIN_ID_PARAM)],
            "post": _operation(
                "pollPscLogin",
                "Poll a Pro Santé Connect login: 200 with an access token once approved.",
                {
                    "200": _json(p.PSC_TOKEN, "Approved and verified: our access token (15 minutes)."),
                    **_errors("400", "403", "404", "410", "413", "415", "429", "503"),
                },
                description="400 authorization_pending (poll again after Retry-After), 429 slow_down, 410 "
                "expired_token, 403 access_denied (not approved on the e-CPS, or no push was sent) or a "
                "refusal by the directory check (pharmacist, practising at the member's pharmacy), 404 an "
                "unknown or spent login. The access token is valid at the member's pharmacy only.",
                security=[],
            ),
        },
        JWKS: {
            "get": _operation(
                "pscSessionJwks",
                "The JWKS of the tokens issued after a PSC login.",
                {"200": _json(p.JWKS, "The keys."), **_errors("503")},
                security=[],
            )
        },
    }


@functools.cache
def _document() -> Schema:
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
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT (Cognito access token)",
                }
            },
            "schemas": payloads.component_schemas(),
            "responses": _responses(),
        },
    }


def document() -> Schema:
    """A fresh copy of the document (callers may change theirs)."""
    return copy.deepcopy(_document())


@blueprint.route("/v1/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    return Response(body=_document(), status_code=200, headers={"Content-Type": "application/json"})
