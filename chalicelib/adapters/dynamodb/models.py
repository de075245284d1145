"""PynamoDB models: the one source of truth for every table's schema.

The local stack creates its tables from these classes and the infra template is checked
against them. Table names come from Settings through `bootstrap.bind_tables` (`bind_models`),
never at import time.

No attribute holds a personal value in clear: the patient's identity is the encrypted
`personal` blob and the NIR is only present as a keyed, per-pharmacy blind index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.constants import STREAM_NEW_IMAGE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.aws import AwsCalls, pynamodb_meta
from chalicelib.config import Settings

# Number of partitions of the export queue index, so that a large backlog spreads its writes.
EXPORT_QUEUE_SHARDS = 8


def export_queue_key(record_id: str) -> str:
    """The export-queue partition of a record: stable, spread evenly over the shards."""
    shard = int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:4], "big") % EXPORT_QUEUE_SHARDS
    return f"q#{shard}"


def export_queue_keys() -> list[str]:
    return [f"q#{shard}" for shard in range(EXPORT_QUEUE_SHARDS)]


class _OnDemand:
    billing_mode = "PAY_PER_REQUEST"
    region = "eu-west-3"


class RecordsByDay(GlobalSecondaryIndex["RecordModel"]):
    """List a pharmacy's records of one day (partition: "FINESS#YYYY-MM-DD")."""

    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    finess_day = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class RecordsByPatient(GlobalSecondaryIndex["RecordModel"]):
    """Find a patient's records at one pharmacy through the blind index, without decrypting."""

    class Meta:
        index_name = "by_patient"
        projection = KeysOnlyProjection()

    nir_index = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class RecordsExportQueue(GlobalSecondaryIndex["RecordModel"]):
    """Sparse index of records with a message to send (partition: "q#<shard>")."""

    class Meta:
        index_name = "export_queue"
        projection = AllProjection()

    export_queue = UnicodeAttribute(hash_key=True)
    next_attempt_at = UnicodeAttribute(range_key=True)


class RecordsByEraseDay(GlobalSecondaryIndex["RecordModel"]):
    """Sparse index of records still holding personal data, by the UTC day it must be erased
    ("YYYY-MM-DD"): the daily purge reads a few partitions instead of scanning the table."""

    class Meta:
        index_name = "by_erase_day"
        projection = KeysOnlyProjection()

    erase_day = UnicodeAttribute(hash_key=True)
    record_id = UnicodeAttribute(range_key=True)


class RecordModel(Model):
    class Meta(_OnDemand):
        table_name = Settings.records_table  # until bind_models names the configured one
        # The export's trigger reads the item after each change (chalicelib/api/schedules.py).
        stream_view_type = STREAM_NEW_IMAGE

    finess = UnicodeAttribute(hash_key=True)
    record_id = UnicodeAttribute(range_key=True)
    finess_day = UnicodeAttribute()  # "FINESS#YYYY-MM-DD": the day in the pharmacy's time zone
    time_zone = UnicodeAttribute(null=True)  # the pharmacy's, when the record was created
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    version = NumberAttribute(default=1)
    status = UnicodeAttribute()
    kind = UnicodeAttribute()
    device_id = UnicodeAttribute()
    sampled_at = UnicodeAttribute()
    result = UnicodeAttribute(null=True)
    captured_at = UnicodeAttribute(null=True)  # on the device, with its offset (offline capture)
    # aws-encryption-sdk message: the patient's identity and contacts, bound to finess and record id
    personal = BinaryAttribute(null=True, legacy_encoding=False)
    nir_index = UnicodeAttribute(null=True)
    # delivery to SI-DEP
    delivery_state = UnicodeAttribute(default="pending")
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    acknowledged_at = UnicodeAttribute(null=True)
    acknowledged_version = NumberAttribute(default=0)
    pending_message = UnicodeAttribute(null=True)
    export_queue = UnicodeAttribute(null=True)
    next_attempt_at = UnicodeAttribute(null=True)
    # set by the first lease, never removed: a message for this record may have reached SI-DEP
    first_sent_at = UnicodeAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_expires_at = UnicodeAttribute(null=True)
    # set (and the record taken out of the export queue) when the export cannot read the item
    export_quarantined_at = UnicodeAttribute(null=True)
    delivery_history = JSONAttribute(null=True)
    # retention: set while the blob exists (see chalicelib/domain/retention.py), removed on erasure
    erase_day = UnicodeAttribute(null=True)
    erased_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    by_day = RecordsByDay()
    by_patient = RecordsByPatient()
    export_queue_index = RecordsExportQueue()
    by_erase_day = RecordsByEraseDay()


class PharmacyModel(Model):
    class Meta(_OnDemand):
        table_name = Settings.pharmacies_table  # until bind_models names the configured one

    finess = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    # IANA zone of the pharmacy's days (chalicelib/domain/pharmacy_day.py); absent: from its FINESS
    time_zone = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    # Its members, admins included, must log in with Pro Santé Connect (services/admin.py).
    psc_required = BooleanAttribute(default=False)
    settings_changed_at = UnicodeAttribute(null=True)
    settings_changed_by = UnicodeAttribute(null=True)
    # Set once, in the same transaction as the membership, when the platform invites the pharmacy's
    # first pharmacy_admin: the platform never invites a second one (services/admin.py).
    first_admin = UnicodeAttribute(null=True)
    # The hours its staff work, JSON {"mon": ["08:30-19:30"], ...} in its time zone, read by the
    # journal's automatic review (domain/access_review.py); absent: no outside-hours detector.
    opening_hours = UnicodeAttribute(null=True)


class MembersByPharmacy(GlobalSecondaryIndex["MemberModel"]):
    class Meta:
        index_name = "by_pharmacy"
        projection = AllProjection()

    finess = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute(range_key=True)


class MemberModel(Model):
    """A user's membership: the only source of their role and pharmacy (not the token)."""

    class Meta(_OnDemand):
        table_name = Settings.members_table  # until bind_models names the configured one

    username = UnicodeAttribute(hash_key=True)
    role = UnicodeAttribute()
    finess = UnicodeAttribute(null=True)  # absent for platform admins (sparse index)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    # A Pro Santé Connect member's national identifier (username "psc-<id>"); absent for Cognito users.
    national_id = UnicodeAttribute(null=True)
    # Epoch seconds: access tokens issued before it are refused (logout, services/auth.py).
    tokens_not_before = NumberAttribute(null=True)

    by_pharmacy = MembersByPharmacy()


class IdempotencyModel(Model):
    """Idempotency-Key bookkeeping: a MAC of the body and the record id, never the body."""

    class Meta(_OnDemand):
        table_name = Settings.idempotency_table  # until bind_models names the configured one

    key = UnicodeAttribute(hash_key=True)  # "FINESS#<Idempotency-Key>"
    body_mac = UnicodeAttribute()
    record_id = UnicodeAttribute()
    state = UnicodeAttribute()  # in_progress | completed
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute()


class AuditEventsByTime(LocalSecondaryIndex["AuditEventModel"]):
    """A chain's events by time (GET /v1/audit?from=&to=) without reading the whole chain."""

    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    chain = UnicodeAttribute(hash_key=True)
    time = UnicodeAttribute(range_key=True)


class AuditEventModel(Model):
    """One link of a pharmacy's append-only, hash-chained audit journal."""

    class Meta(_OnDemand):
        table_name = Settings.audit_table  # until bind_models names the configured one
        # Every new link flows through the stream to the WORM copy (chalicelib/api/streams.py).
        stream_view_type = "NEW_IMAGE"

    chain = UnicodeAttribute(hash_key=True)  # FINESS, or "platform"
    seq = NumberAttribute(range_key=True)
    time = UnicodeAttribute()  # strictly increasing along a chain (fixed-width RFC 3339, UTC)
    event = JSONAttribute()  # the event's fields (identifiers only)
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    # The previous link's expires_at, hashed with this link (the link format keeps it). A writer
    # can rewrite it: the verifier never takes it as proof of expiry (domain/audit_chain.py).
    prev_expires_at = NumberAttribute(null=True)

    by_time = AuditEventsByTime()


class AuditCheckpointModel(Model):
    """A chain head signed by the checkpoint function (the only holder of kms:Sign on the audit key).

    Checkpoints of a chain are numbered 1, 2, 3... (`n`), each naming the digest of the one before
    (`prev`); they carry no event and do not expire."""

    class Meta(_OnDemand):
        table_name = Settings.audit_checkpoints_table  # until bind_models names the configured one

    chain = UnicodeAttribute(hash_key=True)
    n = NumberAttribute(range_key=True)
    head_seq = NumberAttribute()
    head_hash = UnicodeAttribute()
    # The head's time and expiry, signed too: a chain whose every event expired continues from here.
    head_time = UnicodeAttribute(null=True)
    head_expires_at = NumberAttribute(null=True)
    signed_at = UnicodeAttribute()
    prev = UnicodeAttribute()
    signature = UnicodeAttribute()  # base64 DER ECDSA (KMS Sign, ECDSA_SHA_256)
    key_id = UnicodeAttribute()  # informative: the verifier uses the key it is given, never this one


class PscLoginModel(Model):
    """A Pro Santé Connect login in progress (CIBA): keyed by a digest of the app's handle.

    The per-window counters of login starts (DynamoDbPscStartLimits) share the table: their key
    starts with `start-limit#` (a handle's digest is hex), and they carry `starts` and
    `expires_at` only."""

    class Meta(_OnDemand):
        table_name = Settings.psc_logins_table  # until bind_models names the configured one

    handle_digest = UnicodeAttribute(hash_key=True)
    auth_req_id = UnicodeAttribute()
    username = UnicodeAttribute()
    national_id = UnicodeAttribute()
    finess = UnicodeAttribute()
    interval = NumberAttribute()
    next_poll_at = NumberAttribute()
    login_expires_at = NumberAttribute()
    refuse_at = NumberAttribute(null=True)  # a login that leads nowhere (ports.PscLogin)
    starts = NumberAttribute(null=True)  # a start counter's count
    expires_at = TTLAttribute()  # DynamoDB removes logins nobody finished, and spent counters


class SentMarkerModel(Model):
    """ "Already sent", write-once: the lease that first lets a record's message leave creates its
    marker in the same transaction as the record's `first_sent_at`. No role may update or delete
    a marker (infra/template/access.py: the exporter may only PutItem these attributes; nobody else
    writes), so removing `first_sent_at` from the record does not unsay it (domain/delivery.py
    `already_sent`). A marker holds no personal value and does not expire: TTL would let a writer
    who can PutItem backdate it."""

    class Meta(_OnDemand):
        table_name = Settings.sent_markers_table  # until bind_models names the configured one

    finess = UnicodeAttribute(hash_key=True)
    record_id = UnicodeAttribute(range_key=True)
    first_sent_at = UnicodeAttribute()


class AlertsByRaisedAt(LocalSecondaryIndex["AlertModel"]):
    """A pharmacy's alerts by the time they were raised: its admins read them newest first."""

    class Meta:
        index_name = "by_raised_at"
        projection = AllProjection()

    finess = UnicodeAttribute(hash_key=True)
    raised_at = UnicodeAttribute(range_key=True)


class OpenAlerts(LocalSecondaryIndex["AlertModel"]):
    """Sparse: the alerts nobody acknowledged yet, by the time they were raised (`open_since` leaves
    the item with its first acknowledgement), for the admins' default list and the operator's status."""

    class Meta:
        index_name = "open"
        projection = AllProjection()

    finess = UnicodeAttribute(hash_key=True)
    open_since = UnicodeAttribute(range_key=True)


class AlertModel(Model):
    """An alert of the journal's automatic review (chalicelib/domain/alerts.py): identifiers only.
    Keyed by its deterministic id, so that a replayed stream batch raises it once; gone by TTL after
    the journal's retention (`AUDIT_RETENTION_DAYS`), like the events it is about."""

    class Meta(_OnDemand):
        table_name = Settings.alerts_table  # until bind_models names the configured one

    finess = UnicodeAttribute(hash_key=True)
    alert_id = UnicodeAttribute(range_key=True)
    detector = UnicodeAttribute()
    subject = UnicodeAttribute(null=True)  # the actor or source it is about; absent when none
    window_start = UnicodeAttribute()  # the journal's fixed-width UTC times (audit_chain.format_time)
    window_end = UnicodeAttribute()
    counted = NumberAttribute()  # what the detector counted in the window
    threshold = NumberAttribute()
    record_ids = ListAttribute(of=UnicodeAttribute, null=True)
    raised_at = UnicodeAttribute()
    open_since = UnicodeAttribute(null=True)  # raised_at until the first acknowledgement
    acknowledged_at = UnicodeAttribute(null=True)
    acknowledged_by = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()

    by_raised_at = AlertsByRaisedAt()
    open_alerts = OpenAlerts()


class ReviewStateModel(Model):
    """The journal review's state of one pharmacy (chalicelib/domain/access_review.py): bounded JSON,
    written on its version (adapters/dynamodb/review_state.py). No personal value, no record id."""

    class Meta(_OnDemand):
        table_name = Settings.review_state_table  # until bind_models names the configured one

    finess = UnicodeAttribute(hash_key=True)
    version = NumberAttribute()
    state = UnicodeAttribute()
    saved_at = UnicodeAttribute()


# Model class -> the Settings field that names its table.
TABLE_SETTINGS: dict[type[Model], str] = {
    RecordModel: "records_table",
    PharmacyModel: "pharmacies_table",
    MemberModel: "members_table",
    IdempotencyModel: "idempotency_table",
    AuditEventModel: "audit_table",
    AuditCheckpointModel: "audit_checkpoints_table",
    PscLoginModel: "psc_logins_table",
    SentMarkerModel: "sent_markers_table",
    AlertModel: "alerts_table",
    ReviewStateModel: "review_state_table",
}
ALL_MODELS: tuple[type[Model], ...] = tuple(TABLE_SETTINGS)


def bind_models(tables: Mapping[type[Model], str], calls: AwsCalls) -> None:
    """Point every model at its table (`tables`: model -> name), region and endpoint."""
    for model, table in tables.items():
        meta: Any = model.Meta
        meta.table_name = table
        meta.region = calls.region
        meta.host = calls.endpoint_url
        for name, value in pynamodb_meta(calls).items():  # the timeouts and retries of boto3's clients
            setattr(meta, name, value)
        # PynamoDB caches its connection per model: drop it so new settings take effect.
        model._connection = None
