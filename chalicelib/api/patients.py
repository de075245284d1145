"""The patient's rights through their pharmacy: export everything held, erase what was never sent.

POST, not GET: the NIR travels in the body, so it never appears in a URL or an access log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import admitted_then_parsed, call, json_body
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import PROTECTED, WITH_BODY, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import PatientQuery
from chalicelib.payloads import parse_patient_query

if TYPE_CHECKING:
    from chalicelib.services import patients
else:
    patients = lazy("chalicelib.services.patients")

blueprint = ApiBlueprint(__name__)


def _request() -> Any:
    return blueprint.current_request


@blueprint.route(
    Route(
        "POST",
        "/v1/patients/search",
        "exportPatient",
        "Everything the caller's pharmacy holds about one patient, found by NIR (pharmacist, "
        "pharmacy_admin). Journaled as patient_export.",
        Reply(200, "The patient's records at this pharmacy (maybe none).", payloads.PATIENT_EXPORT),
        (*PROTECTED, *WITH_BODY),
        body=payloads.PATIENT_QUERY,
        example={"nir": "2 95 10 99 126 111 93"},
    )
)
def search_patient() -> dict[str, Any]:
    request = _request()
    deps, this = get_container().patients, call(request)
    query = admitted_then_parsed(
        lambda: patients.admit(deps, this, "patient_export"),
        lambda: PatientQuery(parse_patient_query(json_body(request))),
    )
    return patients.export_patient(deps, this, query)


@blueprint.route(
    Route(
        "POST",
        "/v1/patients/erasure",
        "erasePatient",
        "Erase the patient's records never sent to SI-DEP (cancelled, personal data erased); name those "
        "already sent: SI-DEP holds them and erases them there.",
        Reply(200, "What was erased and what SI-DEP holds.", payloads.PATIENT_ERASURE),
        (*PROTECTED, *WITH_BODY, "409"),
        body=payloads.PATIENT_QUERY,
        example={"nir": "2 95 10 99 126 111 93"},
    )
)
def erase_patient() -> dict[str, Any]:
    request = _request()
    deps, this = get_container().patients, call(request)
    query = admitted_then_parsed(
        lambda: patients.admit(deps, this, "patient_erasure"),
        lambda: PatientQuery(parse_patient_query(json_body(request))),
    )
    return patients.erase_patient(deps, this, query)
