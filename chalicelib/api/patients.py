"""The patient's rights through their pharmacy: export everything held, erase what was never sent.

POST, not GET: the NIR travels in the body, so it never appears in a URL or an access log.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.context import call, json_body
from chalicelib.api.routing import ApiBlueprint
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import PatientQuery
from chalicelib.payloads import parse_patient_query
from chalicelib.services import patients

blueprint = ApiBlueprint(__name__)


def _request() -> Any:
    return blueprint.current_request


@blueprint.route("/v1/patients/search", methods=["POST"])
def search_patient() -> dict[str, Any]:
    request = _request()
    query = PatientQuery(parse_patient_query(json_body(request)))
    return patients.export_patient(get_container().patients, call(request), query)


@blueprint.route("/v1/patients/erasure", methods=["POST"])
def erase_patient() -> dict[str, Any]:
    request = _request()
    query = PatientQuery(parse_patient_query(json_body(request)))
    return patients.erase_patient(get_container().patients, call(request), query)
