"""Settings, read from the environment when asked (never at import time).

Every deployment knob lives here with its default and the reason for it, so that the
Lambda, the local stack and the tests agree on names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

# HDS-certified EEA AWS regions. Health data may only be hosted in these.
HDS_REGIONS: tuple[str, ...] = ("eu-west-3", "eu-west-1", "eu-central-1", "eu-north-1", "eu-south-1")
DEFAULT_REGION = "eu-west-3"


class ConfigurationError(RuntimeError):
    """A setting is missing or outside what the service accepts."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer") from exc


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    region: str = DEFAULT_REGION
    stage: str = "local"
    aws_endpoint_url: str | None = None
    # Every AWS call (boto3 clients, PynamoDB, the encryption SDK's KMS client; chalicelib/adapters/aws.py):
    # botocore standard retry mode, this many attempts in all, each bounded by these timeouts. A
    # stalled endpoint then costs at most 3 x (2 + 4) s + backoff (<= 1 + 2 s) = 21 s: the API
    # answers 503 before API Gateway's 29 s cut-off answers for it.
    aws_connect_timeout_seconds: int = 2
    aws_read_timeout_seconds: int = 4
    aws_max_attempts: int = 3
    # DynamoDB tables
    records_table: str = "depistage-records"
    pharmacies_table: str = "depistage-pharmacies"
    members_table: str = "depistage-members"
    idempotency_table: str = "depistage-idempotency"
    audit_table: str = "depistage-audit"
    audit_checkpoints_table: str = "depistage-audit-checkpoints"
    psc_logins_table: str = "depistage-psc-logins"
    # KMS: envelope key for personal data, HMAC key for the blind index, and the asymmetric
    # (ECC_NIST_P256) key that signs audit checkpoints: only the checkpoint function may use it.
    data_key_id: str = ""
    blind_index_key_id: str = ""
    audit_key_id: str = ""
    # The S3 bucket (Object Lock, compliance mode) that keeps the WORM copy of the audit journal.
    audit_worm_bucket: str = ""
    # Data-key cache: a data key encrypts at most this many records of one pharmacy and lives at
    # most this long in one process's memory, so one leaked data key exposes a bounded slice of one
    # pharmacy's records. 12 h (a working day; Lambda processes rarely live longer) keeps KMS to about
    # one GenerateDataKey per pharmacy per process per day at a pharmacy's pace.
    data_key_cache_max_age_seconds: int = 12 * 3600
    data_key_cache_max_messages: int = 10_000
    data_key_cache_capacity: int = 1_000
    # Cognito
    user_pool_id: str = ""
    app_client_ids: tuple[str, ...] = ()
    jwks_url: str = ""
    token_leeway_seconds: int = 30
    # Pro Santé Connect (CIBA through this server): the environment's discovery document (the
    # sandbox "BAS" or production), our client id, and the client secret's Secrets Manager id.
    psc_discovery_url: str = ""
    psc_client_id: str = ""
    psc_client_secret_id: str = ""
    psc_scope: str = "openid scope_all"
    # Our own access tokens for PSC logins: the KMS signing key, the issuer they name, their life
    # (as short as Cognito's: a directory change, a revocation, takes effect by the next login).
    session_key_id: str = ""
    session_issuer: str = ""
    session_token_seconds: int = 900
    # How long one process keeps a pharmacy's "PSC required" setting (read for each request of a
    # Cognito pharmacist) before reading it again: a change made elsewhere takes effect within it.
    pharmacy_settings_max_age_seconds: int = 60
    # Retention (README "Retention and the patients' rights"; days)
    retention_after_ack_days: int = 30
    retention_hard_cap_days: int = 90
    # DynamoDB TTL deletes a whole record this long after the hard cap if the purge never erased it
    # (a backstop that must not race the purge on the cap day).
    retention_ttl_grace_days: int = 7
    # The skeleton left after erasure (no personal value) serves statistics this long after creation.
    skeleton_retention_days: int = 365
    # Unacknowledged records this close to the hard cap raise the RetentionUnacknowledgedNearCap alarm.
    retention_alarm_days: int = 7
    # The purge reads erase days this far back, so that missed daily runs are caught up.
    retention_purge_lookback_days: int = 30
    audit_retention_days: int = 365
    idempotency_ttl_seconds: int = 24 * 3600
    # Request hardening
    max_body_bytes: int = 64 * 1024
    # SI-DEP export
    sidep_url: str = ""
    # The Secrets Manager secret (id or ARN) with the client certificate, its key and the CA bundle
    # (chalicelib/adapters/sidep/credentials.py). Re-read at most this often: a rotation reaches a
    # warm Lambda within 5 minutes (one export run), without a GetSecretValue per batch.
    sidep_tls_secret_id: str = ""
    sidep_tls_max_age_seconds: int = 300
    sidep_batch_size: int = 100
    sidep_timeout_seconds: int = 10
    export_time_budget_seconds: int = 240
    export_max_attempts: int = 8
    # The sweeper's fan-out: one SQS message per export-queue shard, each consumed by an exporter
    # of its own ("" in the local stack and the tests: the shards run on threads in process).
    export_fanout_queue_url: str = ""
    # Shard exporters at once (the trigger's one run comes on top): what SI-DEP is asked to take
    # in parallel (the per-receiver concurrency; in AWS the template's SidepMaxConcurrency, the SQS
    # consumer's maximum concurrency). One per export-queue shard: a backlog drains on all 8 at
    # once (bench: 3.4 min for 386,970 records on DynamoDB by the model; twice that at 4).
    sidep_max_concurrency: int = 8
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def effective_session_issuer(self) -> str:
        return self.session_issuer or f"urn:depistage:{self.stage}:psc-session"

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (os.environ by default)."""
    e = dict(os.environ if env is None else env)
    region = e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    if region not in HDS_REGIONS:
        raise ConfigurationError(
            f"region {region} is not an HDS-certified EEA region (allowed: {', '.join(HDS_REGIONS)})"
        )
    return Settings(
        region=region,
        stage=e.get("STAGE", "local"),
        aws_endpoint_url=e.get("AWS_ENDPOINT_URL") or None,
        aws_connect_timeout_seconds=_int(e, "AWS_CONNECT_TIMEOUT_SECONDS", 2),
        aws_read_timeout_seconds=_int(e, "AWS_READ_TIMEOUT_SECONDS", 4),
        aws_max_attempts=_int(e, "AWS_MAX_ATTEMPTS", 3),
        records_table=e.get("RECORDS_TABLE", Settings.records_table),
        pharmacies_table=e.get("PHARMACIES_TABLE", Settings.pharmacies_table),
        members_table=e.get("MEMBERS_TABLE", Settings.members_table),
        idempotency_table=e.get("IDEMPOTENCY_TABLE", Settings.idempotency_table),
        audit_table=e.get("AUDIT_TABLE", Settings.audit_table),
        audit_checkpoints_table=e.get("AUDIT_CHECKPOINTS_TABLE", Settings.audit_checkpoints_table),
        psc_logins_table=e.get("PSC_LOGINS_TABLE", Settings.psc_logins_table),
        data_key_id=e.get("DATA_KEY_ID", ""),
        blind_index_key_id=e.get("BLIND_INDEX_KEY_ID", ""),
        audit_key_id=e.get("AUDIT_KEY_ID", ""),
        audit_worm_bucket=e.get("AUDIT_WORM_BUCKET", ""),
        data_key_cache_max_age_seconds=_int(e, "DATA_KEY_CACHE_MAX_AGE_SECONDS", 12 * 3600),
        data_key_cache_max_messages=_int(e, "DATA_KEY_CACHE_MAX_MESSAGES", 10_000),
        data_key_cache_capacity=_int(e, "DATA_KEY_CACHE_CAPACITY", 1_000),
        user_pool_id=e.get("USER_POOL_ID", ""),
        app_client_ids=_list(e, "APP_CLIENT_IDS"),
        jwks_url=e.get("JWKS_URL", ""),
        token_leeway_seconds=_int(e, "TOKEN_LEEWAY_SECONDS", 30),
        psc_discovery_url=e.get("PSC_DISCOVERY_URL", ""),
        psc_client_id=e.get("PSC_CLIENT_ID", ""),
        psc_client_secret_id=e.get("PSC_CLIENT_SECRET_ID", ""),
        psc_scope=e.get("PSC_SCOPE") or Settings.psc_scope,
        session_key_id=e.get("SESSION_KEY_ID", ""),
        session_issuer=e.get("SESSION_ISSUER", ""),
        session_token_seconds=_int(e, "SESSION_TOKEN_SECONDS", 900),
        pharmacy_settings_max_age_seconds=_int(
            e, "PHARMACY_SETTINGS_MAX_AGE_SECONDS", Settings.pharmacy_settings_max_age_seconds
        ),
        retention_after_ack_days=_int(e, "RETENTION_AFTER_ACK_DAYS", 30),
        retention_hard_cap_days=_int(e, "RETENTION_HARD_CAP_DAYS", 90),
        retention_ttl_grace_days=_int(e, "RETENTION_TTL_GRACE_DAYS", 7),
        skeleton_retention_days=_int(e, "SKELETON_RETENTION_DAYS", 365),
        retention_alarm_days=_int(e, "RETENTION_ALARM_DAYS", 7),
        retention_purge_lookback_days=_int(e, "RETENTION_PURGE_LOOKBACK_DAYS", 30),
        audit_retention_days=_int(e, "AUDIT_RETENTION_DAYS", 365),
        idempotency_ttl_seconds=_int(e, "IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
        max_body_bytes=_int(e, "MAX_BODY_BYTES", 64 * 1024),
        sidep_url=e.get("SIDEP_URL", ""),
        sidep_tls_secret_id=e.get("SIDEP_TLS_SECRET_ID", ""),
        sidep_tls_max_age_seconds=_int(e, "SIDEP_TLS_MAX_AGE_SECONDS", 300),
        sidep_batch_size=_int(e, "SIDEP_BATCH_SIZE", 100),
        sidep_timeout_seconds=_int(e, "SIDEP_TIMEOUT_SECONDS", 10),
        export_time_budget_seconds=_int(e, "EXPORT_TIME_BUDGET_SECONDS", 240),
        export_max_attempts=_int(e, "EXPORT_MAX_ATTEMPTS", 8),
        export_fanout_queue_url=e.get("EXPORT_FANOUT_QUEUE_URL", Settings.export_fanout_queue_url),
        sidep_max_concurrency=_int(e, "SIDEP_MAX_CONCURRENCY", Settings.sidep_max_concurrency),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once on first use (tests clear the cache)."""
    return load_settings()
