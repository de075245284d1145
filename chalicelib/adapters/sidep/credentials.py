"""The SI-DEP client certificate, its key and the CA bundle, from Secrets Manager to 0600 files.

One secret holds all three, as JSON `{"certificate": PEM, "private_key": PEM, "ca_bundle": PEM}`:
a rotation replaces them in one `PutSecretValue`, so a certificate is never paired with the
previous key. The template creates the secret empty; the operator sets its value (docs/deployment.md,
step 3). Powertools Parameters fetches it and caches it for `max_age` seconds, so a
rotated certificate is picked up within that time by a warm Lambda, without a redeploy.

OpenSSL (through requests) loads a client certificate from files only: each version is written
to its own directory under the Lambda's temporary directory (0700, files 0600, created exclusively),
and the previous version's files are removed once the new ones are complete. Nothing here logs,
and no error text carries the secret's value (the JSON parser's message would quote it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

SECRET_FIELDS = ("certificate", "private_key", "ca_bundle")
FILE_MODE = 0o600


class CredentialsError(RuntimeError):
    """The secret is missing, unreadable or incomplete (the message never quotes its value)."""


@dataclass(frozen=True)
class TlsFiles:
    ca_file: str
    client_cert_file: str
    client_key_file: str


class SecretSource(Protocol):
    """What Powertools' SecretsProvider offers (`get`, cached for max_age seconds)."""

    def get(self, name: str, max_age: int | None = None) -> Any: ...


def parse_secret(raw: Any) -> dict[str, str]:
    """The secret's three PEM fields; raises CredentialsError naming only what is wrong."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise CredentialsError("the SI-DEP TLS secret is not JSON") from None
    if not isinstance(value, dict):
        raise CredentialsError("the SI-DEP TLS secret is not a JSON object")
    missing = [
        name for name in SECRET_FIELDS if not isinstance(value.get(name), str) or not value[name].strip()
    ]
    if missing:
        raise CredentialsError(
            f"the SI-DEP TLS secret lacks {', '.join(missing)} (set it: docs/deployment.md)"
        )
    if "PRIVATE KEY-----" not in value["private_key"] or "CERTIFICATE-----" not in value["certificate"]:
        raise CredentialsError("the SI-DEP TLS secret's certificate or private_key is not PEM")
    return {name: value[name] for name in SECRET_FIELDS}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


class SecretTlsFiles:
    """Callable: the current files for the TLS context, rewritten when the secret's value changes."""

    def __init__(
        self, source: SecretSource, secret_id: str, max_age_seconds: int, directory: Path | None = None
    ) -> None:
        if not secret_id:
            raise CredentialsError("SIDEP_TLS_SECRET_ID is not set")
        self._source = source
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._parent = directory
        self._root: Path | None = None
        self._digest = ""
        self._files: TlsFiles | None = None
        self._lock = threading.Lock()

    def __call__(self) -> TlsFiles:
        try:
            raw = self._source.get(self._secret_id, max_age=self._max_age)
        except Exception as exc:  # Powertools wraps the AWS error; its text names no secret value
            raise CredentialsError(f"cannot read the SI-DEP TLS secret ({type(exc).__name__})") from None
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        with self._lock:
            if self._files is not None and digest == self._digest:
                return self._files
            values = parse_secret(text)
            self._files = self._write(digest, values)
            self._digest = digest
            return self._files

    def _write(self, digest: str, values: dict[str, str]) -> TlsFiles:
        if self._root is None:
            # mkdtemp: a fresh directory, mode 0700, owned by this process
            self._root = Path(tempfile.mkdtemp(prefix="sidep-tls-", dir=self._parent))
        previous = [p for p in self._root.iterdir() if p.name != digest]
        version = self._root / digest
        shutil.rmtree(version, ignore_errors=True)
        version.mkdir(mode=0o700)
        files = TlsFiles(
            ca_file=str(version / "ca.pem"),
            client_cert_file=str(version / "client.pem"),
            client_key_file=str(version / "client-key.pem"),
        )
        _write_private(Path(files.ca_file), values["ca_bundle"])
        _write_private(Path(files.client_cert_file), values["certificate"])
        _write_private(Path(files.client_key_file), values["private_key"])
        for old in previous:
            shutil.rmtree(old, ignore_errors=True)
        return files
