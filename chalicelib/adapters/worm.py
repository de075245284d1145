"""The WORM copy of the audit journal in S3 (Object Lock, compliance mode): one object per link.

Object key `audit/<chain>/<seq, 12 digits>.json`, body the link's DynamoDB image as canonical JSON.
An object is written only if its key is free (`If-None-Match: *`): a replayed stream record finds
its own copy and is a no-op; a record whose image differs from the copy (the table item was
rewritten after it was copied) never replaces it, and is logged. The bucket keeps every version
for the retention period whatever a writer does, so the verifier reads each key's OLDEST version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "audit/"
WRITTEN, REPLAYED, DIFFERS = "written", "replayed", "differs"


def object_key(chain: str, seq: int) -> str:
    return f"{PREFIX}{chain}/{seq:012d}.json"


def canonical_image(image: dict[str, Any]) -> bytes:
    return json.dumps(image, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class S3WormCopy:
    def __init__(self, s3_client: S3Client, bucket: str) -> None:
        if not bucket:
            raise ValueError("AUDIT_WORM_BUCKET is not set")
        self._s3 = s3_client
        self._bucket = bucket

    def put(self, chain: str, seq: int, image: dict[str, Any]) -> str:
        """Copy one link's image once; WRITTEN, REPLAYED (the same copy exists) or DIFFERS."""
        key = object_key(chain, seq)
        body = canonical_image(image)
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json"
            )
            return WRITTEN
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise
        existing = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        if existing == body:
            return REPLAYED
        logger.error("audit item differs from its WORM copy", extra={"chain": chain, "seq": seq})
        return DIFFERS

    def chain_images(self, chain: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(seq, image) of every link of `chain` in the copy, each from its key's oldest version."""
        oldest: dict[str, tuple[Any, str]] = {}
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{PREFIX}{chain}/"):
            for version in page.get("Versions", []):
                key = version["Key"]
                seen = oldest.get(key)
                if seen is None or version["LastModified"] < seen[0]:
                    oldest[key] = (version["LastModified"], version["VersionId"])
        for key in sorted(oldest):
            stem = key.rsplit("/", 1)[-1].removesuffix(".json")
            if not stem.isdigit():
                continue
            body = self._s3.get_object(Bucket=self._bucket, Key=key, VersionId=oldest[key][1])["Body"].read()
            try:
                image = json.loads(body)
            except ValueError:
                image = {"unparseable": body.decode(errors="replace")}
            yield int(stem), image

    def chains(self) -> set[str]:
        found: set[str] = set()
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=PREFIX, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                found.add(prefix["Prefix"][len(PREFIX) :].rstrip("/"))
        return found


def copy_records(records: list[dict[str, Any]], worm: S3WormCopy) -> dict[str, int]:
    """The stream handler's body: copy each new link, in stream order (so per chain in seq order).

    Raises on any S3 failure: Lambda then delivers the whole batch again, and the links already
    copied are REPLAYED, so a crash mid-batch loses nothing and doubles nothing."""
    counts = {WRITTEN: 0, REPLAYED: 0, DIFFERS: 0, "ignored": 0}
    for record in records:
        body = record.get("dynamodb", {})
        image = body.get("NewImage")
        if record.get("eventName") not in ("INSERT", "MODIFY") or not image:
            # REMOVE: TTL expiry (or a deletion the verifier names); the copy keeps the link.
            counts["ignored"] += 1
            continue
        keys = body.get("Keys", {})
        chain = str(keys.get("chain", {}).get("S", ""))
        seq = int(keys.get("seq", {}).get("N", "0"))
        counts[worm.put(chain, seq, image)] += 1
    logger.info("audit links copied to the WORM bucket", extra=counts)
    return counts
