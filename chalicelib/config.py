"""Settings, read from the environment when asked (never at import time).

Every deployment knob lives here once, as a `Settings` field declared with `setting(default, ENV)`:
its default, the environment variable `load_settings` reads it from, and whether a deployed stage
(any stage but "local") cannot run without it. The loader, the infra template, the local stack and
the tests all read the names from these declarations, so they agree.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.domain.delivery import BackoffPolicy
from chalicelib.domain.psc import PscLoginPolicy
from chalicelib.domain.retention import RetentionPolicy

if TYPE_CHECKING:  # the review's module loads only where the review runs
    from chalicelib.domain.access_review import ReviewPolicy

# HDS-certified EEA AWS regions. Health data may only be hosted in these.
HDS_REGIONS: tuple[str, ...] = ("eu-west-3", "eu-west-1", "eu-central-1", "eu-north-1", "eu-south-1")
DEFAULT_REGION = "eu-west-3"
LOCAL_STAGE = "local"
# Who cannot run without a setting outside the local stage (`Setting.required`):
DEPLOYED = "deployed"  # every deployed function (the template gives them all): checked by load_settings
SIDEP = "sidep"  # the functions that send to SI-DEP: checked when the exporter is built
# The retention defaults are the policy's own (chalicelib/domain/retention.py): written once, there.
_POLICY = RetentionPolicy
_PSC = PscLoginPolicy


class ConfigurationError(RuntimeError):
    """A setting is missing or outside what the service accepts (the message names its environment
    variable, never its value)."""


@dataclass(frozen=True)
class Setting:
    """How a Settings field is read: its environment variables (the first one set wins) and who needs it."""

    env: tuple[str, ...]
    required: str | None = None  # DEPLOYED, SIDEP, or None (the default serves everywhere)

    @property
    def name(self) -> str:
        return self.env[0]


def setting(default: Any, *env: str, required: str | None = None) -> Any:
    """A Settings field: its default and the environment variable(s) it is read from, declared once."""
    return field(default=default, metadata={"setting": Setting(env, required)})


@dataclass(frozen=True)
class Settings:
    region: str = setting(DEFAULT_REGION, "AWS_REGION", "AWS_DEFAULT_REGION")
    stage: str = setting("local", "STAGE")
    aws_endpoint_url: str | None = setting(None, "AWS_ENDPOINT_URL")
    # Every AWS call (boto3 clients, PynamoDB, the encryption SDK's KMS client; chalicelib/adapters/aws.py):
    # botocore standard retry mode, this many attempts in all, each bounded by these timeouts. A
    # stalled endpoint then costs at most 3 x (2 + 4) s + backoff (<= 1 + 2 s) = 21 s: the API
    # answers 503 before API Gateway's 29 s cut-off answers for it.
    aws_connect_timeout_seconds: int = setting(2, "AWS_CONNECT_TIMEOUT_SECONDS")
    aws_read_timeout_seconds: int = setting(4, "AWS_READ_TIMEOUT_SECONDS")
    aws_max_attempts: int = setting(3, "AWS_MAX_ATTEMPTS")
    # DynamoDB tables
    records_table: str = setting("depistage-records", "RECORDS_TABLE", required=DEPLOYED)
    pharmacies_table: str = setting("depistage-pharmacies", "PHARMACIES_TABLE", required=DEPLOYED)
    members_table: str = setting("depistage-members", "MEMBERS_TABLE", required=DEPLOYED)
    idempotency_table: str = setting("depistage-idempotency", "IDEMPOTENCY_TABLE", required=DEPLOYED)
    audit_table: str = setting("depistage-audit", "AUDIT_TABLE", required=DEPLOYED)
    audit_checkpoints_table: str = setting(
        "depistage-audit-checkpoints", "AUDIT_CHECKPOINTS_TABLE", required=DEPLOYED
    )
    psc_logins_table: str = setting("depistage-psc-logins", "PSC_LOGINS_TABLE", required=DEPLOYED)
    # "already sent", write-once: the exporter may only create its items (adapters/dynamodb/models.py)
    sent_markers_table: str = setting("depistage-sent-markers", "SENT_MARKERS_TABLE", required=DEPLOYED)
    # the journal's automatic review's alerts, per pharmacy (adapters/dynamodb/alerts.py)
    alerts_table: str = setting("depistage-alerts", "ALERTS_TABLE", required=DEPLOYED)
    # The journal's automatic review: one state item per pharmacy (adapters/dynamodb/review_state.py)
    review_state_table: str = setting("depistage-review-state", "REVIEW_STATE_TABLE", required=DEPLOYED)
    # KMS: envelope key for personal data, HMAC key for the blind index, and the asymmetric
    # (ECC_NIST_P256) key that signs audit checkpoints: only the checkpoint function may use it.
    data_key_id: str = setting("", "DATA_KEY_ID", required=DEPLOYED)
    blind_index_key_id: str = setting("", "BLIND_INDEX_KEY_ID", required=DEPLOYED)
    audit_key_id: str = setting("", "AUDIT_KEY_ID", required=DEPLOYED)
    # The S3 bucket (Object Lock, compliance mode) that keeps the WORM copy of the audit journal.
    audit_worm_bucket: str = setting("", "AUDIT_WORM_BUCKET", required=DEPLOYED)
    # Data-key cache: a data key encrypts at most this many records of one pharmacy and lives at
    # most this long in one process's memory, so one leaked data key exposes a bounded slice of one
    # pharmacy's records. 12 h (a working day; Lambda processes rarely live longer) keeps KMS to about
    # one GenerateDataKey per pharmacy per process per day at a pharmacy's pace.
    data_key_cache_max_age_seconds: int = setting(12 * 3600, "DATA_KEY_CACHE_MAX_AGE_SECONDS")
    data_key_cache_max_messages: int = setting(10_000, "DATA_KEY_CACHE_MAX_MESSAGES")
    data_key_cache_capacity: int = setting(1_000, "DATA_KEY_CACHE_CAPACITY")
    # Cognito
    user_pool_id: str = setting("", "USER_POOL_ID", required=DEPLOYED)
    app_client_ids: tuple[str, ...] = setting((), "APP_CLIENT_IDS", required=DEPLOYED)
    jwks_url: str = setting("", "JWKS_URL")
    token_leeway_seconds: int = setting(30, "TOKEN_LEEWAY_SECONDS")
    # The oldest access token the API accepts, counted from its `iat`, whatever its issuer wrote in
    # `exp` (moto's Cognito issues 3600-s tokens; ours and the deployed pool's live 15 minutes).
    access_token_max_age_seconds: int = setting(15 * 60, "ACCESS_TOKEN_MAX_AGE_SECONDS")
    # Pro Santé Connect (CIBA through this server): the environment's discovery document (the
    # sandbox "BAS" or production), our client id, and the client secret's Secrets Manager id.
    psc_discovery_url: str = setting("", "PSC_DISCOVERY_URL")
    psc_client_id: str = setting("", "PSC_CLIENT_ID")
    psc_client_secret_id: str = setting("", "PSC_CLIENT_SECRET_ID")
    psc_scope: str = setting("openid scope_all", "PSC_SCOPE")
    # The national directory of health professionals (ANS Annuaire Santé FHIR API, base URL ending in
    # /fhir/v2; adapters/psc_directory.py), read when a pharmacy invites a PSC professional, and the
    # Secrets Manager secret holding our API key for it; either unset: such invitations are refused
    # (503), never unchecked.
    psc_directory_url: str = setting("", "PSC_DIRECTORY_URL")
    psc_directory_api_key_secret_id: str = setting("", "PSC_DIRECTORY_API_KEY_SECRET_ID")
    # Our own access tokens for PSC logins: the KMS signing key, the issuer they name, their life
    # (as short as Cognito's: a directory change, a revocation, takes effect by the next login).
    session_key_id: str = setting("", "SESSION_KEY_ID")
    session_issuer: str = setting("", "SESSION_ISSUER")
    session_token_seconds: int = setting(900, "SESSION_TOKEN_SECONDS")
    # PSC login starts, counted per fixed window across processes: per identifier (the pushes one
    # professional can receive) and per source address (an IPv6 source by its /64).
    psc_start_window_seconds: int = setting(_PSC.window_seconds, "PSC_START_WINDOW_SECONDS")
    psc_starts_per_identifier: int = setting(_PSC.starts_per_identifier, "PSC_STARTS_PER_IDENTIFIER")
    psc_starts_per_source: int = setting(_PSC.starts_per_source, "PSC_STARTS_PER_SOURCE")
    # How long one process keeps a pharmacy's "PSC required" setting (read for each request of a
    # Cognito member) before reading it again: a change made elsewhere takes effect within it.
    pharmacy_settings_max_age_seconds: int = setting(60, "PHARMACY_SETTINGS_MAX_AGE_SECONDS")
    # Retention (docs/retention.md; days; the defaults are the policy's)
    retention_after_ack_days: int = setting(_POLICY.after_ack_days, "RETENTION_AFTER_ACK_DAYS")
    retention_hard_cap_days: int = setting(_POLICY.hard_cap_days, "RETENTION_HARD_CAP_DAYS")
    # DynamoDB TTL deletes a whole record this long after the hard cap if the purge never erased it
    # (a backstop that must not race the purge on the cap day).
    retention_ttl_grace_days: int = setting(_POLICY.ttl_grace_days, "RETENTION_TTL_GRACE_DAYS")
    # The skeleton left after erasure (no personal value) serves statistics this long after creation.
    skeleton_retention_days: int = setting(_POLICY.skeleton_days, "SKELETON_RETENTION_DAYS")
    # Unacknowledged records this close to the hard cap raise the RetentionUnacknowledgedNearCap alarm.
    retention_alarm_days: int = setting(_POLICY.alarm_days, "RETENTION_ALARM_DAYS")
    # The purge reads erase days this far back, so that missed daily runs are caught up.
    retention_purge_lookback_days: int = setting(_POLICY.lookback_days, "RETENTION_PURGE_LOOKBACK_DAYS")
    audit_retention_days: int = setting(365, "AUDIT_RETENTION_DAYS")
    # The offline synchronisation window (docs/campaigns.md): how old a sample (`sampled_at`) may be
    # when its record reaches the API. A campaign away from the counter (a nursing home, a school, on
    # a tablet without network) is synchronised back at the pharmacy within days: a week covers a
    # campaign trip, a weekend and a missed evening. Not longer: SI-DEP exists for timely
    # surveillance, and a result reported a week late is past the window in which contact tracing
    # can still act on it; an older record belongs to a correction with SI-DEP, not to a late
    # create. At most RETENTION_HARD_CAP_DAYS (checked at load).
    offline_window_days: int = setting(7, "OFFLINE_WINDOW_DAYS")
    # The journal's automatic review (chalicelib/domain/access_review.py, docs/review.md): its
    # thresholds, per pharmacy and per UTC hour, each an alert above it.
    # One actor's distinct records read or exported in an hour, whatever the pharmacy's history: a
    # pharmacist records a test in minutes and a day's list is rarely past 100 records, so 200 in
    # one hour is a bulk read (the 300 of an exfiltration fire it from a pharmacy's first day).
    review_bulk_reads_hard: int = setting(200, "REVIEW_BULK_READS_HARD")
    # Relative to the pharmacy's own hours: this many times the 95th percentile of its past hourly
    # per-actor counts, never under the floor (a small pharmacy's p95 of 5 would else fire at 16)...
    review_bulk_reads_factor: int = setting(3, "REVIEW_BULK_READS_FACTOR")
    review_bulk_reads_floor: int = setting(60, "REVIEW_BULK_READS_FLOOR")
    # ...once that many actor-hours are known (about a week of one pharmacist), out of the last
    # REVIEW_HISTORY_SIZE kept (about a month of a pharmacy with 4 pharmacists at 50 hours a week).
    review_bulk_reads_min_history: int = setting(40, "REVIEW_BULK_READS_MIN_HISTORY")
    review_history_size: int = setting(720, "REVIEW_HISTORY_SIZE")
    # Patient searches (POST /v1/patients/search) by one actor in an hour: a patient asks for their
    # data now and then, not every two minutes.
    review_search_burst: int = setting(30, "REVIEW_SEARCH_BURST")
    # Records one actor erases in an hour (the purge's erasures are not counted): a patient's
    # erasure is a handful of records; dozens in an hour is a wipe.
    review_erasure_burst: int = setting(20, "REVIEW_ERASURE_BURST")
    # Refusals (a probe of another pharmacy's id, an ended session, a role refused) of one actor or
    # one source address in an hour: a client retrying an expired token does so a few times.
    review_refusal_burst: int = setting(10, "REVIEW_REFUSAL_BURST")
    # Actors or sources tracked per pharmacy and hour (past it they share one subject, `*`): with
    # the hard threshold, what keeps a pharmacy's state item far under DynamoDB's 400 KB.
    review_max_subjects: int = setting(32, "REVIEW_MAX_SUBJECTS")
    idempotency_ttl_seconds: int = setting(24 * 3600, "IDEMPOTENCY_TTL_SECONDS")
    # Request hardening
    max_body_bytes: int = setting(64 * 1024, "MAX_BODY_BYTES")
    # Spreadsheet uploads (docs/imports.md): the bucket the presigned PUTs go to (SSE-KMS, files
    # and reports expire within days), the largest file and row count an upload takes, and how long
    # its upload URL stays valid.
    imports_bucket: str = setting("", "IMPORTS_BUCKET")
    import_max_bytes: int = setting(4 * 1024 * 1024, "IMPORT_MAX_BYTES")
    import_max_rows: int = setting(10_000, "IMPORT_MAX_ROWS")
    import_url_seconds: int = setting(300, "IMPORT_URL_SECONDS")
    # SI-DEP export
    sidep_url: str = setting("", "SIDEP_URL", required=SIDEP)
    # The Secrets Manager secret (id or ARN) with the client certificate, its key and the CA bundle
    # (chalicelib/adapters/sidep/credentials.py). Re-read at most this often: a rotation reaches a
    # warm Lambda within 5 minutes (one export run), without a GetSecretValue per batch.
    sidep_tls_secret_id: str = setting("", "SIDEP_TLS_SECRET_ID", required=SIDEP)
    sidep_tls_max_age_seconds: int = setting(300, "SIDEP_TLS_MAX_AGE_SECONDS")
    sidep_batch_size: int = setting(100, "SIDEP_BATCH_SIZE")
    sidep_connect_timeout_seconds: int = setting(5, "SIDEP_CONNECT_TIMEOUT_SECONDS")
    sidep_timeout_seconds: int = setting(10, "SIDEP_TIMEOUT_SECONDS")  # the read timeout
    export_time_budget_seconds: int = setting(240, "EXPORT_TIME_BUDGET_SECONDS")
    export_max_attempts: int = setting(BackoffPolicy.max_attempts, "EXPORT_MAX_ATTEMPTS")  # the backoff's
    # The sweeper's fan-out: one SQS message per export-queue shard, each consumed by an exporter
    # of its own ("" in the local stack and the tests: the shards run on threads in process).
    export_fanout_queue_url: str = setting("", "EXPORT_FANOUT_QUEUE_URL")
    # Shard exporters at once (the trigger's one run comes on top): what SI-DEP is asked to take
    # in parallel (the per-receiver concurrency; in AWS the template's SidepMaxConcurrency, the SQS
    # consumer's maximum concurrency). One per export-queue shard: a backlog drains on all 8 at
    # once (bench: 3.4 min for 386,970 records on DynamoDB by the model; twice that at 4).
    sidep_max_concurrency: int = setting(8, "SIDEP_MAX_CONCURRENCY")
    extra: dict[str, str] = field(default_factory=dict)

    def require(self, who: str) -> None:
        """ConfigurationError naming each environment variable `who` (SIDEP...) needs that is empty here."""
        _check_given(self.stage, who, {name for name, _ in declared() if _is_set(getattr(self, name))})

    @property
    def review_policy(self) -> ReviewPolicy:
        """The review's thresholds (the REVIEW_* settings above) as the detectors take them."""
        from chalicelib.domain.access_review import ReviewPolicy

        return ReviewPolicy(
            bulk_reads_hard=self.review_bulk_reads_hard,
            bulk_reads_factor=self.review_bulk_reads_factor,
            bulk_reads_floor=self.review_bulk_reads_floor,
            bulk_reads_min_history=self.review_bulk_reads_min_history,
            history_size=self.review_history_size,
            search_burst=self.review_search_burst,
            erasure_burst=self.review_erasure_burst,
            refusal_burst=self.review_refusal_burst,
            max_subjects=self.review_max_subjects,
        )

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def effective_session_issuer(self) -> str:
        return self.session_issuer or f"urn:depistage:{self.stage}:psc-session"

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"


def declared() -> Iterator[tuple[str, Setting]]:
    """Every Settings field read from the environment, with its declaration."""
    for f in fields(Settings):
        declaration = f.metadata.get("setting")
        if isinstance(declaration, Setting):
            yield f.name, declaration


def env_name(name: str) -> str:
    """The environment variable `load_settings()` reads for a Settings field."""
    declaration = fields_by_name()[name].metadata.get("setting")
    if not isinstance(declaration, Setting):
        raise KeyError(f"Settings.{name} is not read from the environment")
    return declaration.name


def field_of_env(variable: str) -> str | None:
    """The Settings field read from an environment variable, if any."""
    return next((name for name, s in declared() if variable in s.env), None)


@lru_cache(maxsize=1)
def fields_by_name() -> dict[str, Any]:
    return {f.name: f for f in fields(Settings)}


def _as_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None


def _as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _BOOLS:
        raise ConfigurationError(f"{name} must be true or false")
    return _BOOLS[value]


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _as_list(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _as_str(_name: str, raw: str) -> str:
    return raw


def _parser(annotation: Any) -> Callable[[str, str], Any]:
    """The parser of a field's type: int, bool, str, tuple[str, ...], or one of them | None."""
    if isinstance(annotation, types.UnionType):
        (annotation,) = (arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is tuple:
        return _as_list
    parsers: dict[Any, Callable[[str, str], Any]] = {int: _as_int, bool: _as_bool, str: _as_str}
    return parsers[annotation]


@lru_cache(maxsize=1)
def _parsers() -> dict[str, Callable[[str, str], Any]]:
    hints = typing.get_type_hints(Settings)
    return {name: _parser(hints[name]) for name, _declaration in declared()}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (os.environ by default). An unset or empty
    variable takes the field's default; outside the local stage the DEPLOYED settings must be set."""
    e = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, declaration in declared():
        variable, raw = next(((v, e[v]) for v in declaration.env if e.get(v)), (declaration.name, ""))
        if raw:
            values[name] = _parsers()[name](variable, raw)
    settings = Settings(**values)
    if settings.region not in HDS_REGIONS:
        raise ConfigurationError(
            f"region {settings.region} is not an HDS-certified EEA region (allowed: {', '.join(HDS_REGIONS)})"
        )
    if not 1 <= settings.offline_window_days <= settings.retention_hard_cap_days:
        raise ConfigurationError("OFFLINE_WINDOW_DAYS must be from 1 to RETENTION_HARD_CAP_DAYS")
    if settings.stage != LOCAL_STAGE:
        # a default is no deployed stage's value, nor are blanks ("   ", " , ")
        _check_given(settings.stage, DEPLOYED, {name for name, value in values.items() if _is_set(value)})
    return settings


def _is_set(value: Any) -> bool:
    """A required setting's value says something: not empty, not only blanks, not an empty list."""
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def _check_given(stage: str, who: str, given: set[str]) -> None:
    missing = [s.name for name, s in declared() if s.required == who and name not in given]
    if missing:
        raise ConfigurationError(f"stage {stage} needs {', '.join(missing)}: not set")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once on first use (tests clear the cache)."""
    return load_settings()
