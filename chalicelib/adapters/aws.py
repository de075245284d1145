"""One timeout and retry policy for every AWS call (`AwsCalls`, from Settings' aws_* fields).

boto3 clients take `client_config`; PynamoDB its per-model Meta values (`pynamodb_meta`), which its
default "LEGACY" retry configuration turns into the same botocore standard mode with
`1 + max_retry_attempts` attempts in all; the encryption SDK builds its KMS clients from a botocore
session, which gets the same config as its default (`configured_botocore_session`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import botocore.config
import botocore.session

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

RETRY_MODE: Literal["standard"] = "standard"


@dataclass(frozen=True)
class AwsCalls:
    """Where AWS calls go and what each may cost (bootstrap builds it from Settings' region,
    aws_endpoint_url and aws_* fields)."""

    region: str
    endpoint_url: str | None
    connect_timeout_seconds: int
    read_timeout_seconds: int
    max_attempts: int


def client_config(calls: AwsCalls) -> botocore.config.Config:
    return botocore.config.Config(
        retries={"total_max_attempts": calls.max_attempts, "mode": RETRY_MODE},
        connect_timeout=calls.connect_timeout_seconds,
        read_timeout=calls.read_timeout_seconds,
    )


def pynamodb_meta(calls: AwsCalls) -> dict[str, Any]:
    return {
        "connect_timeout_seconds": calls.connect_timeout_seconds,
        "read_timeout_seconds": calls.read_timeout_seconds,
        "max_retry_attempts": calls.max_attempts - 1,  # retries after the first attempt
    }


def configured_botocore_session(calls: AwsCalls) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_default_client_config(client_config(calls))
    return session


class AwsClients:
    """The process's boto3 clients, one per service, made on first use with `AwsCalls`' endpoint,
    timeouts and retries. Typed by boto3-stubs (imported for mypy only: no import cost at run time)."""

    def __init__(self, session: boto3.Session, calls: AwsCalls) -> None:
        self._session = session
        self._endpoint_url = calls.endpoint_url
        self._config = client_config(calls)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            with self._lock:
                if service not in self._clients:
                    self._clients[service] = self._session.client(
                        service,  # type: ignore[call-overload]  # one of the literals below
                        endpoint_url=self._endpoint_url,
                        config=self._config,
                    )
        return self._clients[service]

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    def kms(self) -> KMSClient:
        client: KMSClient = self._client("kms")
        return client

    def cognito_idp(self) -> CognitoIdentityProviderClient:
        client: CognitoIdentityProviderClient = self._client("cognito-idp")
        return client

    def secretsmanager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self._client("secretsmanager")
        return client

    def s3(self) -> S3Client:
        client: S3Client = self._client("s3")
        return client

    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs")
        return client
