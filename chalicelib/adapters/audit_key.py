"""The audit key's public half, read with the cryptography library: checkpoint signatures verified
with it alone (no AWS call), and its PEM form. The rules of what is signed are
chalicelib/domain/audit_checkpoints.py."""

from __future__ import annotations

import base64

from chalicelib.domain.audit_checkpoints import SignatureVerifier


def public_key_verifier(public_key_der: bytes) -> SignatureVerifier:
    """Verify checkpoint signatures with the audit key's public key alone (no AWS call).

    `public_key_der` is the SubjectPublicKeyInfo KMS GetPublicKey returns (PEM is accepted too)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if public_key_der.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(public_key_der)
    else:
        key = serialization.load_der_public_key(public_key_der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the audit public key must be an ECC_NIST_P256 (secp256r1) key")

    def verify(message: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except (ValueError, TypeError):
            return False
        if not raw:
            return False
        try:
            key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    return verify


def public_key_pem(public_key_der: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_public_key(public_key_der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
