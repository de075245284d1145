"""Install or rotate the SI-DEP client certificate in the stack's Secrets Manager secret.

    python -m devtools.sidep_certificate --secret-id <SidepTlsSecretArn> \\
        --cert client.pem --key client-key.pem --ca sidep-ca.pem [--region eu-west-3] [--check-only]

Checks before anything is written: the key is the certificate's, the certificate is valid now and
for at least --min-days more days, the CA bundle parses. Then one PutSecretValue replaces the
three together (the export never pairs a certificate with the previous key); the previous value
stays as the AWSPREVIOUS version for a roll-back. A warm export picks the new value up within
SIDEP_TLS_MAX_AGE_SECONDS (5 minutes). Prints the new version id and the certificate's subject
and expiry, never a key.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chalicelib.adapters.sidep.credentials import parse_secret


class CertificateError(ValueError):
    pass


def check(cert_pem: str, key_pem: str, ca_pem: str, now: datetime, min_days: int) -> dict[str, str]:
    """What the operator should see of the certificate; raises CertificateError if it cannot serve."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        authorities = x509.load_pem_x509_certificates(ca_pem.encode())
    except ValueError as exc:
        raise CertificateError(f"a file is not the expected PEM ({type(exc).__name__})") from None
    if not authorities:
        raise CertificateError("the CA bundle holds no certificate")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.PEM, public
    ) != certificate.public_key().public_bytes(serialization.Encoding.PEM, public):
        raise CertificateError("the private key is not the certificate's")
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        raise CertificateError(
            f"the certificate is not valid now (until {certificate.not_valid_after_utc:%Y-%m-%d})"
        )
    if certificate.not_valid_after_utc < now + timedelta(days=min_days):
        raise CertificateError(
            f"the certificate expires on {certificate.not_valid_after_utc:%Y-%m-%d}, "
            f"in less than {min_days} days"
        )
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "ca_certificates": str(len(authorities)),
    }


def secret_value(cert_pem: str, key_pem: str, ca_pem: str) -> str:
    value = json.dumps({"certificate": cert_pem, "private_key": key_pem, "ca_bundle": ca_pem})
    parse_secret(value)  # the export's own reader accepts it
    return value


def install(client: Any, secret_id: str, value: str) -> str:
    version: str = client.put_secret_value(SecretId=secret_id, SecretString=value)["VersionId"]
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.sidep_certificate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--secret-id", required=True, help="the stack output SidepTlsSecretArn")
    parser.add_argument("--cert", type=Path, required=True, help="client certificate (PEM, with its chain)")
    parser.add_argument("--key", type=Path, required=True, help="its private key (PEM, unencrypted)")
    parser.add_argument("--ca", type=Path, required=True, help="the CA bundle that signs SI-DEP's server")
    parser.add_argument("--region", default="eu-west-3")
    parser.add_argument("--endpoint-url", default=None, help="moto, for the local stack")
    parser.add_argument("--min-days", type=int, default=7, help="refuse a certificate expiring sooner")
    parser.add_argument("--check-only", action="store_true", help="check the files, write nothing")
    args = parser.parse_args(argv)
    cert_pem, key_pem, ca_pem = (path.read_text() for path in (args.cert, args.key, args.ca))
    try:
        summary = check(cert_pem, key_pem, ca_pem, datetime.now(UTC), args.min_days)
    except CertificateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.check_only:
        import boto3

        client = boto3.client("secretsmanager", region_name=args.region, endpoint_url=args.endpoint_url)
        summary["version_id"] = install(client, args.secret_id, secret_value(cert_pem, key_pem, ca_pem))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
