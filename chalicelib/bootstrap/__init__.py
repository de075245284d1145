"""The one place that builds the real collaborators from settings (tests build their own or reset this).

Two tiers, so that each Lambda function imports only what its handlers use: the `Core` every
function shares (settings, clock, AWS clients, journal, cipher, retention policy), and on it the
API's `Container` (its areas, their adapters and services, which import the API's payloads). The
scheduled and stream functions (chalicelib/jobs.py) build on the core alone: the exporter, the
purge, the checkpoints and the identity events never load a payload declaration or a route, and
the API never loads the export, HL7 or SI-DEP code (tests/infra/test_function_imports.py). What a tier
needs is imported when the tier is built (once per container), not when this module is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.adapters.aws import AwsClients

# re-exported: the tests and tools build single adapters the same way
from chalicelib.bootstrap.adapter_settings import audit_journal as audit_journal
from chalicelib.bootstrap.adapter_settings import aws_calls as aws_calls
from chalicelib.bootstrap.adapter_settings import bind_tables as bind_tables
from chalicelib.bootstrap.adapter_settings import envelope_cipher as envelope_cipher
from chalicelib.config import LOCAL_STAGE, SIDEP, Settings, env_name, get_settings
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.ports import (
    AuditJournal,
    Clock,
    MembershipRepository,
    MessageQueue,
    PersonalDataCipher,
    PharmacyRepository,
    RequestMeta,
    TokenVerifier,
)

if TYPE_CHECKING:
    from chalicelib.adapters.dynamodb.alerts import DynamoDbAlerts
    from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer
    from chalicelib.adapters.session_tokens import KmsPublicKeys
    from chalicelib.domain.model import Principal
    from chalicelib.services import auth
    from chalicelib.services.admin import AdminDeps
    from chalicelib.services.alerts import AlertsDeps
    from chalicelib.services.export import Exporter
    from chalicelib.services.imports import ImportsDeps
    from chalicelib.services.patients import PatientsDeps
    from chalicelib.services.psc_login import PscLoginDeps
    from chalicelib.services.records import RecordsDeps
    from chalicelib.services.refusals import UnauthenticatedRefusals
    from chalicelib.services.retention import PurgeDeps
    from chalicelib.services.review import ReviewDeps
    from chalicelib.services.stats import StatsDeps


@dataclass(frozen=True)
class Core:
    """What every function of the app shares, one per process: the API's Container is built on it,
    the scheduled and stream functions use it alone."""

    settings: Settings
    clock: Clock
    aws: AwsClients  # one client per service, made on first use
    journal: AuditJournal
    cipher: PersonalDataCipher
    policy: RetentionPolicy


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
    # The journal review's alerts (the store: the review's stream function raises through
    # `build_alerts(core)`), and what the pharmacy's admins' routes take (services/alerts.py).
    alerts: DynamoDbAlerts
    inbox: AlertsDeps
    aws: AwsClients  # one client per service, for adapters built later (export, purge)
    core: Core  # what the API shares with the jobs run in its process (tests, the local stack)

    def authenticate(self, meta: RequestMeta, authorization: str | None, route: str) -> Principal:
        from chalicelib.services import auth

        deps = auth.AuthDeps(
            self.verifier,
            self.memberships,
            self.journal,
            self.refusals,
            clock=self.clock,
            max_token_age_seconds=self.settings.access_token_max_age_seconds,
            pharmacies=self.pharmacies,
        )
        return auth.authenticate(deps, meta, authorization, route)


def build_core(settings: Settings, session: boto3.Session | None = None, clock: Clock | None = None) -> Core:
    """What every function shares. Bounded retries with backoff and timeouts
    (chalicelib/adapters/aws.py): a throttle is retried a few times, a stalled endpoint gives up in
    time, then it is a 503 (the API) or a failed invocation (the jobs)."""
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.services.retention import retention_policy

    aws = AwsClients(session or boto3.Session(region_name=settings.region), aws_calls(settings))
    bind_tables(settings)
    clock = clock or SystemClock()
    return Core(
        settings=settings,
        clock=clock,
        aws=aws,
        journal=audit_journal(settings, clock),
        cipher=envelope_cipher(settings),
        policy=retention_policy(settings),
    )


def build(
    settings: Settings,
    session: boto3.Session | None = None,
    clock: Clock | None = None,
    *,
    core: Core | None = None,
) -> Container:
    """The API's container, on `core` (None: a new one)."""
    # The API's adapters and services: imported here, once per container, never by the jobs.
    from chalicelib.adapters.cognito import (
        CognitoAccessTokenVerifier,
        CognitoUserDirectory,
        JwksKeys,
        TrustedIssuer,
    )
    from chalicelib.adapters.crypto import KmsBlindIndex
    from chalicelib.adapters.dynamodb.directory import (
        DynamoDbMemberships,
        DynamoDbPharmacies,
        DynamoDbPharmacyZones,
        DynamoDbPscLogins,
    )
    from chalicelib.adapters.dynamodb.idempotency import DynamoDbIdempotencyStore
    from chalicelib.adapters.dynamodb.psc_limits import DynamoDbPscStartLimits
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.adapters.dynamodb.retention import DynamoDbRetentionStore
    from chalicelib.adapters.insi import FakeInsi, NoInsi
    from chalicelib.adapters.psc import PscClient, PscSettings, SecretsManagerSecret
    from chalicelib.adapters.psc_directory import HttpProfessionalDirectory
    from chalicelib.adapters.session_tokens import KmsPublicKeys, KmsSessionTokenIssuer
    from chalicelib.domain.psc import PSC_SESSION_CLIENT_ID, PscLoginPolicy
    from chalicelib.services import auth
    from chalicelib.services.admin import AdminDeps
    from chalicelib.services.alerts import AlertsDeps
    from chalicelib.services.patients import PatientsDeps
    from chalicelib.services.psc_login import PscLoginDeps
    from chalicelib.services.records import RecordsDeps
    from chalicelib.services.refusals import UnauthenticatedRefusals
    from chalicelib.services.retention import PurgeDeps
    from chalicelib.services.stats import StatsDeps

    core = core or build_core(settings, session, clock)
    aws, clock, journal = core.aws, core.clock, core.journal
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
    policy = core.policy
    retention_store = DynamoDbRetentionStore()
    records = RecordsDeps(
        repository=DynamoDbRecordRepository(policy),
        cipher=core.cipher,
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
    alerts = build_alerts(core)
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
        alerts=alerts,
        inbox=AlertsDeps(alerts=alerts, journal=journal, clock=clock),
        aws=aws,
        core=core,
    )


def build_imports(container: Container) -> ImportsDeps:
    """The spreadsheet uploads' use cases on the API's container (the upload routes and the
    function that processes an uploaded file): the records' collaborators and the upload bucket."""
    from chalicelib.adapters.s3_imports import S3ImportFiles
    from chalicelib.services.imports import ImportsDeps

    settings = container.settings
    return ImportsDeps(
        records=container.records,
        files=S3ImportFiles(container.aws.s3(), settings.imports_bucket),
        memberships=container.memberships,
        max_bytes=settings.import_max_bytes,
        max_rows=settings.import_max_rows,
        url_seconds=settings.import_url_seconds,
    )


# Parallel transactions when a batch is larger than one (100 items): keep <= the client's
# connection pool (botocore default 10).
EXPORT_WRITE_WORKERS = 8


def build_exporter(settings: Settings, core: Core | None = None) -> Exporter:
    """The exporter with the real collaborators, on `core` (None: the process's). Its SI-DEP
    sender and certificate files live as long as it does (bootstrap.get_exporter keeps one)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.adapters.sidep import Hl7BatchSender
    from chalicelib.adapters.sidep.credentials import SecretTlsFiles
    from chalicelib.adapters.sidep.hl7 import SenderIdentity
    from chalicelib.adapters.sidep.transport import HttpsTransport, TransportSettings
    from chalicelib.services.export import Exporter, ExportSettings

    if settings.stage != LOCAL_STAGE:
        settings.require(SIDEP)  # no SI-DEP endpoint or certificate, no exporter
    core = core or get_core()
    tls_files = SecretTlsFiles(
        SecretsProvider(boto3_client=core.aws.secretsmanager()),
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

    def queues(owner: str, shards: Sequence[str] | None) -> DynamoDbExportQueue:
        return DynamoDbExportQueue(
            core.aws.dynamodb(),
            owner=owner,
            workers=EXPORT_WRITE_WORKERS,
            retention=core.policy,
            shards=shards,
        )

    return Exporter(
        queues=queues,
        cipher=core.cipher,
        sender=sender,
        journal=core.journal,
        clock=core.clock,
        settings=ExportSettings.from_settings(settings),
        # No certificate, no run: a missing or broken secret fails the invocation (an alarm)
        # before any record is leased, so it costs no record an attempt.
        sender_ready=tls_files,
    )


def build_fanout(settings: Settings, core: Core | None = None) -> MessageQueue | None:
    """The export's fan-out queue (one message per export-queue shard), or None without one (the
    local stack and the tests: the sweeper then runs the shards itself)."""
    if not settings.export_fanout_queue_url:
        return None
    from chalicelib.adapters.sqs import SqsMessageQueue

    return SqsMessageQueue((core or get_core()).aws.sqs(), settings.export_fanout_queue_url)


def build_checkpointer(settings: Settings) -> DynamoDbCheckpointer:
    """The checkpoint function's collaborator: the only one built with the audit signing key."""
    from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer, KmsSigner

    if not settings.audit_key_id:
        raise ValueError(f"{env_name('audit_key_id')} is not set: checkpoints cannot be signed")
    core = get_core()
    signer = KmsSigner(core.aws.kms(), settings.audit_key_id)
    set_aside = None
    if settings.audit_worm_bucket:  # malformed items go to the WORM bucket's quarantine
        from chalicelib.adapters.worm import S3WormCopy

        set_aside = S3WormCopy(core.aws.s3(), settings.audit_worm_bucket).quarantine
    return DynamoDbCheckpointer(signer=signer, clock=core.clock, set_aside=set_aside)


def build_alerts(core: Core) -> DynamoDbAlerts:
    """The review's alerts, raised through the core's journal: what the review's stream function
    (which builds on the core alone) raises into, and the API's Container reads and acknowledges."""
    from chalicelib.adapters.dynamodb.alerts import DynamoDbAlerts

    return DynamoDbAlerts(core.journal, retention_days=core.settings.audit_retention_days)


def build_review(settings: Settings, core: Core | None = None) -> ReviewDeps:
    """The audit stream's review (`review_access`, chalicelib/jobs.py): on the core alone, with its
    state store, the pharmacies' hours, the alert store and the REVIEW_* thresholds; one metric
    per alert raised (observability.REVIEW_ALERTS, alarmed)."""
    from chalicelib.adapters.dynamodb.review_state import DynamoDbPharmacyHours, DynamoDbReviewStates
    from chalicelib.observability import REVIEW_ALERTS, count, logger
    from chalicelib.services.review import ReviewDeps

    core = core or get_core()

    def on_alert(alert: Any) -> None:
        count(REVIEW_ALERTS)
        logger.warning(
            "journal review alert raised",
            extra={"finess": alert.finess, "detector": alert.detector, "alert_id": alert.alert_id},
        )

    return ReviewDeps(
        states=DynamoDbReviewStates(core.clock),
        hours=DynamoDbPharmacyHours(),
        alerts=build_alerts(core),
        policy=settings.review_policy,
        clock=core.clock,
        on_alert=on_alert,
    )


_core: Core | None = None
_container: Container | None = None
_lock = threading.Lock()


def get_core() -> Core:
    """The process's core: the container's when the API's was built (or a test set one), else
    built on first use alone (a scheduled or stream function builds no more than this)."""
    global _core
    if _container is not None:
        return _container.core
    if _core is None:
        with _lock:
            if _container is not None:  # built while this waited: one core per process
                return _container.core
            if _core is None:
                _core = build_core(get_settings())
    return _core


def get_container() -> Container:
    """The process's container, built on first use (a Lambda builds it once per cold start), on
    the process's core if one was built first."""
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = build(get_settings(), core=_core)
    return _container


_exporter: Exporter | None = None
_exporter_lock = threading.Lock()  # not _lock: building the exporter takes the core


def get_exporter() -> Exporter:
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
    """Forget the core, the container and the exporter (tests, or after settings change)."""
    global _core, _container, _exporter
    _core = None
    _container = None
    _exporter = None
