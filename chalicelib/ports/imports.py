"""Spreadsheet uploads: the uploaded files, the imports' states and their per-row reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from chalicelib.domain.imports import ImportStatus


class FileReplaced(Exception):
    """The uploaded file is no longer the one the import began with (its upload URL was used again)."""


@dataclass(frozen=True)
class UploadedFile:
    size: int
    tag: str  # what changes when the file does (S3's ETag)


class ImportFiles(Protocol):
    """Where a pharmacy's spreadsheet is uploaded and read, and where its import's state and report
    are kept, each under the pharmacy's FINESS and the import's id (another pharmacy's id names
    nothing)."""

    def upload_of(self, key: str) -> tuple[str, str] | None:
        """The (FINESS, import id) an uploaded file's key (a notification's) names, or None."""
        ...

    def upload_url(self, finess: str, import_id: str, content_type: str, expires_in: int) -> str:
        """A presigned PUT of the import's file, bound to `content_type`, valid `expires_in` seconds."""
        ...

    def uploaded(self, finess: str, import_id: str) -> UploadedFile | None:
        """The uploaded file's size and tag, or None if there is none (one round trip)."""
        ...

    def chunks(self, finess: str, import_id: str, tag: str) -> Iterator[bytes]:
        """The uploaded file's bytes, piece by piece (FileReplaced if it is no longer `tag`)."""
        ...

    def discard(self, finess: str, import_id: str) -> None:
        """Delete the uploaded file (it holds health data; the state and the report hold none)."""
        ...

    def save_status(self, status: ImportStatus, tag: str = "") -> None: ...

    def status(self, finess: str, import_id: str) -> tuple[ImportStatus, str] | None:
        """The import's state and the tag of the file it processes ("" before), or None."""
        ...

    def save_report(self, finess: str, import_id: str, report: IO[bytes]) -> None: ...

    def report(self, finess: str, import_id: str) -> bytes | None: ...
