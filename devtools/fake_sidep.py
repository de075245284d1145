"""A fake SI-DEP receiver for `make run` and the tests: HTTPS with mutual TLS, HL7 v2 batches in, ACKs out.

    python -m devtools.fake_sidep --host 127.0.0.1 --port 8443 --state-dir .local/sidep \
        [--down] [--slow SECONDS] [--http500] [--ae-share 0.2] [--cut]

On start it generates a throwaway CA, a server certificate for 127.0.0.1/localhost and a client
certificate into `<state-dir>/certs/` (ca.pem, server.pem, server-key.pem, client.pem,
client-key.pem), then serves `POST /` (any path) with a client certificate required and verified
against that CA. It writes `<state-dir>/ready` once listening.

Each request body is a BHS/BTS batch of ORU^R01 messages. Every message is parsed with python-hl7
and checked (MSH-10, PID-3 with the INS-NIR OID only under PID-32 QUAL, else the NIR as NH,
OBX-3 LOINC 94558-4, OBX-5 coded, OBX-11 in F/C/W); the answer is a batch of ACKs, one per
message: AA, AE (the ae_share fault) or AR (a malformed message, with the failing field named).

Ledger and "exactly once": `<state-dir>/ledger.json` maps each *accepted* message control id to
the number of times it arrived. A message whose control id is already in the ledger is a
duplicate (a resend after a lost ACK, a timeout, a crash between send and mark): it is answered
AA again and only its count grows; it never makes a second entry. So a record version's message
is delivered exactly once when its control id is one ledger key, whatever its count.
`<state-dir>/messages.json` tells, per accepted control id, the record (OBR-2), the OBX-11
kind, the coded result (OBX-5.1) and `seq`, the order of acceptance: the last accepted F/C/W of a
record is what SI-DEP holds of it (`holdings()`). Each accepted batch is kept byte for byte in
`<state-dir>/inbox/` (one file a batch).

Fault modes, set by the CLI flags at start AND at run time by writing `<state-dir>/faults.json`
(re-read on every connection, so it works even while "down"), e.g.
`{"down": false, "slow_seconds": 0, "http500": false, "ae_share": 0.3, "cut": false}`:

- down: every connection is closed as soon as it is accepted, before TLS (the client sees a
  connection error); `FakeSidep.stop()`/`start()` give a true refusal (nothing listening).
- slow_seconds: the batch is processed, then the answer waits that long (a client timeout then
  leaves a delivered batch behind, as in real life).
- http500: answer 500 without processing.
- busy_seconds: answer 429 with `Retry-After: <busy_seconds>` without processing (SI-DEP asking
  its senders to slow down).
- ae_share (0..1): a message is answered AE when a hash of its control id falls below the
  share, so a resend of the same message is rejected again while a corrected message (a new
  control id) may pass.
- cut: process and record the batch, then close the connection without answering.

The Python API for tests is `FakeSidep` (a background thread on a free port in a tmp dir).
Standard library only (http.server, ssl) plus `hl7` and `cryptography`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chalicelib.observability import logger

LOINC = "94558-4"
INS_NIR_OID = "1.2.250.1.213.1.4.8"
RELIABILITY_CODES = ("PROV", "RECUP", "VALI", "QUAL")


# ---------------------------------------------------------------------------------------------
# Certificates


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def generate_certs(certs_dir: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> CertPaths:
    """A throwaway CA, a server certificate for `hosts`, a client certificate (EC P-256, 7 days)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    certs_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=7)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("fake SI-DEP test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    server_pem, server_key = leaf("fake SI-DEP", ExtendedKeyUsageOID.SERVER_AUTH, sans)
    client_pem, client_key = leaf("depistage exporter", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    paths = CertPaths(
        ca=certs_dir / "ca.pem",
        server_cert=certs_dir / "server.pem",
        server_key=certs_dir / "server-key.pem",
        client_cert=certs_dir / "client.pem",
        client_key=certs_dir / "client-key.pem",
    )
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_cert.write_bytes(server_pem)
    paths.client_cert.write_bytes(client_pem)
    for path, pem in ((paths.server_key, server_key), (paths.client_key, client_key)):
        path.write_bytes(pem)
        path.chmod(0o600)
    return paths


# ---------------------------------------------------------------------------------------------
# Receiver state and message handling


@dataclass
class Faults:
    down: bool = False
    slow_seconds: float = 0.0
    http500: bool = False
    busy_seconds: float = 0.0
    ae_share: float = 0.0
    cut: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def ae_score(control_id: str) -> float:
    """A stable number in [0, 1) for a control id: below ae_share means AE."""
    return int.from_bytes(hashlib.sha256(control_id.encode()).digest()[:8], "big") / 2**64


def _escape(text: str) -> str:
    for raw, escaped in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(raw, escaped)
    return text


def _now_dtm() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Verdict:
    control_id: str
    code: str  # AA | AE | AR
    reason: str = ""
    record_id: str = ""
    kind: str = ""
    duplicate: bool = False
    result: str = ""  # OBX-5.1, the coded result ("" for a withdrawal)
    quoted: str = ""  # PID-5.1, quoted by an AE's free text


class _Fields:
    """An HL7 message's fields by path (`PID.F3.R1.C1`); "" for one the message lacks."""

    def __init__(self, message: Any) -> None:
        self._message = message

    def __call__(self, path: str) -> str:
        try:
            return str(self._message[path])
        except (IndexError, KeyError):
            return ""


def _header_problems(get: _Fields) -> list[str]:
    problems = []
    if not get("MSH.F10"):
        problems.append("MSH-10 missing")
    if get("MSH.F9.R1.C1") != "ORU" or get("MSH.F9.R1.C2") != "R01":
        problems.append("MSH-9 is not ORU^R01")
    if get("MSH.F12") != "2.5.1":
        problems.append("MSH-12 is not 2.5.1")
    if not get("MSH.F4.R1.C1"):
        problems.append("MSH-4 missing")
    return problems


def _identifier_problem(get: _Fields) -> str | None:
    # The INS (the NIR under the INS OID, type INS) only with a qualified identity (PID-32
    # QUAL); any other identity sends the NIR as the national health plan id (NH).
    if not get("PID.F3.R1.C1"):
        return "PID-3 missing"
    if get("PID.F32") == "QUAL":
        if get("PID.F3.R1.C4.S2") != INS_NIR_OID or get("PID.F3.R1.C5") != "INS":
            return "PID-3 is not an INS-NIR"
        return None
    if INS_NIR_OID in get("PID.F3") or get("PID.F3.R1.C5") != "NH":
        return "PID-3 carries the INS for an identity that is not qualified"
    return None


def _patient_problems(get: _Fields) -> list[str]:
    problems = []
    if get("PID.F32") not in RELIABILITY_CODES:
        problems.append("PID-32 is not an identity reliability code")
    identifier = _identifier_problem(get)
    if identifier:
        problems.append(identifier)
    if not get("PID.F5.R1.C1") or not get("PID.F7") or get("PID.F8") not in ("F", "M"):
        problems.append("PID-5/7/8 incomplete")
    return problems


def _observation_problems(get: _Fields) -> list[str]:
    problems = []
    if get("OBX.F3.R1.C1") != LOINC:
        problems.append("OBX-3 is not LOINC 94558-4")
    kind = get("OBX.F11")
    if kind not in ("F", "C", "W"):
        problems.append("OBX-11 is not F, C or W")
    if kind != "W" and not get("OBX.F5.R1.C1"):
        problems.append("OBX-5 missing")
    if not get("OBX.F14") or not get("OBX.F18.R1.C1"):
        problems.append("OBX-14/18 missing")
    return problems


class Receiver:
    """The receiving side, independent of HTTP: parse, check, dedup, ledger, inbox, ACKs."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.inbox = state_dir / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.ledger_path = state_dir / "ledger.json"
        self.messages_path = state_dir / "messages.json"
        self.faults_path = state_dir / "faults.json"
        self._lock = threading.Lock()
        self._ledger: dict[str, int] = self._load(self.ledger_path)
        self._messages: dict[str, dict[str, str]] = self._load(self.messages_path)
        self._batches = 0
        self.rejections: dict[str, int] = {}  # control id -> times answered AE/AR

    @staticmethod
    def _load(path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    # faults ------------------------------------------------------------------------------
    def faults(self) -> Faults:
        try:
            return Faults.from_json(json.loads(self.faults_path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return Faults()

    def set_faults(self, faults: Faults) -> None:
        _atomic_write(self.faults_path, json.dumps(asdict(faults)).encode())

    # ledger ------------------------------------------------------------------------------
    def ledger(self) -> dict[str, int]:
        with self._lock:
            return dict(self._ledger)

    def messages(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {k: dict(v) for k, v in self._messages.items()}

    def holdings(self) -> dict[str, dict[str, str]]:
        """Per record id, its last accepted message (kind F/C/W, result, control_id): SI-DEP's view."""
        last: dict[str, dict[str, str]] = {}
        for control_id, message in sorted(self.messages().items(), key=lambda kv: int(kv[1]["seq"])):
            last[message["record_id"]] = {**message, "control_id": control_id}
        return last

    # handling ----------------------------------------------------------------------------
    @staticmethod
    def _check(message: Any) -> Verdict:
        get = _Fields(message)
        problems = [*_header_problems(get), *_patient_problems(get), *_observation_problems(get)]
        control_id, record_id, kind = get("MSH.F10"), get("OBR.F2.R1.C1"), get("OBX.F11")
        if problems:
            return Verdict(control_id, "AR", "; ".join(problems), record_id, kind)
        # Like a real receiver's free text, the AE reason quotes a patient value (the family name):
        # the exporter must keep none of it (tests scan the table and the logs for it).
        return Verdict(
            control_id, "AA", "", record_id, kind, result=get("OBX.F5.R1.C1"), quoted=get("PID.F5.R1.C1")
        )

    def handle(self, body: bytes, faults: Faults) -> tuple[bytes, list[Verdict]]:
        """Process one batch; returns the ACK batch and the verdicts. Raises ValueError if unreadable."""
        import hl7

        text = body.decode("utf-8").replace("\r\n", "\r").replace("\n", "\r").strip("\r")
        parsed = hl7.parse_hl7(text)
        if isinstance(parsed, hl7.Message):
            messages, batch_id = [parsed], ""
        elif isinstance(parsed, hl7.Batch):
            messages, batch_id = list(parsed), str(parsed.header[11]) if parsed.header else ""
            if parsed.trailer and str(parsed.trailer[1]) not in ("", str(len(messages))):
                raise ValueError("BTS-1 does not match the message count")
        else:
            raise ValueError("not an HL7 batch")
        verdicts: list[Verdict] = []
        with self._lock:
            for message in messages:
                verdict = self._check(message)
                if verdict.code == "AA" and verdict.control_id in self._ledger:
                    self._ledger[verdict.control_id] += 1
                    verdict = Verdict(verdict.control_id, "AA", "", verdict.record_id, verdict.kind, True)
                elif verdict.code == "AA" and ae_score(verdict.control_id) < faults.ae_share:
                    verdict = Verdict(
                        verdict.control_id,
                        "AE",
                        f"simulated rejection: result refused for {verdict.quoted}",
                        verdict.record_id,
                        verdict.kind,
                    )
                elif verdict.code == "AA":
                    self._ledger[verdict.control_id] = 1
                    self._messages[verdict.control_id] = {
                        "record_id": verdict.record_id,
                        "kind": verdict.kind,
                        "result": verdict.result,
                        "seq": str(len(self._messages) + 1),  # order of acceptance
                    }
                if verdict.code != "AA":
                    self.rejections[verdict.control_id] = self.rejections.get(verdict.control_id, 0) + 1
                verdicts.append(verdict)
            self._batches += 1
            name = f"{time.time_ns()}-{self._batches:06d}-{batch_id or 'single'}.hl7"
            (self.inbox / name).write_bytes(body)
            _atomic_write(self.ledger_path, json.dumps(self._ledger, sort_keys=True).encode())
            _atomic_write(self.messages_path, json.dumps(self._messages, sort_keys=True).encode())
        return self._acks(batch_id, verdicts), verdicts

    @staticmethod
    def _acks(batch_id: str, verdicts: list[Verdict]) -> bytes:
        now = _now_dtm()
        ack_batch = hashlib.sha256(f"ack|{batch_id}|{now}".encode()).hexdigest()[:20].upper()
        segments = [f"BHS|^~\\&|SI-DEP|SIDEP|DEPISTAGE|DEPISTAGE|{now}||||{ack_batch}|{batch_id}"]
        for i, v in enumerate(verdicts):
            segments.append(
                f"MSH|^~\\&|SI-DEP|SIDEP|DEPISTAGE|DEPISTAGE|{now}||ACK^R01^ACK|{ack_batch}{i}|P|2.5.1"
            )
            segments.append(f"MSA|{v.code}|{_escape(v.control_id)}")
            if v.code != "AA":
                segments.append(f"ERR|||207^Application internal error^HL70357|E||||{_escape(v.reason)}")
        segments.append(f"BTS|{len(verdicts)}")
        return ("\r".join(segments) + "\r").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# HTTPS server


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are logged below, with identifiers only

    def _answer(
        self, status: int, body: bytes, content_type: str = "application/hl7-v2; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        receiver = self.server.receiver
        faults = receiver.faults()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        key = self.headers.get("Idempotency-Key", "")
        if faults.down:  # a kept-alive connection opened before the fault: drop it unanswered
            self._drop()
            return
        if faults.http500:
            logger.info("fake SI-DEP: HTTP 500 fault", extra={"idempotency_key": key})
            self._answer(500, b"simulated failure", "text/plain")
            return
        if faults.busy_seconds > 0:
            logger.info("fake SI-DEP: 429 fault", extra={"idempotency_key": key})
            self.send_response(429)
            self.send_header("Retry-After", str(int(faults.busy_seconds)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            acks, verdicts = receiver.handle(body, faults)
        except (ValueError, UnicodeDecodeError):
            self._answer(400, b"unreadable batch", "text/plain")
            return
        logger.info(
            "fake SI-DEP: batch",
            extra={
                "idempotency_key": key,
                "messages": len(verdicts),
                "accepted": sum(v.code == "AA" for v in verdicts),
                "duplicates": sum(v.duplicate for v in verdicts),
                "rejected": sum(v.code != "AA" for v in verdicts),
            },
        )
        if faults.cut:
            self._drop()
            return
        if faults.slow_seconds > 0:
            time.sleep(faults.slow_seconds)
        self._answer(200, acks)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._answer(200, b'{"status": "ok"}', "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: Receiver, context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver
        self.context = context

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return not self.receiver.faults().down  # down: close at once, before TLS

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS in the connection's own thread, so that a slow handshake never blocks accept().
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


def server_context(certs: CertPaths) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certs.server_cert, certs.server_key)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
    context.load_verify_locations(certs.ca)
    return context


class FakeSidep:
    """The fake receiver in a background thread, for tests: `with FakeSidep(tmp_path) as sidep: ...`."""

    def __init__(self, state_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.certs = generate_certs(self.state_dir / "certs")
        self.receiver = Receiver(self.state_dir)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSidep:
        server = _Server((self.host, self.port), self.receiver, server_context(self.certs))
        self.port = server.server_address[1]  # keep the port across stop()/start()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        (self.state_dir / "ready").write_text(self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        (self.state_dir / "ready").unlink(missing_ok=True)

    def __enter__(self) -> FakeSidep:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what tests read ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/"

    @property
    def ca_file(self) -> str:
        return str(self.certs.ca)

    @property
    def client_cert_file(self) -> str:
        return str(self.certs.client_cert)

    @property
    def client_key_file(self) -> str:
        return str(self.certs.client_key)

    def ledger(self) -> dict[str, int]:
        return self.receiver.ledger()

    def messages(self) -> dict[str, dict[str, str]]:
        return self.receiver.messages()

    def holdings(self) -> dict[str, dict[str, str]]:
        return self.receiver.holdings()

    def inbox(self) -> Iterator[Path]:
        return iter(sorted(self.receiver.inbox.iterdir()))

    # faults ------------------------------------------------------------------------------
    def set_faults(self, **changes: Any) -> None:
        faults = self.receiver.faults()
        for name, value in changes.items():
            if not hasattr(faults, name):
                raise ValueError(f"unknown fault {name}")
            setattr(faults, name, value)
        self.receiver.set_faults(faults)

    def clear_faults(self) -> None:
        self.receiver.set_faults(Faults())


class InProcessTransport:
    """The receiver without HTTP or TLS, for model-based tests and benchmarks: the exporter's
    `Transport` port (chalicelib/adapters/sidep) calling `Receiver.handle` directly, with the same
    fault semantics as the server (`faults`, in memory): down and http500 fail before processing;
    slow (a client timeout) and cut process the batch, then fail, so SI-DEP has it and we never
    see the answer. `while_in_flight` runs after SI-DEP processed a batch and before its answer
    comes back: what a pharmacist does meanwhile (with `arrives_late`, before SI-DEP processes it:
    the batch is delayed in the network)."""

    def __init__(self, receiver: Receiver, faults: Faults | None = None) -> None:
        self.receiver = receiver
        self.faults = faults or Faults()
        self.while_in_flight: Callable[[], None] | None = None
        self.arrives_late = False
        self.posts = 0

    def post(self, payload: bytes, idempotency_key: str) -> bytes:
        from chalicelib.adapters.sidep.transport import TransportError

        self.posts += 1
        faults = self.faults
        if faults.down:
            raise TransportError("connection error")
        if faults.http500:
            raise TransportError("http 500")
        hook, self.while_in_flight = self.while_in_flight, None
        if hook is not None and self.arrives_late:
            hook()
        try:
            acks, _ = self.receiver.handle(payload, faults)
        except (ValueError, UnicodeDecodeError):
            raise TransportError("http 400") from None
        if hook is not None and not self.arrives_late:
            hook()
        if faults.slow_seconds > 0:
            raise TransportError("timeout")
        if faults.cut:
            raise TransportError("connection error")
        return acks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake SI-DEP receiver (mutual TLS, HL7 v2 batches)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--state-dir", default=".local/sidep")
    parser.add_argument("--down", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--http500", action="store_true")
    parser.add_argument("--ae-share", type=float, default=0.0)
    parser.add_argument("--cut", action="store_true")
    args = parser.parse_args(argv)
    if not 0.0 <= args.ae_share <= 1.0:
        parser.error("--ae-share must be within 0..1")
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "ready").unlink(missing_ok=True)
    sidep = FakeSidep(state_dir, args.host, args.port)
    sidep.receiver.set_faults(
        Faults(
            down=args.down, slow_seconds=args.slow, http500=args.http500, ae_share=args.ae_share, cut=args.cut
        )
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sidep.start()
    logger.info("fake SI-DEP listening", extra={"url": sidep.url, "state_dir": str(state_dir)})
    print(f"fake SI-DEP listening on {sidep.url} (state in {state_dir})", flush=True)
    stop.wait()
    sidep.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
