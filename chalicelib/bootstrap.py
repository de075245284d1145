"""The one place that builds the real collaborators from settings (tests build their own or reset this)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session

from chalicelib.adapters.aws import AwsCalls, AwsClients, configured_botocore_session
from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.cognito import (
    CognitoAccessTokenVerifier,
    CognitoUserDirectory,
    JwksKeys,
    TrustedIssuer,
)
from chalicelib.adapters.crypto import DataKeyCache, EnvelopeCipher, KmsBlindIndex
from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer
from chalicelib.adapters.dynamodb.directory import (
    DynamoDbMemberships,
    DynamoDbPharmacies,
    DynamoDbPharmacyZones,
    DynamoDbPscLogins,
)
from chalicelib.adapters.dynamodb.idempotency import DynamoDbIdempotencyStore
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS, bind_models
from chalicelib.adapters.dynamodb.psc_limits import DynamoDbPscStartLimits
from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
from chalicelib.adapters.insi import FakeInsi, NoInsi
from chalicelib.adapters.psc import PscClient, PscSettings, SecretsManagerSecret
from chalicelib.adapters.psc_directory import HttpProfessionalDirectory
from chalicelib.adapters.session_tokens import KmsPublicKeys, KmsSessionTokenIssuer
from chalicelib.config import LOCAL_STAGE, SIDEP, Settings, env_name, get_settings
from chalicelib.domain.model import Principal
from chalicelib.domain.psc import PSC_SESSION_CLIENT_ID, PscLoginPolicy
from chalicelib.ports import (
    AuditJournal,
    Clock,
    MembershipRepository,
    PharmacyRepository,
    RequestMeta,
    TokenVerifier,
)
from chalicelib.services import auth
from chalicelib.services.admin import AdminDeps
from chalicelib.services.patients import PatientsDeps
from chalicelib.services.psc_login import PscLoginDeps
from chalicelib.services.records import RecordsDeps
from chalicelib.services.refusals import UnauthenticatedRefusals
from chalicelib.services.retention import PurgeDeps, retention_policy
from chalicelib.services.stats import StatsDeps


@dataclass(frozen=True)
class Container:
    settings: Settings
    clock: Clock
    journal: AuditJournal
    verifier: TokenVerifier
    memberships: MembershipRepository
    pharmacies: PharmacyRepository
    records: RecordsDeps
    admin: AdminDeps
    patients: PatientsDeps
    stats: StatsDeps
    purge: PurgeDeps
    psc: PscLoginDeps
    session_keys: KmsPublicKeys
    session: auth.SessionDeps
    refusals: UnauthenticatedRefusals
    aws: AwsClients  # one client per service, for adapters built later (export, purge)

    def authenticate(self, meta: RequestMeta, authorization: str | None, route: str) -> Principal:
        deps = auth.AuthDeps(self.verifier, self.memberships, self.journal, self.refusals, self.pharmacies)
        return auth.authenticate(deps, meta, authorization, route)


# --- what each adapter takes of the settings (the adapters never see Settings) ------------------


def aws_calls(settings: Settings) -> AwsCalls:
    return AwsCalls(
        region=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        connect_timeout_seconds=settings.aws_connect_timeout_seconds,
        read_timeout_seconds=settings.aws_read_timeout_seconds,
        max_attempts=settings.aws_max_attempts,
    )


def bind_tables(settings: Settings) -> None:
    """Point the PynamoDB models at the configured tables, region, endpoint and timeouts."""
    bind_models(
        {model: getattr(settings, name) for model, name in TABLE_SETTINGS.items()}, aws_calls(settings)
    )


def envelope_cipher(
    settings: Settings, botocore_session: botocore.session.Session | None = None
) -> EnvelopeCipher:
    cache = DataKeyCache(
        max_age_seconds=settings.data_key_cache_max_age_seconds,
        max_messages=settings.data_key_cache_max_messages,
        capacity=settings.data_key_cache_capacity,
    )
    return EnvelopeCipher(
        settings.data_key_id,
        cache,
        botocore_session=botocore_session or configured_botocore_session(aws_calls(settings)),
    )


def audit_journal(settings: Settings, clock: Clock, **options: Any) -> DynamoDbAuditJournal:
    return DynamoDbAuditJournal(
        retention_days=settings.audit_retention_days, calls=aws_calls(settings), clock=clock, **options
    )


def build(settings: Settings, session: boto3.Session | None = None, clock: Clock | None = None) -> Container:
    # Bounded retries with backoff and timeouts (chalicelib/adapters/aws.py): a throttle is retried
    # a few times, a stalled endpoint gives up in time, then it is a 503.
    aws = AwsClients(session or boto3.Session(region_name=settings.region), aws_calls(settings))
    bind_tables(settings)
    clock = clock or SystemClock()
    journal = audit_journal(settings, clock)
    memberships = DynamoDbMemberships(clock)
    index = KmsBlindIndex(aws.kms(), settings.blind_index_key_id)
    pharmacies = DynamoDbPharmacies(
        clock, settings_max_age_seconds=settings.pharmacy_settings_max_age_seconds
    )
    # Our second issuer (PSC logins): its keys are a KMS key's, read from KMS, never fetched over HTTP.
    session_keys = KmsPublicKeys(aws.kms(), settings.session_key_id)
    verifier = CognitoAccessTokenVerifier(
        JwksKeys(settings.effective_jwks_url),
        settings.issuer,
        settings.app_client_ids,
        settings.token_leeway_seconds,
        also_trusted=(
            TrustedIssuer(
                settings.effective_session_issuer, session_keys, frozenset({PSC_SESSION_CLIENT_ID})
            ),
        ),
    )
    policy = retention_policy(settings)
    retention_store = DynamoDbRetentionStore()
    records = RecordsDeps(
        repository=DynamoDbRecordRepository(policy),
        cipher=envelope_cipher(settings),
        index=index,
        idempotency=DynamoDbIdempotencyStore(clock, settings.idempotency_ttl_seconds),
        journal=journal,
        clock=clock,
        settings=settings,
        zones=DynamoDbPharmacyZones(),
        # the INSi client is not built yet: the fake answers in the local stack only
        insi=FakeInsi() if settings.stage == "local" else NoInsi(),
    )
    admin = AdminDeps(
        pharmacies=pharmacies,
        memberships=memberships,
        users=CognitoUserDirectory(aws.cognito_idp(), settings.user_pool_id),
        journal=journal,
        # the URL and the API key's secret go together: either missing, invitations by national
        # identifier are 503s (never unchecked)
        directory=HttpProfessionalDirectory(
            settings.psc_directory_url if settings.psc_directory_api_key_secret_id else "",
            SecretsManagerSecret(aws.secretsmanager(), settings.psc_directory_api_key_secret_id),
        ),
    )
    patients = PatientsDeps(
        repository=records.repository,
        cipher=records.cipher,
        index=index,
        store=retention_store,
        journal=journal,
        clock=clock,
        policy=policy,
    )
    refusals = UnauthenticatedRefusals(journal, clock)
    psc = PscLoginDeps(
        provider=PscClient(
            PscSettings(
                discovery_url=settings.psc_discovery_url,
                client_id=settings.psc_client_id,
                scope=settings.psc_scope,
                leeway_seconds=settings.token_leeway_seconds,
            ),
            SecretsManagerSecret(aws.secretsmanager(), settings.psc_client_secret_id),
        ),
        logins=DynamoDbPscLogins(),
        memberships=memberships,
        issuer=KmsSessionTokenIssuer(
            aws.kms(),
            session_keys,
            settings.session_key_id,
            settings.effective_session_issuer,
            settings.session_token_seconds,
            clock,
        ),
        journal=journal,
        clock=clock,
        limits=DynamoDbPscStartLimits(),
        refusals=refusals,
        policy=PscLoginPolicy(
            window_seconds=settings.psc_start_window_seconds,
            starts_per_identifier=settings.psc_starts_per_identifier,
            starts_per_source=settings.psc_starts_per_source,
        ),
    )
    return Container(
        settings=settings,
        clock=clock,
        journal=journal,
        verifier=verifier,
        memberships=memberships,
        pharmacies=pharmacies,
        records=records,
        admin=admin,
        patients=patients,
        stats=StatsDeps(store=retention_store, journal=journal),
        purge=PurgeDeps(store=retention_store, journal=journal, policy=policy),
        psc=psc,
        session_keys=session_keys,
        session=auth.SessionDeps(memberships=memberships, users=admin.users, journal=journal, clock=clock),
        refusals=refusals,
        aws=aws,
    )


# Parallel transactions when a batch is larger than one (100 items): keep <= the client's
# connection pool (botocore default 10).
EXPORT_WRITE_WORKERS = 8


def build_exporter(settings: Settings) -> Callable[..., Any]:
    """One export run with the real collaborators: `export(time_budget_seconds=None, *,
    shards=None, changed=None)`; `shards` restricts it to some export-queue shards (the fan-out),
    `changed` runs it over a stream batch's new images (the trigger) instead of the due range."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.adapters.sidep import Hl7BatchSender
    from chalicelib.adapters.sidep.credentials import SecretTlsFiles
    from chalicelib.adapters.sidep.hl7 import SenderIdentity
    from chalicelib.adapters.sidep.transport import HttpsTransport, TransportSettings
    from chalicelib.services.export import ExportRun, ExportSettings, ExportSummary

    if settings.stage != LOCAL_STAGE:
        settings.require(SIDEP)  # no SI-DEP endpoint or certificate, no exporter
    container = get_container()
    tls_files = SecretTlsFiles(
        SecretsProvider(boto3_client=container.aws.secretsmanager()),
        settings.sidep_tls_secret_id,
        max_age_seconds=settings.sidep_tls_max_age_seconds,
    )
    transport = HttpsTransport(
        TransportSettings(
            url=settings.sidep_url,
            connect_timeout_seconds=float(settings.sidep_connect_timeout_seconds),
            read_timeout_seconds=float(settings.sidep_timeout_seconds),
        ),
        tls_files=tls_files,
    )
    sender = Hl7BatchSender(transport, SenderIdentity(processing_id="P" if settings.stage == "prod" else "T"))

    def export(
        time_budget_seconds: float | None = None,
        *,
        shards: Sequence[str] | None = None,
        changed: Sequence[dict[str, Any]] | None = None,
    ) -> ExportSummary:
        run_id = f"export-{uuid.uuid4().hex[:12]}"
        queue = DynamoDbExportQueue(
            container.aws.dynamodb(),
            owner=run_id,
            workers=EXPORT_WRITE_WORKERS,
            retention=container.purge.policy,
            shards=shards,
        )
        ready = queue.ready_in(changed, container.clock.now()) if changed is not None else None
        if ready == []:
            return ExportSummary()  # nothing in this stream batch is due: no round trip
        # No certificate, no run: a missing or broken secret fails the invocation (an alarm)
        # before any record is leased, so it costs no record an attempt.
        tls_files()
        return ExportRun(
            queue=queue,
            cipher=container.records.cipher,
            sender=sender,
            journal=container.journal,
            clock=container.clock,
            settings=ExportSettings.from_settings(settings, time_budget_seconds=time_budget_seconds),
            run_id=run_id,
        ).run(ready)

    return export


def build_checkpointer(settings: Settings) -> DynamoDbCheckpointer:
    """The checkpoint function's collaborator: the only one built with the audit signing key."""
    from chalicelib.adapters.dynamodb.audit_checkpointer import KmsSigner

    if not settings.audit_key_id:
        raise ValueError(f"{env_name('audit_key_id')} is not set: checkpoints cannot be signed")
    container = get_container()
    signer = KmsSigner(container.aws.kms(), settings.audit_key_id)
    set_aside = None
    if settings.audit_worm_bucket:  # malformed items go to the WORM bucket's quarantine
        from chalicelib.adapters.worm import S3WormCopy

        set_aside = S3WormCopy(container.aws.s3(), settings.audit_worm_bucket).quarantine
    return DynamoDbCheckpointer(signer=signer, clock=container.clock, set_aside=set_aside)


_container: Container | None = None
_lock = threading.Lock()


def get_container() -> Container:
    """The process's container, built on first use (a Lambda builds it once per cold start)."""
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = build(get_settings())
    return _container


_exporter: Callable[..., Any] | None = None
_exporter_lock = threading.Lock()  # not _lock: building the exporter takes the container


def get_exporter() -> Callable[..., Any]:
    """The process's exporter, built on first use: a warm Lambda keeps its SI-DEP connection and
    its certificate files (one directory, re-read from Secrets Manager after max_age) across the
    invocations of the trigger, the shard consumer and the sweeper."""
    global _exporter
    if _exporter is None:
        with _exporter_lock:
            if _exporter is None:
                _exporter = build_exporter(get_settings())
    return _exporter


def reset() -> None:
    """Forget the container and the exporter (tests, or after settings change)."""
    global _container, _exporter
    _container = None
    _exporter = None
