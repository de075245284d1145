"""Spreadsheet uploads in S3 (ports/imports.py), one bucket, every object under its pharmacy:

    uploads/<FINESS>/<import id>.csv   the file, PUT by the pharmacy through a presigned URL; its
                                       ObjectCreated notification starts the processing; deleted
                                       once imported (it holds health data)
    status/<FINESS>/<import id>.json   the import's state (counts, who asked), no value of the file
    reports/<FINESS>/<import id>.csv   the per-row report: row, column, code, message

The bucket encrypts with the project's KMS key, blocks public access, takes TLS only and expires
every object within days (infra/template/imports.py). An id is checked to be a UUID and a FINESS
to be 9 characters before it names a key, so no request can name another prefix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import IO, TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import FieldError, ServiceUnavailable
from chalicelib.domain.imports import ImportState, ImportStatus
from chalicelib.ports.imports import FileReplaced, UploadedFile

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

UPLOADS, STATUS, REPORTS = "uploads/", "status/", "reports/"
PIECE_BYTES = 64 * 1024  # the file is read this much at a time
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_FINESS = re.compile(r"[0-9A-Z]{9}")
_UPLOAD_KEY = re.compile(rf"{UPLOADS}(?P<finess>{_FINESS.pattern})/(?P<id>{_ID.pattern})\.csv")
_MISSING = ("404", "NoSuchKey", "NotFound")
_CHANGED = ("412", "PreconditionFailed")
T = TypeVar("T")


def _key(prefix: str, finess: str, import_id: str, suffix: str) -> str:
    if not _FINESS.fullmatch(finess) or not _ID.fullmatch(import_id):
        raise ValueError("an import's key needs a FINESS and a UUID")  # the services check both first
    return f"{prefix}{finess}/{import_id}{suffix}"


def upload_names(key: str) -> tuple[str, str] | None:
    """The (FINESS, import id) an uploaded file's key names, or None for any other key."""
    match = _UPLOAD_KEY.fullmatch(key)
    return (match["finess"], match["id"]) if match else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The upload store is unavailable; retry later.")


def _unless_missing(call: Callable[[], T]) -> T | None:
    """`call()`'s answer, None if its object does not exist, else ServiceUnavailable."""
    try:
        return call()
    except ClientError as error:
        if _code(error) in _MISSING:
            return None
        raise _unavailable() from error
    except BotoCoreError as error:
        raise _unavailable() from error


def _status_json(status: ImportStatus, tag: str) -> bytes:
    body: dict[str, Any] = asdict(status)
    body["errors"] = [asdict(error) for error in status.errors]
    body["tag"] = tag
    return json.dumps(body, sort_keys=True).encode()


def _status_of(raw: bytes) -> tuple[ImportStatus, str]:
    body = json.loads(raw)
    tag = str(body.pop("tag", ""))
    errors = tuple(FieldError(**error) for error in body.pop("errors", []))
    state = ImportState(body.pop("state"))
    return ImportStatus(state=state, errors=errors, **body), tag


class S3ImportFiles:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def upload_of(key: str) -> tuple[str, str] | None:
        return upload_names(key)

    def upload_url(self, finess: str, import_id: str, content_type: str, expires_in: int) -> str:
        url: str = self._s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self._bucket,
                "Key": _key(UPLOADS, finess, import_id, ".csv"),
                "ContentType": content_type,
            },
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        return url

    def uploaded(self, finess: str, import_id: str) -> UploadedFile | None:
        key = _key(UPLOADS, finess, import_id, ".csv")
        head = _unless_missing(lambda: self._s3.head_object(Bucket=self._bucket, Key=key))
        if head is None:
            return None
        return UploadedFile(size=int(head["ContentLength"]), tag=str(head["ETag"]))

    def chunks(self, finess: str, import_id: str, tag: str) -> Iterator[bytes]:
        key = _key(UPLOADS, finess, import_id, ".csv")
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key, IfMatch=tag)["Body"]
        except ClientError as error:
            if _code(error) in (*_CHANGED, *_MISSING):
                raise FileReplaced from error
            raise _unavailable() from error
        except BotoCoreError as error:
            raise _unavailable() from error
        try:
            yield from body.iter_chunks(PIECE_BYTES)
        finally:
            body.close()

    def discard(self, finess: str, import_id: str) -> None:
        self._call(
            lambda: self._s3.delete_object(Bucket=self._bucket, Key=_key(UPLOADS, finess, import_id, ".csv"))
        )

    def save_status(self, status: ImportStatus, tag: str = "") -> None:
        key = _key(STATUS, status.finess, status.id, ".json")
        body = _status_json(status, tag)
        self._call(
            lambda: self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType="application/json"
            )
        )

    def status(self, finess: str, import_id: str) -> tuple[ImportStatus, str] | None:
        raw = self._read(_key(STATUS, finess, import_id, ".json"))
        return _status_of(raw) if raw is not None else None

    def save_report(self, finess: str, import_id: str, report: IO[bytes]) -> None:
        key = _key(REPORTS, finess, import_id, ".csv")
        self._call(
            lambda: self._s3.upload_fileobj(
                report, self._bucket, key, ExtraArgs={"ContentType": "text/csv; charset=utf-8"}
            )
        )

    def report(self, finess: str, import_id: str) -> bytes | None:
        return self._read(_key(REPORTS, finess, import_id, ".csv"))

    def _read(self, key: str) -> bytes | None:
        def read() -> bytes:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            return body

        return _unless_missing(read)

    @staticmethod
    def _call(call: Any) -> None:
        try:
            call()
        except (ClientError, BotoCoreError) as error:
            raise _unavailable() from error
