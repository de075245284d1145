"""Who may do what, as data: each role's tables and keys, the record attributes the export and the
purge may write, the personal attributes nobody's policy may name. The policies (roles.py,
keys.py, operators.py) are generated from these declarations.
"""

from __future__ import annotations

from chalicelib.adapters.dynamodb.models import RecordModel
from chalicelib.adapters.dynamodb.retention import ERASED_ATTRIBUTES

# What a stream consumer needs on its table's stream (Lambda's event source mapping reads with it).
STREAM_READ = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)

# Attributes of a record that carry personal data (encrypted blob, keyed blind index).
PERSONAL_ATTRIBUTES: tuple[str, ...] = ("personal", "nir_index")
# What the export may write on a record: its delivery bookkeeping, never the clinical or personal part.
EXPORT_WRITABLE_ATTRIBUTES: tuple[str, ...] = (
    "finess",
    "record_id",
    "version",
    "status",
    "delivery_state",
    "attempts",
    "last_error",
    "acknowledged_at",
    "acknowledged_version",
    "pending_message",
    "export_queue",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    # set by the lease: a message may have reached SI-DEP. IAM cannot keep this role from REMOVing
    # it: "already sent" also lives in the write-once sent marker, which it may only create
    "first_sent_at",
    "export_quarantined_at",  # an unreadable queued item set aside (adapters/dynamodb/export_queue.py)
    "delivery_history",
    "erase_day",  # an acknowledgement brings the retention erase day forward
)
# What the purge's erasure writes (chalicelib/adapters/dynamodb/retention.py `_erasure_actions`,
# `erase_unsent`): never first_sent_at, which IAM cannot tell a SET from a REMOVE of.
PURGE_WRITABLE_ATTRIBUTES: tuple[str, ...] = (
    "finess",
    "record_id",
    "erased_at",
    "updated_at",
    "version",
    "expires_at",
    "created_at",
    "sampled_at",
    "status",
    "delivery_state",
    *ERASED_ATTRIBUTES,
)

# DynamoDB access levels (TransactWriteItems is authorised per item through these actions).
READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
SCAN = (*READ, "dynamodb:Scan")
APPEND = (*READ, "dynamodb:PutItem")
SCAN_APPEND = (*SCAN, "dynamodb:PutItem")
WRITE = (*APPEND, "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
# A record is created and updated, never deleted (a record SI-DEP may hold stays; the purge erases).
NEVER_DELETE = (*APPEND, "dynamodb:UpdateItem")
DYNAMODB_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)

# Role -> Settings table field -> access. The audit journal is append-only for its writers (no
# Update/Delete), and only the checkpoint function writes checkpoints.
ROLE_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "api": {
        "records_table": NEVER_DELETE,
        "pharmacies_table": SCAN_APPEND,  # the platform lists its pharmacies (GET /v1/admin/pharmacies)
        "members_table": WRITE,
        "idempotency_table": WRITE,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
        "psc_logins_table": WRITE,  # PSC logins in progress
        "sent_markers_table": READ,  # cancel, withdrawal and erasure check "already sent"
        # the pharmacy's admins read its alerts; acknowledging one updates only ALERT_ACKNOWLEDGEMENT
        "alerts_table": READ,
    },
    # UpdateItem on records only, and only on EXPORT_WRITABLE_ATTRIBUTES (roles.py).
    # Sent markers: create only (PutItem; no Update, Delete or BatchWrite for anyone): "already
    # sent" no role can take back (adapters/dynamodb/sent_markers.py).
    "export": {
        "records_table": READ,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
        "sent_markers_table": APPEND,
    },
    # Reads the erase-day index and erases with a conditional UpdateItem on PURGE_WRITABLE_ATTRIBUTES
    # (roles.py): no Put/Delete, and no idempotency table (its entries hold no
    # personal value and expire by TTL within a day).
    "purge": {
        "records_table": READ,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
        "sent_markers_table": READ,
    },
    # The hourly signed checkpoint of every chain head (it lists the pharmacies and the chains).
    "audit": {
        "audit_table": READ,
        "audit_checkpoints_table": (*SCAN, "dynamodb:PutItem"),
        "pharmacies_table": SCAN,
    },
    # The WORM copy reads the audit table's stream only (STREAM_READ), no table.
    "worm": {},
    # The uploads' processing (infra/template/imports.py): creates records as a batch does, with
    # their claims and journal events; reads the pharmacy's zone and the uploader's membership (its
    # role now, not the one recorded at the upload). Writes no member, no update, no delete.
    "imports": {
        "members_table": READ,
        "records_table": APPEND,
        "pharmacies_table": READ,
        "idempotency_table": APPEND,
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
    },
    # Reads a membership; its one write is the membership's "tokens not before" (roles.py);
    # journals what it ended.
    "sessions": {"members_table": READ, "audit_table": APPEND, "audit_checkpoints_table": READ},
    # The journal's automatic review: reads the audit stream (STREAM_READ), each pharmacy's declared
    # hours (one GetItem), its own state (GetItem, a conditional PutItem: no Update, Delete or
    # Scan), and appends each alert's event to the pharmacy's chain; it creates alerts (ALERT_RAISING_
    # FUNCTIONS below: a PutItem of ALERT_RAISE_ATTRIBUTES on the alerts table, roles.alert_statements).
    "review": {
        "review_state_table": ("dynamodb:GetItem", "dynamodb:PutItem"),
        "pharmacies_table": ("dynamodb:GetItem",),
        "audit_table": APPEND,
        "audit_checkpoints_table": READ,
    },
}
# What acknowledging an alert writes (adapters/dynamodb/alerts.py `_acknowledgement`, with the
# item's keys): the API's only UpdateItem on the alerts table, never what the review found.
ALERT_ACKNOWLEDGEMENT: tuple[str, ...] = (
    "finess",
    "alert_id",
    "acknowledged_at",
    "acknowledged_by",
    "open_since",
)
# The functions that raise the review's alerts (the stream handler on the audit table's stream): each
# puts an alert with its event in one transaction (a conditional put) and writes nothing else there.
ALERT_RAISING_FUNCTIONS = frozenset({"review_access"})
ALERT_RAISE: tuple[str, ...] = ("dynamodb:PutItem",)
# What a raise's put names (adapters/dynamodb/alerts.py `_item`): never an acknowledgement, so the
# review's own rights cannot write one (who, when) that no `acknowledge_alert` event backs. IAM
# cannot enforce the put's condition: an unconditional put over an alert's id stays possible with
# these rights, and the journal's `alert_raised` and `acknowledge_alert` events are what an alert
# is checked against.
ALERT_RAISE_ATTRIBUTES: tuple[str, ...] = (
    "finess",
    "alert_id",
    "detector",
    "subject",
    "window_start",
    "window_end",
    "counted",
    "threshold",
    "record_ids",
    "raised_at",
    "open_since",
    "expires_at",
)
# Writers of the journal: none may sign, update or delete audit items, or touch the WORM lock.
WRITER_ROLES = frozenset({"api", "export", "purge", "sessions", "review", "imports"})

# Role -> KMS key logical id -> the only actions it may perform with that key.
KEY_USE: dict[str, dict[str, tuple[str, ...]]] = {
    "api": {
        "DataKey": ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
        "BlindIndexKey": ("kms:GenerateMac", "kms:VerifyMac"),
        # Signs the access tokens of PSC logins and publishes their public key (never the private one).
        "SessionKey": ("kms:Sign", "kms:GetPublicKey"),
    },
    # The export reads the blob to build the SI-DEP message: decrypt only, it never encrypts.
    "export": {"DataKey": ("kms:Decrypt",)},
    "purge": {},
    # The uploads' processing encrypts the new records' patients and indexes their NIR: it reads none.
    "imports": {"DataKey": ("kms:Encrypt", "kms:GenerateDataKey"), "BlindIndexKey": ("kms:GenerateMac",)},
    # The checkpoint function alone signs with the audit key (and publishes its public key).
    "audit": {"AuditKey": ("kms:Sign", "kms:GetPublicKey")},
    "worm": {},
    "sessions": {},
    "review": {},
}
# What DynamoDB (tables) and SQS (dead letters) need of the storage key on the functions' behalf.
STORAGE_KEY_VIA_DYNAMODB = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
)


def export_record_attribute_check() -> None:
    """The export's writable attributes must exist on the record model and exclude personal ones."""
    attributes = set(RecordModel.get_attributes())
    unknown = set(EXPORT_WRITABLE_ATTRIBUTES) - attributes
    if unknown:
        raise ValueError(f"EXPORT_WRITABLE_ATTRIBUTES names unknown record attributes: {sorted(unknown)}")
    unknown = set(PURGE_WRITABLE_ATTRIBUTES) - attributes
    if unknown:
        raise ValueError(f"PURGE_WRITABLE_ATTRIBUTES names unknown record attributes: {sorted(unknown)}")
    if set(EXPORT_WRITABLE_ATTRIBUTES) & set(PERSONAL_ATTRIBUTES):
        raise ValueError("the export may never write a personal attribute")
