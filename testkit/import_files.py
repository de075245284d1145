"""An in-memory ImportFiles (chalicelib/ports/imports.py) for the import's unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from chalicelib.domain.imports import ImportStatus
from chalicelib.ports.imports import FileReplaced, UploadedFile


@dataclass
class FakeImportFiles:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    statuses: dict[tuple[str, str], tuple[ImportStatus, str]] = field(default_factory=dict)
    reports: dict[tuple[str, str], bytes] = field(default_factory=dict)
    piece_bytes: int = 4096
    reads: int = 0  # GETs of a file

    @staticmethod
    def upload_of(key: str) -> tuple[str, str] | None:
        parts = key.removeprefix("uploads/").removesuffix(".csv").split("/")
        return (parts[0], parts[1]) if key.startswith("uploads/") and len(parts) == 2 else None

    def upload_url(self, finess: str, import_id: str, content_type: str, expires_in: int) -> str:
        return f"https://uploads.example/{finess}/{import_id}?type={content_type}&expires={expires_in}"

    def put(self, finess: str, import_id: str, body: bytes) -> None:
        """The pharmacy's PUT through its URL."""
        self.files[(finess, import_id)] = body

    def uploaded(self, finess: str, import_id: str) -> UploadedFile | None:
        body = self.files.get((finess, import_id))
        return UploadedFile(len(body), hashlib.sha256(body).hexdigest()) if body is not None else None

    def chunks(self, finess: str, import_id: str, tag: str) -> Iterator[bytes]:
        found = self.uploaded(finess, import_id)
        if found is None or found.tag != tag:
            raise FileReplaced
        self.reads += 1
        body = self.files[(finess, import_id)]
        for start in range(0, len(body), self.piece_bytes):
            yield body[start : start + self.piece_bytes]

    def discard(self, finess: str, import_id: str) -> None:
        self.files.pop((finess, import_id), None)

    def save_status(self, status: ImportStatus, tag: str = "") -> None:
        self.statuses[(status.finess, status.id)] = (status, tag)

    def status(self, finess: str, import_id: str) -> tuple[ImportStatus, str] | None:
        return self.statuses.get((finess, import_id))

    def save_report(self, finess: str, import_id: str, report: IO[bytes]) -> None:
        self.reports[(finess, import_id)] = report.read()

    def report(self, finess: str, import_id: str) -> bytes | None:
        return self.reports.get((finess, import_id))


def put_file(upload_url: str, body: bytes, content_type: str = "text/csv") -> int:
    """The pharmacy's PUT through its presigned URL (moto, in process or served); its status."""
    import requests

    return requests.put(upload_url, data=body, headers={"Content-Type": content_type}, timeout=30).status_code


def process_uploads() -> int:
    """What the processing function does with the notifications the bucket queued (the local
    stack's worker, devtools/imports_worker.py, run once)."""
    import boto3

    from chalicelib.api.import_files import process_message
    from chalicelib.config import get_settings
    from devtools.imports_worker import drain

    settings = get_settings()
    sqs = boto3.Session(region_name=settings.region).client("sqs", endpoint_url=settings.aws_endpoint_url)
    return drain(sqs, process_message)
