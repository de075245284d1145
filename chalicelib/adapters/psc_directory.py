"""The national directory of health professionals (ANS "Annuaire Santé", FHIR R4 API): where one
professional practises as a pharmacist.

A pharmacy's invitation of a Pro Santé Connect professional is checked against it (services/admin.py),
so that no pharmacy can take the place of the one the directory lists them at. The answer is reduced
to the same `Practice` the login reads from PSC's userinfo (domain/psc.py), and `check_practice`
decides on both.

Two searches, as the API's documentation shows them (docs/sources.md: Annuaire Santé FHIR API v2),
with our API key in the `ESANTE-API-KEY` header:

1. `GET <base>/Practitioner?identifier=<national id>`: the professional (the national id, "8" + RPPS,
   is the Practitioner's IDNPS identifier); an empty Bundle: the directory does not know them;
2. `GET <base>/PractitionerRole?practitioner=<ids>&active=true&_include=PractitionerRole:organization`:
   their situations of practice (PractitionerRole) and the structures they name (Organization, whose
   FINESS identifier we compare), following the Bundle's `next` links (on the same base only: the
   API key goes nowhere else).

The profession is the TRE_G15 coding (21: pharmacist), on the role's `code` and, in the API's v2
profiles, on the Practitioner's `qualification`: a role counts for a pharmacist if it says 21, or says
no profession while 21 is the professional's only one. Anything we cannot read as that (a status other
than 200, a body that is not such a Bundle, a pharmacist's role naming a structure the answer does not
include) is "unavailable": the invitation is refused with a 503 that quotes nothing (fail closed).
requests is imported on first use, not with the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.psc import PHARMACIST_PROFESSION, Practice, normalised_code

if TYPE_CHECKING:
    import requests

_UNAVAILABLE = "The national directory of health professionals is unavailable; retry later."
API_KEY_HEADER = "ESANTE-API-KEY"  # pragma: allowlist secret
# The profession nomenclature (TRE_G15) and identifier systems of the ANS's FHIR profiles (FHIR IG
# "Annuaire Santé"; docs/sources.md).
PROFESSION_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
# The national identifier of a health professional (IDNPS: "8" + RPPS, "0" + ADELI, …): PSC's
# SubjectNameID, and what a membership is keyed by.
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
# The national structure identifier (IDNST) of a FINESS structure is "1" + its FINESS number.
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
# A professional with more situations than this many pages of roles is not read (an unexpected answer).
MAX_PAGES = 5
PAGE_SIZE = 100


class DirectoryAnswerError(ValueError):
    """The directory's answer is not the FHIR shape we read (never carries a value from it)."""


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DirectoryAnswerError("expected a list")
    return value


def bundle_resources(bundle: object, resource_type: str) -> list[Mapping[str, Any]]:
    """The resources of one type in a searchset Bundle; DirectoryAnswerError if it is not one."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise DirectoryAnswerError("not a Bundle")
    found: list[Mapping[str, Any]] = []
    for entry in _list(bundle.get("entry")):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
            raise DirectoryAnswerError("an entry without a resource")
        if resource["resourceType"] == resource_type:
            found.append(resource)
    return found


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in _list(bundle.get("link")):
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str) or not url:
                raise DirectoryAnswerError("a next link without a url")
            return url
    return None


def _codes(concepts: Iterable[object], system: str) -> set[str]:
    codes: set[str] = set()
    for concept in concepts:
        if not isinstance(concept, Mapping):
            raise DirectoryAnswerError("a CodeableConcept that is not an object")
        for coding in _list(concept.get("coding")):
            code = normalised_code(coding.get("code")) if isinstance(coding, Mapping) else ""
            if code and coding.get("system") == system:
                codes.add(code)
    return codes


def _identifiers(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(i.get("system", "")), normalised_code(i.get("value")))
        for i in _list(resource.get("identifier"))
        if isinstance(i, Mapping)
    ]


def organization_finess(organization: Mapping[str, Any]) -> set[str]:
    """The FINESS numbers an Organization carries: its FINESS identifier, or its IDNST "1" + FINESS."""
    finess = set()
    for system, value in _identifiers(organization):
        if system == FINESS_SYSTEM and value:
            finess.add(value)
        elif system == IDNST_SYSTEM and value.startswith("1") and len(value) == 10:
            finess.add(value[1:])
    return finess


def practitioner_ids(bundle: object, national_id: str) -> list[str]:
    """The technical ids of the Practitioners whose national identifier (IDNPS) this is (empty:
    unknown). Each found must carry the identifier searched for, else the answer is not what we
    asked; one that carries it as another identifier (the search also matches an RPPS: 11 digits,
    a national identifier's shape) is not a professional with this national identifier, so a bare
    RPPS never makes a second membership of someone PSC names by "8" + RPPS."""
    ids = []
    for practitioner in bundle_resources(bundle, "Practitioner"):
        identifiers = _identifiers(practitioner)
        if national_id.upper() not in {value for _, value in identifiers}:
            raise DirectoryAnswerError("a Practitioner without the identifier searched for")
        if (IDNPS_SYSTEM, national_id.upper()) not in identifiers:
            continue
        technical_id = practitioner.get("id")
        if not isinstance(technical_id, str) or not technical_id or "," in technical_id:
            raise DirectoryAnswerError("a Practitioner without an id")
        ids.append(technical_id)
    return ids


def read_roles(
    national_id: str, practitioners: Sequence[Mapping[str, Any]], role_pages: Sequence[object]
) -> Practice:
    """Reduce the Practitioner(s) and the pages of their PractitionerRole search to a Practice."""
    qualified: set[str] = set()
    for practitioner in practitioners:
        qualified |= _codes(
            (q.get("code") for q in _list(practitioner.get("qualification")) if isinstance(q, Mapping)),
            PROFESSION_SYSTEM,
        )
    roles: list[Mapping[str, Any]] = []
    organizations: dict[str, set[str]] = {}
    for page in role_pages:
        roles += bundle_resources(page, "PractitionerRole")
        for organization in bundle_resources(page, "Organization"):
            organizations[f"Organization/{organization.get('id')}"] = organization_finess(organization)
    professions = set(qualified)
    finess: set[str] = set()
    for role in roles:
        if role.get("active") is False:
            continue
        said = _codes(_list(role.get("code")), PROFESSION_SYSTEM)
        professions |= said
        if PHARMACIST_PROFESSION not in (said or (qualified if len(qualified) == 1 else set())):
            continue
        reference = role.get("organization")
        target = reference.get("reference") if isinstance(reference, Mapping) else None
        if not isinstance(target, str) or target not in organizations:
            raise DirectoryAnswerError("a pharmacist's role naming a structure the answer does not include")
        finess |= organizations[target]
    return Practice(
        national_id=national_id.upper(),
        professions=frozenset(professions),
        pharmacist_finess=frozenset(finess),
    )


class HttpProfessionalDirectory:
    """ProfessionalDirectory over the Annuaire Santé FHIR API with `requests`."""

    def __init__(
        self,
        url: str,
        api_key: Callable[[], str],
        timeout_seconds: float = 5.0,
        http: requests.Session | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._http_session = http

    def practice(self, national_id: str) -> Practice | None:
        if not self._url:
            raise ServiceUnavailable("The national directory of health professionals is not configured.")
        try:
            found = self._get(f"{self._url}/Practitioner", {"identifier": national_id})
            ids = practitioner_ids(found, national_id)
            if not ids:
                return None
            practitioners = [p for p in bundle_resources(found, "Practitioner") if p.get("id") in ids]
            pages = [
                self._get(
                    f"{self._url}/PractitionerRole",
                    {
                        "practitioner": ",".join(ids),
                        "active": "true",
                        "_include": "PractitionerRole:organization",
                        "_count": str(PAGE_SIZE),
                    },
                )
            ]
            while (link := next_link(pages[-1])) is not None:
                if len(pages) >= MAX_PAGES or not link.startswith(f"{self._url}/"):
                    raise DirectoryAnswerError("too many pages, or a page elsewhere")
                pages.append(self._get(link, None))
            return read_roles(national_id, practitioners, pages)
        except DirectoryAnswerError as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc

    def _get(self, url: str, params: dict[str, str] | None) -> Mapping[str, Any]:
        import requests

        if self._http_session is None:
            self._http_session = requests.Session()
        try:
            response = self._http_session.get(
                url,
                params=params,
                headers={API_KEY_HEADER: self._api_key(), "Accept": "application/fhir+json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if response.status_code != 200:
            raise ServiceUnavailable(_UNAVAILABLE)
        try:
            body = response.json()
        except ValueError as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if not isinstance(body, Mapping) or body.get("resourceType") != "Bundle":
            raise ServiceUnavailable(_UNAVAILABLE)
        return body
