"""Reading the national directory's FHIR answers (ANS Annuaire Santé API, docs/sources.md): a
pharmacist's active role at a structure with that FINESS vouches for them there, nothing else does,
and any answer of another shape is "unavailable" (a 503 quoting nothing), never an error of ours."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.psc_directory import (
    API_KEY_HEADER,
    FINESS_SYSTEM,
    IDNST_SYSTEM,
    PROFESSION_SYSTEM,
    HttpProfessionalDirectory,
)
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.psc import PscRefused, check_practice

BASE = "https://directory.test/fhir/v2"
NATIONAL_ID = "810000000701"
FINESS = "750000010"
OTHER_FINESS = "130000029"
KEY = "api-key"


def coded(*codes: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": PROFESSION_SYSTEM, "code": code}]} for code in codes]


def practitioner(*qualifications: str, identifier: str = NATIONAL_ID) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": "pp-1",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": identifier}],
        "qualification": [{"code": concept} for concept in coded(*qualifications)],
    }


def role(organization: str, *professions: str, active: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": f"pr-{organization}",
        "active": active,
        "practitioner": {"reference": "Practitioner/pp-1"},
        "organization": {"reference": f"Organization/{organization}"},
        "code": coded(*professions),
    }


def organization(technical_id: str, finess: str, system: str = FINESS_SYSTEM) -> dict[str, Any]:
    value = f"1{finess}" if system == IDNST_SYSTEM else finess
    return {
        "resourceType": "Organization",
        "id": technical_id,
        "identifier": [{"system": system, "value": value}],
    }


def bundle(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": r} for r in resources],
    }


class Response:
    def __init__(self, status_code: int, body: object) -> None:
        self.status_code = status_code
        self._body = body

    def json(self) -> object:
        if isinstance(self._body, BaseException):
            raise self._body
        return self._body


class Directory:
    """The HTTP session the adapter uses, answering from a list of (status, body), one per request."""

    def __init__(self, *answers: tuple[int, object]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str] | None, dict[str, str]]] = []

    def get(self, url: str, *, params: Any, headers: Any, timeout: float, allow_redirects: bool) -> Response:
        assert not allow_redirects  # the API key follows no redirect
        self.requests.append((url, params, headers))
        status, body = self.answers.pop(0)
        return Response(status, body)


def read(*answers: tuple[int, object]) -> tuple[Any, Directory]:
    http = Directory(*answers)
    adapter = HttpProfessionalDirectory(BASE, lambda: KEY, http=http)  # type: ignore[arg-type]
    return adapter.practice(NATIONAL_ID), http


def vouched(practice: Any, finess: str = FINESS) -> bool:
    try:
        check_practice(practice, national_id=NATIONAL_ID, finess=finess)
    except PscRefused:
        return False
    return True


def test_an_active_pharmacist_role_at_the_finess_vouches_for_them_there_only() -> None:
    practice, http = read(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-a", "21"), organization("org-a", FINESS))),
    )
    assert vouched(practice) and not vouched(practice, OTHER_FINESS)
    (first_url, first, headers), (second_url, second, _) = http.requests
    assert (first_url, first) == (f"{BASE}/Practitioner", {"identifier": NATIONAL_ID})
    assert second_url == f"{BASE}/PractitionerRole"
    assert second is not None and second["practitioner"] == "pp-1" and second["active"] == "true"
    assert second["_include"] == "PractitionerRole:organization"
    assert headers[API_KEY_HEADER] == KEY


def test_a_role_of_another_profession_at_the_finess_does_not_vouch() -> None:
    practice, _ = read(
        (200, bundle(practitioner("21", "10"))),
        (200, bundle(role("org-a", "10"), organization("org-a", FINESS))),
    )
    assert practice.professions == {"21", "10"} and not vouched(practice)


def test_a_pharmacist_role_at_another_finess_does_not_vouch() -> None:
    practice, _ = read(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-b", "21"), organization("org-b", OTHER_FINESS))),
    )
    assert not vouched(practice)


def test_an_inactive_role_does_not_vouch() -> None:
    practice, _ = read(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-a", "21", active=False), organization("org-a", FINESS))),
    )
    assert not vouched(practice)


def test_a_role_without_a_profession_counts_only_for_a_professional_whose_one_profession_is_pharmacist() -> (
    None
):
    only_pharmacist, _ = read(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-a"), organization("org-a", FINESS))),
    )
    assert vouched(only_pharmacist)
    two_professions, _ = read(
        (200, bundle(practitioner("21", "10"))),
        (200, bundle(role("org-a"), organization("org-a", FINESS))),
    )
    assert not vouched(two_professions)


def test_a_structure_known_by_its_national_structure_identifier_is_its_finess() -> None:
    practice, _ = read(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-a", "21"), organization("org-a", FINESS, system=IDNST_SYSTEM))),
    )
    assert vouched(practice)


def test_an_identifier_the_directory_does_not_know_is_none_after_one_request() -> None:
    practice, http = read((200, bundle()))
    assert practice is None and len(http.requests) == 1


def test_roles_on_the_next_page_are_read_on_the_same_base() -> None:
    following = f"{BASE}/PractitionerRole?_getpages=abc&_getpagesoffset=1"
    practice, http = read(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-b", "21"), organization("org-b", OTHER_FINESS), next_url=following)),
        (200, bundle(role("org-a", "21"), organization("org-a", FINESS))),
    )
    assert vouched(practice) and vouched(practice, OTHER_FINESS)
    assert http.requests[2][0] == following and http.requests[2][2][API_KEY_HEADER] == KEY


def test_a_next_page_elsewhere_is_unavailable_and_gets_no_api_key() -> None:
    elsewhere = "https://evil.test/fhir/v2/x"
    http = Directory(
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-a", "21"), organization("org-a", FINESS), next_url=elsewhere)),
        (200, bundle()),
    )
    adapter = HttpProfessionalDirectory(BASE, lambda: KEY, http=http)  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailable):
        adapter.practice(NATIONAL_ID)
    assert [url for url, _, _ in http.requests] == [f"{BASE}/Practitioner", f"{BASE}/PractitionerRole"]


MALFORMED: dict[str, list[tuple[int, object]]] = {
    "a server error": [(500, {"resourceType": "OperationOutcome"})],
    "a refused api key": [(401, {})],
    "a 404 for a search": [(404, {})],
    "no JSON": [(200, ValueError("not JSON"))],
    "not a Bundle": [(200, {"resourceType": "Practitioner", "id": NATIONAL_ID})],
    "a list": [(200, [NATIONAL_ID])],
    "entries not a list": [(200, {"resourceType": "Bundle", "entry": {"resource": NATIONAL_ID}})],
    "an entry without a resource": [(200, {"resourceType": "Bundle", "entry": [{"fullUrl": NATIONAL_ID}]})],
    "another professional": [(200, bundle(practitioner("21", identifier="810000000799")))],
    "a pharmacist's structure missing": [
        (200, bundle(practitioner("21"))),
        (200, bundle(role("org-a", "21"))),
    ],
    "codes not a list": [
        (200, bundle(practitioner("21"))),
        (200, bundle({**role("org-a"), "code": {"coding": NATIONAL_ID}}, organization("org-a", FINESS))),
    ],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_an_answer_of_another_shape_is_unavailable_and_quotes_nothing(case: str) -> None:
    with pytest.raises(ServiceUnavailable) as refused:
        read(*MALFORMED[case])
    assert NATIONAL_ID not in str(refused.value.detail) and "1000000" not in str(refused.value.detail)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["21", FINESS, "Bundle"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    *("resourceType", "entry", "resource", "id", "identifier", "system", "value", "code"),
                    *(
                        "coding",
                        "qualification",
                        "organization",
                        "reference",
                        "active",
                        "link",
                        "relation",
                        "url",
                    ),
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
RESOURCE = st.builds(
    lambda kind, fields: {**fields, "resourceType": kind},
    st.sampled_from(["PractitionerRole", "Organization", "Practitioner"]),
    st.dictionaries(
        st.sampled_from(["id", "active", "code", "organization", "identifier", "qualification"]), JSON
    ),
)


def outcome(*answers: tuple[int, object]) -> object:
    try:
        return read(*answers)[0]
    except ServiceUnavailable:
        return "unavailable"


@settings(max_examples=300, deadline=None)
@given(first=JSON, roles=st.lists(RESOURCE, max_size=4), page=JSON)
def test_any_json_answer_is_a_practice_none_or_unavailable_never_an_error_of_ours(
    first: object, roles: list[dict[str, Any]], page: object
) -> None:
    outcome((200, first), (200, page), (200, page))
    outcome((200, bundle(practitioner("21"))), (200, bundle(*roles)), (200, page))
    outcome((200, bundle(practitioner("21"))), (200, page), (200, page))
