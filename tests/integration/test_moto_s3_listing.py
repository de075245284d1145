"""moto's S3 ListObjectVersions made to answer without copying the bucket (devtools/moto_atomic.py,
installed by tests/conftest.py and by the local stack's moto server): plain moto deep-copies every
version of every object, body included, for each page it answers; the WORM comparison of
`verify_audit --all` lists every chain's links that way. The answers stay moto's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.s3.models import FakeKey, S3Backend

from devtools import moto_atomic

BUCKET = "worm"
LINKS = 60  # versions under the listed chain
PAGE = 10


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for seq in range(LINKS // 2):  # two versions a key: a rewrite keeps the first
            for body in (b"first", b"rewritten"):
                client.put_object(Bucket=BUCKET, Key=f"audit/750000010/{seq:012d}.json", Body=body * 100)
        for seq in range(LINKS):  # another chain, never listed below
            client.put_object(Bucket=BUCKET, Key=f"audit/750000020/{seq:012d}.json", Body=b"x" * 500)
        client.put_object(Bucket=BUCKET, Key="audit/750000010/gone.json", Body=b"y")
        client.delete_object(Bucket=BUCKET, Key="audit/750000010/gone.json")  # a delete marker
        yield client


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the object versions copied (a deep copy of a FakeKey reads its whole state)."""
    copied: list[str] = []
    original = FakeKey.__getstate__

    def counted(self: FakeKey) -> dict[str, Any]:
        copied.append(self.name)
        return original(self)

    monkeypatch.setattr(FakeKey, "__getstate__", counted)
    return copied


def _plain_moto() -> Any:
    return S3Backend.list_object_versions.__wrapped__  # type: ignore[attr-defined]


def _pages(s3: Any, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = s3.get_paginator("list_object_versions")
    pages = paginator.paginate(Bucket=BUCKET, PaginationConfig={"PageSize": PAGE}, **kwargs)
    return [
        {
            "versions": [
                (v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in page.get("Versions", [])
            ],
            "markers": [(m["Key"], m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])],
            "prefixes": [p["Prefix"] for p in page.get("CommonPrefixes", [])],
        }
        for page in pages
    ]


def test_plain_moto_copies_every_version_of_the_bucket_for_each_page(
    s3: Any, copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(S3Backend, "list_object_versions", _plain_moto())
    pages = _pages(s3, Prefix="audit/750000010/", Delimiter="/")
    assert len(pages) >= LINKS // PAGE
    # every version of the bucket (both chains, the deleted key's too), once per page
    assert len(copies) >= len(pages) * (LINKS + LINKS + 1)


def test_a_listing_copies_no_version_and_answers_as_plain_moto_does(
    s3: Any, copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for kwargs in (
        {"Prefix": "audit/750000010/", "Delimiter": "/"},
        {"Prefix": "audit/", "Delimiter": "/"},
        {},
    ):
        ours = _pages(s3, **kwargs)
        assert copies == []
        with monkeypatch.context() as plain:
            plain.setattr(S3Backend, "list_object_versions", _plain_moto())
            assert _pages(s3, **kwargs) == ours, kwargs
        copies.clear()
    pages = _pages(s3, Prefix="audit/750000010/", Delimiter="/")
    links = [v for page in pages for v in page["versions"] if not v[0].endswith("gone.json")]
    assert len(links) == LINKS  # both versions of each key, the newest marked latest
    assert [size for _, _, latest, size in links if latest] == [900] * (LINKS // 2)
    assert [m[2] for page in pages for m in page["markers"]] == [True]  # the deleted key's marker


def test_a_listing_changes_nothing_stored(s3: Any) -> None:
    backend_bucket = _backend_bucket()
    before = {id(v): getattr(v, "is_latest", None) for _, vs in backend_bucket.keys.iterlists() for v in vs}
    _pages(s3, Prefix="audit/750000010/", Delimiter="/")
    after = {id(v): getattr(v, "is_latest", None) for _, vs in backend_bucket.keys.iterlists() for v in vs}
    assert after == before


def test_the_local_stack_and_the_tests_list_without_copies() -> None:
    assert S3Backend.list_object_versions.__name__ == "list_object_versions"
    assert S3Backend.list_object_versions is not _plain_moto()  # installed (tests/conftest.py)
    moto_atomic.install()  # idempotent: not wrapped twice
    assert _plain_moto().__module__ == "moto.s3.models"


def _backend_bucket() -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(BUCKET)
