"""The WORM copy of the audit journal in S3 (Object Lock, compliance mode): one object per link.

Object key `audit/<chain>/<seq, 12 digits>.json`, body the link's DynamoDB image as canonical JSON.
Both parts are checked (`is_chain`, `is_seq`): a chain name never holds a "/", so a key names one
(chain, seq) and a chain's copy is listed by its exact prefix with the "/" delimiter, never with a
look-alike chain's objects. An object is written only if its key is free (`If-None-Match: *`): a
replayed stream record finds its own copy and is a no-op; a record whose image differs from the
copy (the table item was rewritten after it was copied) never replaces it, and is counted
(metric AuditWormDiffers, alarmed). The bucket keeps every version for the retention period
whatever a writer does, so the verifier reads each key's OLDEST version.

A record the consumer cannot copy as a link (a seq of 1.5, a chain name that is no chain, an image
that names another key) is set aside under `audit/quarantine/<watcher>/<sha256>.json` (metric
AuditQuarantined, alarmed) and the batch goes on: one crafted item never stalls the copy of the
others. `quarantine/` is no chain name, so it cannot collide with a chain's keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.domain.audit_chain import is_chain, is_seq
from chalicelib.domain.audit_worm_check import image_names
from chalicelib.observability import AUDIT_QUARANTINED, AUDIT_WORM_DIFFERS, count, logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "audit/"
QUARANTINE_PREFIX = f"{PREFIX}quarantine/"
WRITTEN, REPLAYED, DIFFERS, QUARANTINED = "written", "replayed", "differs", "quarantined"
_SEQ_WIDTH = 12
_ALREADY_THERE = ("PreconditionFailed", "ConditionalRequestConflict")


def object_key(chain: str, seq: int) -> str:
    """The one key of (chain, seq); ValueError for a name that is not a chain or a seq."""
    if not is_chain(chain) or not is_seq(seq):
        raise ValueError("a WORM key needs a valid chain name and seq")
    return f"{PREFIX}{chain}/{seq:0{_SEQ_WIDTH}d}.json"


def key_names(key: str) -> tuple[str, int] | None:
    """The (chain, seq) a key names, or None if it is not exactly one `object_key` writes."""
    if not key.startswith(PREFIX) or not key.endswith(".json"):
        return None
    parts = key[len(PREFIX) : -len(".json")].split("/")
    if len(parts) != 2 or len(parts[1]) != _SEQ_WIDTH or not parts[1].isdigit():
        return None
    chain, seq = parts[0], int(parts[1])
    return (chain, seq) if is_chain(chain) and is_seq(seq) else None


def canonical_image(image: dict[str, Any]) -> bytes:
    return json.dumps(image, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class S3WormCopy:
    def __init__(self, s3_client: S3Client, bucket: str) -> None:
        if not bucket:
            raise ValueError("AUDIT_WORM_BUCKET is not set")
        self._s3 = s3_client
        self._bucket = bucket

    def _put_once(self, key: str, body: bytes) -> bool:
        """Write `body` at `key` if the key is free; False if it is taken."""
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json"
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _ALREADY_THERE:
                raise
        return False

    def put(self, chain: str, seq: int, image: dict[str, Any]) -> str:
        """Copy one link's image once; WRITTEN, REPLAYED (the same copy exists) or DIFFERS."""
        key = object_key(chain, seq)
        body = canonical_image(image)
        if self._put_once(key, body):
            return WRITTEN
        existing = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        if existing == body:
            return REPLAYED
        logger.error("audit item differs from its WORM copy", extra={"chain": chain, "seq": seq})
        count(AUDIT_WORM_DIFFERS)
        return DIFFERS

    def quarantine(self, watcher: str, item: Any, reason: str) -> str:
        """Set a malformed item aside, once (a replay finds it there); its key names no value."""
        body = canonical_image({"watcher": watcher, "reason": reason, "item": item})
        key = f"{QUARANTINE_PREFIX}{watcher}/{hashlib.sha256(body).hexdigest()}.json"
        self._put_once(key, body)
        logger.error("audit item set aside", extra={"watcher": watcher, "reason": reason, "key": key})
        count(AUDIT_QUARANTINED)
        return QUARANTINED

    def quarantined(self) -> int:
        """How many items the journal's watchers have set aside (the operator's status shows it)."""
        total = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=QUARANTINE_PREFIX):
            total += len(page.get("Contents", []))
        return total

    def chain_images(self, chain: str) -> Iterator[tuple[tuple[str, int], dict[str, Any]]]:
        """((chain, seq) of its key, image) of every link of `chain` in the copy, each from its key's
        oldest version, listed by the chain's exact prefix (the "/" delimiter stops at its end)."""
        if not is_chain(chain):
            raise ValueError("not an audit chain name")
        oldest: dict[str, tuple[Any, str]] = {}
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{PREFIX}{chain}/", Delimiter="/"):
            for version in page.get("Versions", []):
                key = version["Key"]
                seen = oldest.get(key)
                # Versions are listed newest first, and LastModified has whole seconds: on a tie
                # the one listed later is the older.
                if seen is None or version["LastModified"] <= seen[0]:
                    oldest[key] = (version["LastModified"], version["VersionId"])
        for key in sorted(oldest):
            names = key_names(key)
            if names is None or names[0] != chain:
                continue
            body = self._s3.get_object(Bucket=self._bucket, Key=key, VersionId=oldest[key][1])["Body"].read()
            try:
                image = json.loads(body)
            except ValueError:
                image = {"unparseable": body.decode(errors="replace")}
            yield names, image if isinstance(image, dict) else {"unparseable": str(image)}

    def chains(self) -> set[str]:
        found: set[str] = set()
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=PREFIX, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                found.add(prefix["Prefix"][len(PREFIX) :].rstrip("/"))
        return {chain for chain in found if is_chain(chain)}


def record_names(record: dict[str, Any]) -> tuple[str, int] | str:
    """(chain, seq) of a stream record whose keys and image name the same valid link; else why not."""
    body = record.get("dynamodb")
    keys = body.get("Keys") if isinstance(body, dict) else None
    image = body.get("NewImage") if isinstance(body, dict) else None
    if not isinstance(keys, dict) or not isinstance(image, dict):
        return "no keys or no image"
    names = image_names(keys)
    if names is None:
        return "its keys name no chain and seq"
    if image_names(image) != names:
        return "its image names another link than its keys"
    return names


def copy_records(records: list[dict[str, Any]], worm: S3WormCopy) -> dict[str, int]:
    """The stream handler's body: copy each new link, in stream order (so per chain in seq order).

    A malformed record is set aside (quarantined) and the others go on. Raises on any S3 failure:
    Lambda then delivers the whole batch again, and the links already copied are REPLAYED, so a
    crash mid-batch loses nothing and doubles nothing."""
    counts = {WRITTEN: 0, REPLAYED: 0, DIFFERS: 0, QUARANTINED: 0, "ignored": 0}
    for record in records:
        body = record.get("dynamodb") if isinstance(record, dict) else None
        if (
            not isinstance(record, dict)
            or record.get("eventName") not in ("INSERT", "MODIFY")
            or not isinstance(body, dict)
            or not body.get("NewImage")
        ):
            # REMOVE: TTL expiry (or a deletion the verifier names); the copy keeps the link.
            counts["ignored"] += 1
            continue
        names = record_names(record)
        if isinstance(names, str):
            counts[worm.quarantine("worm", record, names)] += 1
            continue
        counts[worm.put(*names, body["NewImage"])] += 1
    logger.info("audit links copied to the WORM bucket", extra=counts)
    return counts
