"""HTTPS POST of one HL7 batch to SI-DEP, with mutual TLS.

The client certificate authenticates us; the server certificate is verified against the
configured CA only (not the system store). The certificate files come from `tls_files`, asked on
every post (in production the Secrets Manager secret, see credentials.py, so a rotation applies
to the next batch), else from the settings. The batch control id travels as `Idempotency-Key`.
Any failure to obtain a readable answer (connection refused or cut, TLS failure, timeout,
non-2xx status, unreadable body) is a `TransportError`: the exporter retries it with backoff.
Its message names the failure kind and the HTTP status only, never a body.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import requests

from chalicelib.adapters.sidep.credentials import CredentialsError, TlsFiles

CONTENT_TYPE = "application/hl7-v2; charset=utf-8"


# SI-DEP asking us to slow down (or unavailable for a while): back off, at least Retry-After.
THROTTLING_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_SECONDS = 3600


class TransportError(Exception):
    """The batch may or may not have arrived; it is safe to resend (the receiver dedups).
    `retry_after` (seconds) is set when SI-DEP asked us to slow down (429/503)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(header: str | None, default: float = 60.0) -> float:
    """Retry-After in delta-seconds (an HTTP date or garbage gives the default), capped."""
    try:
        seconds = float(header) if header is not None else default
    except ValueError:
        seconds = default
    if math.isnan(seconds):  # no time at all ("inf" is capped below)
        seconds = default
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class TransportSettings:
    url: str
    ca_file: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 10.0


class HttpsTransport:
    def __init__(
        self,
        settings: TransportSettings,
        session: requests.Session | None = None,
        tls_files: Callable[[], TlsFiles] | None = None,
    ) -> None:
        if not settings.url.startswith("https://"):
            raise ValueError("the SI-DEP URL must be https")
        if tls_files is None:
            if not (settings.ca_file and settings.client_cert_file and settings.client_key_file):
                raise ValueError("the SI-DEP CA, client certificate and client key files are required")
            files = TlsFiles(settings.ca_file, settings.client_cert_file, settings.client_key_file)

            def constant() -> TlsFiles:
                return files

            tls_files = constant
        self._settings = settings
        self._tls_files = tls_files
        self._session = session or requests.Session()
        self._session.trust_env = False  # no proxy or CA bundle from the environment

    def post(self, payload: bytes, idempotency_key: str) -> bytes:
        s = self._settings
        try:
            files = self._tls_files()
        except CredentialsError as exc:
            raise TransportError(f"credentials: {exc}") from None
        try:
            # urllib3 pools connections per certificate: a rotated one opens new connections.
            response = self._session.post(
                s.url,
                data=payload,
                headers={"Content-Type": CONTENT_TYPE, "Idempotency-Key": idempotency_key},
                timeout=(s.connect_timeout_seconds, s.read_timeout_seconds),
                allow_redirects=False,
                verify=files.ca_file,
                cert=(files.client_cert_file, files.client_key_file),
            )
        except requests.Timeout:
            raise TransportError("timeout") from None
        except requests.exceptions.SSLError:
            raise TransportError("tls error") from None
        except requests.ConnectionError:
            raise TransportError("connection error") from None
        except requests.RequestException as exc:
            raise TransportError(f"request error {type(exc).__name__}") from None
        if response.status_code in THROTTLING_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise TransportError(f"http {response.status_code}", retry_after=wait)
        if not 200 <= response.status_code < 300:
            raise TransportError(f"http {response.status_code}")
        return response.content

    def close(self) -> None:
        self._session.close()
