"""The OpenAPI fragment of the rights and stats routes: merged into the document it stays a valid
3.1 description and describes exactly the blueprints' routes (openapi.py merges it)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from chalicelib.api import openapi, rights_openapi


def merged() -> dict[str, Any]:
    doc = openapi.document()
    if "/v1/stats" not in doc["paths"]:  # until openapi.py merges the fragment itself
        doc["components"]["schemas"].update(rights_openapi.schemas(doc["components"]["schemas"]))
        doc["paths"].update(rights_openapi.paths())
    return doc


def test_the_merged_document_is_valid() -> None:
    validate(merged())


def test_the_fragment_describes_exactly_the_blueprints_routes() -> None:
    from chalicelib.api import patients, stats

    routes = set()
    for blueprint in (patients.blueprint, stats.blueprint):
        for deferred in blueprint._deferred_registrations:  # the routes a blueprint will register
            routes.add(deferred)
    described = {(p, m) for p, item in rights_openapi.paths().items() for m in item}
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

    from tests.patients import PATIENTS, screening_body

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
