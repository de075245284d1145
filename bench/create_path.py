"""Figures 1 and 2: server time per `POST /v1/tests`, its baselines, its breakdown, KMS calls.

Measured in one moto account, one process, one pharmacy, interleaved per repeat so that a
change of machine load hits all variants alike:
  create            POST /v1/tests through the Chalice test client (auth, validation, envelope
                    encryption with the cached data key, blind index, one TransactWriteItems: the
                    record and its audit event)
  create_idem       the same with an Idempotency-Key (its claim rides in the same transaction)
  floor             (a) the same record in plaintext, one boto3 `put_item` on the same moto
  naive             (b) one KMS data key per record, the SDK's default (signed) suite, `put_item`
Time per call is wall time around the call (the test client runs the app in this thread).
"""

from __future__ import annotations

import copy
import cProfile
import json
import pstats
import time
import uuid
from typing import Any

from bench.common import CallCounter, moto_account, moto_transactions_with_an_undo_log, set_env, summary

FINESS = "750000010"
USERS = {"pharmacist-a": ("pharmacist", FINESS)}

# Where a create's time goes: (file suffix, function) -> label. Cumulative times under cProfile.
_PARTS = {
    ("chalicelib/services/auth.py", "authenticate"): "authentication (token + membership)",
    ("chalicelib/payloads/requests.py", "parse_submission"): "validation",
    ("chalicelib/adapters/crypto.py", "encrypt"): "envelope encryption (cached data key)",
    ("chalicelib/adapters/crypto.py", "nir_index"): "NIR blind index (HMAC)",
    ("chalicelib/adapters/crypto.py", "fingerprint"): "body fingerprint (idempotency)",
    ("chalicelib/adapters/dynamodb/journal.py", "append"): "one transaction: record, claim, audit event",
}


def _world(env: dict[str, str]) -> tuple[Any, dict[str, str]]:
    from chalice.test import Client

    from app import app
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships, DynamoDbPharmacies
    from chalicelib.domain.model import Role
    from chalicelib.ports import Membership
    from testkit.tokens import access_token

    clock = SystemClock()
    DynamoDbPharmacies(clock).add(FINESS, "Pharmacie du banc", created_by="bench")
    members = DynamoDbMemberships(clock)
    for username, (role, finess) in USERS.items():
        members.add(Membership(username=username, role=Role(role), finess=finess), created_by="bench")
    token = access_token(env["USER_POOL_ID"], env["APP_CLIENT_IDS"].split(",")[0], "pharmacist-a")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return Client(app), headers


def _bodies(count: int) -> list[str]:
    from testkit.patients import screening_body

    return [json.dumps(screening_body(i % 4, sampled_at=_sampled())) for i in range(count)]


def _sampled() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=20)).isoformat(timespec="seconds")


def _plain_item(record_id: str) -> dict[str, Any]:
    """The record as the table holds it, with the patient in clear instead of the blob and index."""
    from testkit.patients import PATIENTS

    p = PATIENTS[0]
    now = _sampled()
    item = {
        "finess": {"S": FINESS},
        "record_id": {"S": record_id},
        "finess_day": {"S": f"{FINESS}#{now[:10]}"},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "created_by": {"S": "pharmacist-a"},
        "version": {"N": "1"},
        "status": {"S": "ready"},
        "kind": {"S": "antigen"},
        "device_id": {"S": "1232"},
        "sampled_at": {"S": now},
        "result": {"S": "negative"},
        "delivery_state": {"S": "ready"},
        "attempts": {"N": "0"},
        "acknowledged_version": {"N": "0"},
        "pending_message": {"S": "F"},
        "export_queue": {"S": "q#0"},
        "next_attempt_at": {"S": now},
        "delivery_history": {"S": json.dumps([{"at": now, "event": "scheduled", "detail": "F"}])},
        "expires_at": {"N": str(int(time.time()) + 90 * 86400)},
    }
    for key in ("nir", "last_name", "first_name", "birth_date", "sex", "email", "phone"):
        item[f"patient_{key}"] = {"S": str(p[key])}
    for key, value in p["address"].items():
        item[f"patient_address_{key}"] = {"S": value}
    return item


class _Naive:
    """One data key per record (no cache), the SDK's default algorithm suite (ECDSA-signed)."""

    def __init__(self, key_id: str) -> None:
        import aws_encryption_sdk
        import botocore.session
        from aws_encryption_sdk import CommitmentPolicy

        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self._provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[key_id], botocore_session=botocore.session.Session()
        )

    def encrypt(self, plaintext: bytes, record_id: str) -> bytes:
        blob, _ = self._client.encrypt(
            source=plaintext,
            key_provider=self._provider,
            encryption_context={"purpose": "naive", "finess": FINESS, "record_id": record_id},
        )
        return bytes(blob)


def measure(
    repeats: int = 5, per_repeat: int = 200, profile_creates: int = 100, pace_creates: int = 200
) -> dict[str, Any]:
    set_env()  # before the app's modules read their log level
    import boto3

    from testkit.patients import PATIENTS

    # A create is one TransactWriteItems (docs/journal.md); moto as shipped deep-copies
    # each table it names once per item, a cost that grows with the table and that DynamoDB does not have.
    with moto_account() as env, moto_transactions_with_an_undo_log():
        client, headers = _world(env)
        dynamodb = boto3.client("dynamodb", region_name="eu-west-3")
        table = env.get("RECORDS_TABLE") or _records_table()
        naive = _Naive(env["DATA_KEY_ID"])
        plaintext = json.dumps(PATIENTS[0]).encode()
        secure_item = _plain_item("x")
        for key in [k for k in secure_item if k.startswith("patient_")]:
            del secure_item[key]

        def create(body: str, key: bool) -> float:
            extra = {"Idempotency-Key": str(uuid.uuid4())} if key else {}
            started = time.perf_counter()
            response = client.http.post("/v1/tests", headers={**headers, **extra}, body=body)
            elapsed = time.perf_counter() - started
            if response.status_code != 201:
                raise RuntimeError(f"create failed: {response.status_code} {response.body[:200]!r}")
            return elapsed

        def floor() -> float:
            item = _plain_item(str(uuid.uuid4()))
            started = time.perf_counter()
            dynamodb.put_item(TableName=table, Item=item)
            return time.perf_counter() - started

        def naive_secure() -> float:
            record_id = str(uuid.uuid4())
            item = copy.copy(secure_item)
            item["record_id"] = {"S": record_id}
            started = time.perf_counter()
            item["personal"] = {"B": naive.encrypt(plaintext, record_id)}
            dynamodb.put_item(TableName=table, Item=item)
            return time.perf_counter() - started

        # KMS calls over the first creates of a fresh process (cold data-key cache included).
        bodies = _bodies(per_repeat)
        samples: dict[str, list[float]] = {"create": [], "create_idem": [], "floor": [], "naive": []}
        with CallCounter() as cold_counter:
            for body in bodies[:10]:  # warm-up: the cold caches' KMS calls are counted apart
                create(body, False)
        with CallCounter() as counter:
            creates = 0
            for _ in range(repeats):
                samples["create"].append(sum(create(b, False) for b in bodies) / len(bodies))
                creates += len(bodies)
            create_kms = counter.by_operation("kms")
            create_dynamodb = counter.by_operation("dynamodb")
        for _ in range(repeats):  # interleaved per repeat: load changes hit every variant alike
            samples["create_idem"].append(sum(create(b, True) for b in bodies) / len(bodies))
            samples["floor"].append(sum(floor() for _ in bodies) / len(bodies))
            samples["naive"].append(sum(naive_secure() for _ in bodies) / len(bodies))
        with CallCounter() as naive_counter:
            naive_secure()
        # AWS round trips of a warm create with an Idempotency-Key (the claim rides in the transaction).
        idem_sample = bodies[: min(50, len(bodies))]
        with CallCounter() as idem_counter:
            for body in idem_sample:
                create(body, True)
        with CallCounter() as floor_counter:
            floor()
        breakdown = _breakdown(create, bodies[:profile_creates])
        pace = _at_pace(create, bodies[:pace_creates], PACE_SECONDS)

    ms = {name: [s * 1000 for s in values] for name, values in samples.items()}
    figures = {name: summary(values) for name, values in ms.items()}
    ratio = {
        "create_vs_floor": summary([c / f for c, f in zip(ms["create"], ms["floor"], strict=False)]),
        "create_vs_naive": summary([c / n for c, n in zip(ms["create"], ms["naive"], strict=False)]),
        "create_idem_vs_floor": summary(
            [c / f for c, f in zip(ms["create_idem"], ms["floor"], strict=False)]
        ),
    }
    return {
        "unit": "ms per create (mean of a repeat); median and spread over repeats",
        "repeats": repeats,
        "per_repeat": per_repeat,
        "ms": figures,
        "ratios": ratio,
        "kms_calls": {
            "creates": creates,
            "per_1000_creates": round(sum(create_kms.values()) * 1000 / creates, 2),
            "by_operation": create_kms,
            "cold_process_first_10_creates": cold_counter.by_operation("kms"),
            "at_pace": pace,
            "naive_per_record": naive_counter.total("kms"),
        },
        # Every AWS call of a warm create (DynamoDB and KMS alike): the goal is the membership read
        # and one transaction; the plaintext floor is its one put_item.
        "round_trips_per_create": {
            "create": round(sum(counter.calls.values()) / creates, 2),
            "create_with_idempotency_key": round(sum(idem_counter.calls.values()) / len(idem_sample), 2),
            "plaintext_floor": sum(floor_counter.calls.values()),
            "goal": 2,
            "create_by_operation": dict(sorted(counter.calls.items())),
        },
        "dynamodb_calls_per_create": round(sum(create_dynamodb.values()) / creates, 2),
        "dynamodb_calls_by_operation": create_dynamodb,
        "breakdown": breakdown,
    }


# A pharmacy at peak: one test every few minutes.
PACE_SECONDS = 180.0


class _SimulatedTime:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def _at_pace(create: Any, bodies: list[str], pace_seconds: float) -> dict[str, Any]:
    """KMS calls per 1,000 creates when they come `pace_seconds` apart (the data-key cache's max age
    is wall time: a burst of creates reuses one key, a pharmacy's real pace may not). The SDK's
    cache clock is simulated; nothing else is."""
    import aws_encryption_sdk.caches as sdk_caches

    clock = _SimulatedTime()
    original = sdk_caches.time
    sdk_caches.time = clock
    try:
        with CallCounter() as counter:
            for body in bodies:
                create(body, False)
                clock.now += pace_seconds
    finally:
        sdk_caches.time = original
    return {
        "pace_seconds": pace_seconds,
        "creates": len(bodies),
        "per_1000_creates": round(counter.total("kms") * 1000 / max(1, len(bodies)), 1),
        "by_operation": counter.by_operation("kms"),
    }


def _records_table() -> str:
    from chalicelib.config import get_settings

    return get_settings().records_table


def _breakdown(create: Any, bodies: list[str]) -> dict[str, Any]:
    """Share of a create's time per step, under cProfile (which inflates Python-heavy steps)."""
    profiler = cProfile.Profile()
    profiler.enable()
    total = sum(create(b, False) for b in bodies)
    profiler.disable()
    stats: Any = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for (suffix, name), label in _PARTS.items():
            if function == name and filename.endswith(suffix):
                parts[label] = parts.get(label, 0.0) + cumulative
    accounted = sum(parts.values())
    shares = {label: round(100 * t / total, 1) for label, t in sorted(parts.items(), key=lambda x: -x[1])}
    shares["the rest (Chalice, middleware, JSON, response)"] = round(100 * (total - accounted) / total, 1)
    return {
        "creates_profiled": len(bodies),
        "ms_per_create_under_profiler": round(1000 * total / len(bodies), 2),
        "percent": shares,
    }
