"""The OpenAPI description of the patients' rights and statistics routes, merged by
chalicelib/api/openapi.py (`schemas(base)` into components.schemas, `paths()` into paths).

Built with openapi.py's own helpers (imported when called: openapi.py imports this module).
"""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.domain.model import DeliveryState
from chalicelib.domain.stats import MAX_RANGE_DAYS

Schema = dict[str, Any]


def schemas(base: Schema) -> Schema:
    """New component schemas; `base` holds openapi.py's (its Record schema is extended here)."""
    from chalicelib.api.openapi import _STRING, _TIMESTAMP, _nullable, _object, _ref

    record = copy.deepcopy(base["Record"])
    record["properties"]["delivery"] = _ref("Delivery")
    record["properties"]["retention"] = _object(
        {
            "sent_to_sidep": {"type": "boolean"},
            "personal_data_erased_on": {"type": "string", "format": "date"},
        },
        ["sent_to_sidep", "personal_data_erased_on"],
    )
    record["required"] = [*record["required"], "delivery", "retention"]
    record["description"] = "A record with everything held about it: patient, delivery, retention."
    count: Schema = {"type": "integer", "minimum": 0}
    day_fields: dict[str, Schema] = {
        "tests": count,
        "positive": count,
        "negative": count,
        "invalid": count,
        "pending": count,
        "positivity": {
            **_nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "description": "positive / (positive + negative); null when there is neither.",
        },
    }
    return {
        "PatientQuery": _object(
            {"nir": {"type": "string", "description": "The patient's NIR (spaces allowed)."}},
            ["nir"],
            "In the body, never in a URL: the NIR must not reach an access log.",
        ),
        "PatientRecord": record,
        "PatientExport": _object(
            {
                "finess": _STRING,
                "generated_at": _TIMESTAMP,
                "records": {"type": "array", "items": _ref("PatientRecord")},
                "retention_policy": _object(
                    {"after_acknowledgement_days": count, "hard_cap_days": count},
                    ["after_acknowledgement_days", "hard_cap_days"],
                ),
            },
            ["finess", "generated_at", "records", "retention_policy"],
        ),
        "PatientErasure": _object(
            {
                "erased": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                "already_sent": {
                    "type": "array",
                    "items": _object(
                        {
                            "id": {"type": "string", "format": "uuid"},
                            "status": _STRING,
                            "erased_here_on": {"type": "string", "format": "date"},
                        },
                        ["id", "status", "erased_here_on"],
                    ),
                },
                "detail": _STRING,
            },
            ["erased", "already_sent", "detail"],
        ),
        "DayStats": _object(
            {"date": {"type": "string", "format": "date"}, **day_fields}, ["date", *day_fields]
        ),
        "Stats": _object(
            {
                "finess": _STRING,
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
                "days": {"type": "array", "items": _ref("DayStats")},
                "totals": _object(day_fields, list(day_fields)),
                "delivery_states": _object(
                    {state.value: count for state in DeliveryState}, [state.value for state in DeliveryState]
                ),
            },
            ["finess", "from", "to", "days", "totals", "delivery_states"],
        ),
    }


def paths() -> Schema:
    from chalicelib.api.openapi import _BODY, _COMMON, _body, _errors, _json

    day = {"type": "string", "format": "date"}
    return {
        "/v1/patients/search": {
            "post": {
                "operationId": "exportPatient",
                "summary": "Everything the caller's pharmacy holds about one patient, found by NIR "
                "(pharmacist, pharmacy_admin). Journaled as patient_export.",
                "requestBody": _body("PatientQuery", {"nir": "2 95 10 99 126 111 93"}),
                "responses": {
                    "200": _json("PatientExport", "The patient's records at this pharmacy (maybe none)."),
                    **_errors(*_COMMON, *_BODY),
                },
            }
        },
        "/v1/patients/erasure": {
            "post": {
                "operationId": "erasePatient",
                "summary": "Erase the patient's records never sent to SI-DEP (cancelled, personal data "
                "erased); name those already sent: SI-DEP holds them and erases them there.",
                "requestBody": _body("PatientQuery"),
                "responses": {
                    "200": _json("PatientErasure", "What was erased and what SI-DEP holds."),
                    **_errors(*_COMMON, *_BODY, "409"),
                },
            }
        },
        "/v1/stats": {
            "get": {
                "operationId": "readStats",
                "summary": "The pharmacy's tests per day, positivity and delivery states, from "
                "record skeletons only (pharmacy_admin).",
                "parameters": [
                    {"name": "from", "in": "query", "required": True, "schema": day},
                    {
                        "name": "to",
                        "in": "query",
                        "required": True,
                        "schema": day,
                        "description": f"At most {MAX_RANGE_DAYS} days after from (inclusive range).",
                    },
                ],
                "responses": {"200": _json("Stats", "The statistics."), **_errors(*_COMMON, "400")},
            }
        },
    }
