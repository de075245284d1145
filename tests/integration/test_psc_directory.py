"""The national directory adapter against the fake PSC's Annuaire Santé route (the FHIR API's shape,
paths and API key header): what it lists, what it does not know, paging, and every failure a 503
that quotes nothing (an invitation is never left unchecked)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.adapters import psc_directory
from chalicelib.adapters.psc_directory import HttpProfessionalDirectory
from chalicelib.domain.errors import ServiceUnavailable
from devtools.fake_psc import DIRECTORY_API_KEY, DIRECTORY_PATH, FakePsc, running

LISTED = "810000000701"
IDENTITIES = [
    {
        "national_id": LISTED,
        "rpps": LISTED[1:],
        "given_name": "Camille",
        "family_name": "Martin",
        "professions": [
            {"code": "21", "finess": ["750000010", "130000029"]},
            {"code": "10", "finess": ["010000016"]},
        ],
    }
]


@pytest.fixture
def fake() -> Iterator[FakePsc]:
    with running(client_id="depistage", client_secret="s3cret", identities=IDENTITIES) as psc:
        yield psc


def directory(fake: FakePsc, api_key: str = DIRECTORY_API_KEY) -> HttpProfessionalDirectory:
    return HttpProfessionalDirectory(f"{fake.base_url}{DIRECTORY_PATH}", lambda: api_key)


def test_a_listed_pharmacist_s_practice_is_read_from_the_fhir_roles_and_their_structures(
    fake: FakePsc,
) -> None:
    practice = directory(fake).practice(LISTED.lower())
    assert practice is not None and practice.national_id == LISTED
    assert practice.professions == {"21", "10"}
    assert practice.pharmacist_finess == {"750000010", "130000029"}  # not the doctor's structure


def test_roles_over_several_pages_are_all_read(fake: FakePsc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psc_directory, "PAGE_SIZE", 1)
    practice = directory(fake).practice(LISTED)
    assert practice is not None and practice.pharmacist_finess == {"750000010", "130000029"}


def test_more_pages_than_the_limit_is_unavailable_not_a_partial_answer(
    fake: FakePsc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(psc_directory, "PAGE_SIZE", 1)
    monkeypatch.setattr(psc_directory, "MAX_PAGES", 2)
    with pytest.raises(ServiceUnavailable):
        directory(fake).practice(LISTED)


def test_an_identifier_the_directory_does_not_know_is_none(fake: FakePsc) -> None:
    assert directory(fake).practice("810000000799") is None


@pytest.mark.parametrize("failure", ["wrong api key", "not configured", "nobody listening", "wrong base"])
def test_a_directory_that_cannot_answer_is_a_503_that_quotes_nothing(fake: FakePsc, failure: str) -> None:
    adapter = {
        "wrong api key": directory(fake, api_key="rotated"),
        "not configured": HttpProfessionalDirectory("", lambda: DIRECTORY_API_KEY),
        "nobody listening": HttpProfessionalDirectory(
            "http://127.0.0.1:9/fhir/v2", lambda: DIRECTORY_API_KEY, timeout_seconds=1
        ),
        "wrong base": HttpProfessionalDirectory(f"{fake.base_url}/directory/v1", lambda: DIRECTORY_API_KEY),
    }[failure]
    with pytest.raises(ServiceUnavailable) as refused:
        adapter.practice(LISTED)
    assert LISTED not in str(refused.value.detail)


@pytest.mark.parametrize("missing", ["PSC_DIRECTORY_URL", "PSC_DIRECTORY_API_KEY_SECRET_ID"])
def test_the_app_without_the_directory_s_url_or_key_refuses_invitations_by_national_id(
    aws: dict[str, str], fake: FakePsc, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    from chalicelib import bootstrap
    from chalicelib.config import get_settings

    monkeypatch.setenv("PSC_DIRECTORY_URL", f"{fake.base_url}{DIRECTORY_PATH}")
    get_settings.cache_clear()
    assert bootstrap.build(get_settings()).admin.directory.practice(LISTED) is not None  # both: it reads
    monkeypatch.setenv(missing, "")
    get_settings.cache_clear()
    with pytest.raises(ServiceUnavailable) as refused:
        bootstrap.build(get_settings()).admin.directory.practice(LISTED)
    assert "not configured" in str(refused.value.detail)
