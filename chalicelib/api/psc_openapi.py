"""The OpenAPI description of the Pro Santé Connect login routes, the invitation by national
identifier and the pharmacy settings, merged by chalicelib/api/openapi.py (`schemas(base)` into
components.schemas, `paths()` into paths).

Built with openapi.py's own helpers (imported when called: openapi.py imports this module).
"""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.api.psc import JWKS, LOGIN_TOKEN, LOGINS
from chalicelib.domain.model import Role

Schema = dict[str, Any]

NATIONAL_ID_PATTERN = "^[0-9A-Za-z]{10,20}$"
RPPS_PATTERN = "^[0-9]{11}$"
_ROLES = [Role.PHARMACIST.value, Role.PHARMACY_ADMIN.value]


def schemas(base: Schema) -> Schema:
    """New component schemas, and the invitation and member schemas widened to national identifiers."""
    from chalicelib.api.openapi import _STRING, _object

    national_id: Schema = {
        "type": "string",
        "pattern": NATIONAL_ID_PATTERN,
        "description": "The PSC national identifier (RPPS professionals: 8 followed by the RPPS number).",
    }
    rpps: Schema = {"type": "string", "pattern": RPPS_PATTERN, "description": "The 11-digit RPPS number."}
    role: Schema = {"type": "string", "enum": _ROLES}
    by_email = copy.deepcopy(base["Invitation"])
    invitation: Schema = {
        "description": "By e-mail: a Cognito invitation. By national identifier or RPPS: a Pro Santé "
        "Connect member, vouched for by PSC and the national directory at each login.",
        "oneOf": [
            by_email,
            _object({"national_id": national_id, "role": role}, ["national_id", "role"]),
            _object({"rpps": rpps, "role": role}, ["rpps", "role"]),
        ],
    }
    member: Schema = {
        "oneOf": [
            copy.deepcopy(base["Member"]),
            _object(
                {"username": _STRING, "national_id": _STRING, "role": role, "finess": _STRING},
                ["username", "national_id", "role", "finess"],
            ),
        ]
    }
    positive: Schema = {"type": "integer", "minimum": 1}
    problem = copy.deepcopy(base["Problem"])
    problem["properties"]["error"] = {
        "type": "string",
        "description": "On the Pro Santé Connect login routes: the CIBA / OAuth error code "
        "(authorization_pending, slow_down, expired_token, access_denied, unknown_user_id, invalid_grant).",
    }
    return {
        "Invitation": invitation,
        "Member": member,
        "Problem": problem,
        "PharmacySettings": _object(
            {"psc_required": {"type": "boolean"}},
            ["psc_required"],
            "psc_required: the pharmacy's pharmacists must log in with Pro Santé Connect (e-CPS); "
            "its admins keep their Cognito login.",
        ),
        "PharmacySettingsState": _object(
            {"finess": _STRING, "psc_required": {"type": "boolean"}}, ["finess", "psc_required"]
        ),
        "PscLoginRequest": {
            "oneOf": [
                _object({"national_id": national_id}, ["national_id"]),
                _object({"rpps": rpps}, ["rpps"]),
            ]
        },
        "PscLogin": _object(
            {
                "login_id": {"type": "string", "description": "Opaque handle for polling; keep it secret."},
                "binding_message": {
                    "type": "string",
                    "description": "Show it: the e-CPS app shows the same code to approve.",
                },
                "expires_in": positive,
                "interval": {**positive, "description": "Poll at most this often (seconds)."},
            },
            ["login_id", "binding_message", "expires_in", "interval"],
        ),
        "PscToken": _object(
            {
                "access_token": {"type": "string", "description": "Send as `Authorization: Bearer …`."},
                "token_type": {"type": "string", "const": "Bearer"},
                "expires_in": positive,
            },
            ["access_token", "token_type", "expires_in"],
        ),
        "Jwks": _object(
            {"keys": {"type": "array", "items": {"type": "object"}}},
            ["keys"],
            "The public keys of our session issuer (RS256; private keys stay in KMS).",
        ),
    }


def paths() -> Schema:
    from chalicelib.api.openapi import _BODY, _COMMON, _FINESS_PARAM, _body, _errors, _json

    anonymous = ("400", "413", "415", "503")
    return {
        LOGINS: {
            "post": {
                "operationId": "startPscLogin",
                "summary": "Start a Pro Santé Connect login (CIBA): PSC asks the e-CPS app to approve.",
                "description": "No bearer token. The server posts the backchannel authentication request "
                "to PSC with its own client credentials; the app never talks to PSC.",
                "security": [],
                "requestBody": _body("PscLoginRequest", {"national_id": "810000000001"}),
                "responses": {
                    "201": _json(
                        "PscLogin",
                        "Started: show the binding message, then poll the token route.",
                        headers={"Location": {"required": True, "schema": {"type": "string"}}},
                    ),
                    **_errors(*anonymous, "404"),
                },
            }
        },
        LOGIN_TOKEN: {
            "parameters": [
                {
                    "name": "login_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 128},
                }
            ],
            "post": {
                "operationId": "pollPscLogin",
                "summary": "Poll a Pro Santé Connect login: 200 with an access token once approved.",
                "description": "400 authorization_pending (poll again after Retry-After), 429 slow_down, "
                "410 expired_token, 403 access_denied or a refusal by the directory check (pharmacist, "
                "practising at the member's pharmacy), 404 an unknown or spent login.",
                "security": [],
                "responses": {
                    "200": _json("PscToken", "Approved and verified: our access token (15 minutes)."),
                    **_errors("400", "403", "404", "410", "413", "415", "429", "503"),
                },
            },
        },
        JWKS: {
            "get": {
                "operationId": "pscSessionJwks",
                "summary": "The JWKS of the tokens issued after a PSC login.",
                "security": [],
                "responses": {"200": _json("Jwks", "The keys."), **_errors("503")},
            }
        },
        "/v1/admin/pharmacies/{finess}/settings": {
            "parameters": [_FINESS_PARAM],
            "put": {
                "operationId": "setPharmacySettings",
                "summary": "Set whether the pharmacy's pharmacists must log in with Pro Santé Connect "
                "(platform_admin, or that pharmacy's pharmacy_admin).",
                "requestBody": _body("PharmacySettings", {"psc_required": True}),
                "responses": {
                    "200": _json("PharmacySettingsState", "The pharmacy's settings."),
                    **_errors(*_COMMON, *_BODY, "404"),
                },
            },
        },
    }
