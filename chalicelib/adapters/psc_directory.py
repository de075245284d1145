"""The national directory of health professionals over HTTPS: where one professional practises.

A pharmacy's invitation of a Pro Santé Connect professional is checked against it (services/admin.py),
so that no pharmacy can take the place of the one the directory lists them at. The entry has the
shape of PSC's userinfo (`SubjectNameID`, `SubjectRefPro.exercices[].activities[]` with the
structures' FINESS), reduced by the same `read_practice` the login uses: one reading of the
directory for the invitation and for every login.

`GET <PSC_DIRECTORY_URL>/<national id>` with our PSC client's credentials (HTTP Basic): 200 and the
entry, 404 for an identifier the directory does not know; anything else is "unavailable", and the
invitation is refused (fail closed). requests is imported on first use, not with the app.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.psc import Practice, read_practice

if TYPE_CHECKING:
    import requests

_UNAVAILABLE = "The national directory of health professionals is unavailable; retry later."


class HttpProfessionalDirectory:
    """ProfessionalDirectory over HTTPS with `requests`."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: Callable[[], str],
        timeout_seconds: float = 5.0,
        http: requests.Session | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self._timeout = timeout_seconds
        self._http_session = http

    def practice(self, national_id: str) -> Practice | None:
        import requests

        if not self._url:
            raise ServiceUnavailable("The national directory of health professionals is not configured.")
        if self._http_session is None:
            self._http_session = requests.Session()
        try:
            response = self._http_session.get(
                f"{self._url}/{urllib.parse.quote(national_id, safe='')}",
                auth=(self._client_id, self._secret()),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable(_UNAVAILABLE)
        try:
            entry = response.json()
        except ValueError as exc:
            raise ServiceUnavailable(_UNAVAILABLE) from exc
        if not isinstance(entry, dict):
            raise ServiceUnavailable(_UNAVAILABLE)
        return read_practice(entry)
