"""The rights and stats routes in the OpenAPI document: it stays a valid 3.1 description and
describes exactly the blueprints' routes (their payloads are declared in chalicelib/payloads/)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from chalicelib.api import openapi


def merged() -> dict[str, Any]:
    return openapi.document()


def test_the_merged_document_is_valid() -> None:
    validate(merged())


def test_the_fragment_describes_exactly_the_blueprints_routes() -> None:
    from chalicelib.api import patients, stats

    routes = set()
    for blueprint in (patients.blueprint, stats.blueprint):
        for deferred in blueprint._deferred_registrations:  # the routes a blueprint will register
            routes.add(deferred)
    rights = ("/v1/patients/search", "/v1/patients/erasure", "/v1/stats")
    described = {(p, m) for p, item in merged()["paths"].items() if p in rights for m in item}
    assert described == {
        ("/v1/patients/search", "post"),
        ("/v1/patients/erasure", "post"),
        ("/v1/stats", "get"),
    }
    assert len(routes) == len(described)


def test_answers_match_the_schemas(world: Any) -> None:
    """A real export, erasure and stats answer validate against the fragment's schemas."""
    import json

    from jsonschema import Draft202012Validator

    from testkit.patients import PATIENTS, screening_body

    doc = merged()

    def check(name: str, body: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        Draft202012Validator(schema).validate(body)

    world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
    http = world.client.http
    headers = world.headers("pharmacist-a")
    query = json.dumps({"nir": PATIENTS[0]["nir"]})
    check("PatientExport", json.loads(http.post("/v1/patients/search", headers=headers, body=query).body))
    check("PatientErasure", json.loads(http.post("/v1/patients/erasure", headers=headers, body=query).body))
    stats = http.get("/v1/stats?from=2026-11-29&to=2026-11-29", headers=world.headers("admin-a"))
    check("Stats", json.loads(stats.body))
