"""Provision the AWS side of a stack (moto in tests and `make run`) from the project's sources of truth.

Tables come from the PynamoDB models, the user pool from `cognito_pool`. Returns the
environment variables the app reads (see chalicelib.config).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import boto3

from chalicelib.adapters.cognito_pool import app_client_settings, user_pool_settings
from chalicelib.adapters.dynamodb.models import ALL_MODELS
from chalicelib.bootstrap import bind_tables
from chalicelib.config import Settings, env_name, load_settings
from chalicelib.domain.audit_chain import AUDIT_KEY_SPEC
from devtools.fake_psc import DIRECTORY_API_KEY

# The WORM bucket, as infra/template/journal.py declares it: kept as long as the journal.
WORM_RETENTION_DAYS = Settings.audit_retention_days
# The docs' and the tests' records are sampled on fixed days (2026-11-29: testkit/patients.py, the
# pages' curl commands), so the local stack and the tests accept samples up to the hard cap's age,
# as before the offline window was a setting of its own; a deployed stage keeps the default
# (Settings.offline_window_days), and the tests that pin the window set it themselves.
EXAMPLES_OFFLINE_WINDOW_DAYS = Settings.retention_hard_cap_days
LOCAL_WORM_BUCKET = "depistage-audit-worm-local"


def _client(session: boto3.Session, service: str, endpoint_url: str | None) -> Any:
    return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def create_keys(kms: Any) -> dict[str, str]:
    data = kms.create_key(Description="depistage personal data (envelope)", KeyUsage="ENCRYPT_DECRYPT")
    blind = kms.create_key(
        Description="depistage NIR blind index", KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256"
    )
    audit = kms.create_key(
        Description="depistage audit checkpoints (signing)", KeyUsage="SIGN_VERIFY", KeySpec=AUDIT_KEY_SPEC
    )
    session = kms.create_key(
        Description="depistage PSC session tokens (RS256)", KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048"
    )
    return {
        "DATA_KEY_ID": data["KeyMetadata"]["Arn"],
        "BLIND_INDEX_KEY_ID": blind["KeyMetadata"]["Arn"],
        "AUDIT_KEY_ID": audit["KeyMetadata"]["Arn"],
        "SESSION_KEY_ID": session["KeyMetadata"]["Arn"],
    }


# The local client of the fake PSC (devtools/fake_psc.py); its secret is the stack's, per run.
PSC_CLIENT_ID = "depistage-local"


def create_psc_secret(
    secretsmanager: Any, client_secret: str, name: str = "depistage/psc-client-secret"
) -> str:
    """PSC's client secret, as the deployed service reads it: from Secrets Manager."""
    arn: str = secretsmanager.create_secret(Name=name, SecretString=client_secret)["ARN"]
    return arn


SIDEP_TLS_SECRET_NAME = "depistage/sidep-tls"  # pragma: allowlist secret


def put_sidep_certificate(
    secretsmanager: Any, ca_file: Path, cert_file: Path, key_file: Path, name: str = SIDEP_TLS_SECRET_NAME
) -> dict[str, str]:
    """The SI-DEP client certificate, key and CA into the secret the export reads (created if
    missing, else a new version, as an operator's rotation does). Returns the export's setting."""
    value = json.dumps(
        {
            "certificate": cert_file.read_text(),
            "private_key": key_file.read_text(),
            "ca_bundle": ca_file.read_text(),
        }
    )
    try:
        arn = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
    except secretsmanager.exceptions.ResourceExistsException:
        arn = secretsmanager.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    return {"SIDEP_TLS_SECRET_ID": arn}


def create_worm_bucket(s3: Any, region: str, name: str = LOCAL_WORM_BUCKET) -> dict[str, str]:
    """The WORM copy's bucket: Object Lock in compliance mode, retained as long as the journal."""
    s3.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": region},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": WORM_RETENTION_DAYS}},
        },
    )
    return {"AUDIT_WORM_BUCKET": name}


EXPORT_FANOUT_QUEUE_NAME = "depistage-export-shards"


def create_export_fanout_queue(sqs: Any, name: str = EXPORT_FANOUT_QUEUE_NAME) -> dict[str, str]:
    """The sweeper's fan-out queue (infra/template/export.py's ExportFanoutQueue). `provision` leaves it
    out: without it the sweeper runs the shards in process (`make run`, the tests); `make rehearse`
    adds it to run the Lambda path, sweeper -> queue -> shard consumer."""
    return {"EXPORT_FANOUT_QUEUE_URL": sqs.create_queue(QueueName=name)["QueueUrl"]}


LOCAL_IMPORTS_BUCKET = "depistage-imports-local"
IMPORTS_QUEUE_NAME = "depistage-imports"
# A failed processing comes back this soon locally (in AWS: the function's timeout and more).
LOCAL_IMPORTS_VISIBILITY_SECONDS = 30


def create_imports_bucket(
    s3: Any, sqs: Any, region: str, key_id: str, name: str = LOCAL_IMPORTS_BUCKET
) -> dict[str, str]:
    """The uploads' bucket as infra/template/imports.py declares it (SSE-KMS with the data key,
    no public access, ObjectCreated under uploads/ to the imports queue, read by the local stack's
    worker, devtools/imports_worker.py)."""
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    queue_url = sqs.create_queue(
        QueueName=IMPORTS_QUEUE_NAME, Attributes={"VisibilityTimeout": str(LOCAL_IMPORTS_VISIBILITY_SECONDS)}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                }
            ]
        },
    )
    return {"IMPORTS_BUCKET": name}


def create_tables(settings: Settings) -> None:
    bind_tables(settings)
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True)  # also enables TTL on the model's TTLAttribute


def create_user_pool(cognito: Any, name: str = "depistage") -> dict[str, str]:
    pool_kwargs = user_pool_settings(name)
    enabled_mfas = pool_kwargs.pop("EnabledMfas")
    pool = cognito.create_user_pool(**pool_kwargs)["UserPool"]
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool["Id"],
        SoftwareTokenMfaConfiguration={"Enabled": "SOFTWARE_TOKEN_MFA" in enabled_mfas},
        MfaConfiguration=pool_kwargs["MfaConfiguration"],
    )
    client = cognito.create_user_pool_client(UserPoolId=pool["Id"], **app_client_settings(f"{name}-mobile"))
    return {"USER_POOL_ID": pool["Id"], "APP_CLIENT_IDS": client["UserPoolClient"]["ClientId"]}


def provision(
    session: boto3.Session | None = None,
    endpoint_url: str | None = None,
    pool_name: str = "depistage",
    psc_client_secret: str | None = None,
) -> dict[str, str]:
    """Create keys, tables, the WORM bucket, the user pool and the PSC secret; return the app's
    environment variables.

    PSC_DISCOVERY_URL is the caller's to add: it is wherever the fake PSC listens."""
    session = session or boto3.Session()
    region = session.region_name or "eu-west-3"
    env: dict[str, str] = {"AWS_DEFAULT_REGION": region}
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env[env_name("offline_window_days")] = str(EXAMPLES_OFFLINE_WINDOW_DAYS)
    env.update(create_keys(_client(session, "kms", endpoint_url)))
    env.update(create_user_pool(_client(session, "cognito-idp", endpoint_url), pool_name))
    env["PSC_CLIENT_ID"] = PSC_CLIENT_ID
    env["PSC_CLIENT_SECRET_ID"] = create_psc_secret(
        _client(session, "secretsmanager", endpoint_url), psc_client_secret or secrets.token_urlsafe(24)
    )
    # the directory's API key, as the deployed service reads it (the fake PSC's directory accepts it)
    env["PSC_DIRECTORY_API_KEY_SECRET_ID"] = create_psc_secret(
        _client(session, "secretsmanager", endpoint_url),
        DIRECTORY_API_KEY,
        name="depistage/annuaire-sante-api-key",
    )
    env.update(create_worm_bucket(_client(session, "s3", endpoint_url), region))
    env.update(
        create_imports_bucket(
            _client(session, "s3", endpoint_url),
            _client(session, "sqs", endpoint_url),
            region,
            env["DATA_KEY_ID"],
        )
    )
    if endpoint_url:
        # moto serves the JWKS at its own address while tokens name the real Cognito issuer.
        env["JWKS_URL"] = f"{endpoint_url}/{env['USER_POOL_ID']}/.well-known/jwks.json"
    create_tables(load_settings(env))
    return env
