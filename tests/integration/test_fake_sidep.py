"""The fake SI-DEP receiver: mutual TLS, HL7 parsing, ACKs, dedup ledger, inbox, fault modes, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from chalicelib.adapters.sidep.hl7 import build_batch, build_message, parse_acks
from chalicelib.adapters.sidep.transport import HttpsTransport, TransportError, TransportSettings
from chalicelib.domain.model import MessageKind
from devtools.fake_sidep import FakeSidep, ae_score, generate_certs
from testkit.export_support import new_record
from testkit.patients import patient

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def sidep(tmp_path: Path) -> Iterator[FakeSidep]:
    with FakeSidep(tmp_path / "sidep") as receiver:
        yield receiver


def transport(sidep: FakeSidep, read_timeout: float = 5.0) -> HttpsTransport:
    return HttpsTransport(
        TransportSettings(
            url=sidep.url,
            ca_file=sidep.ca_file,
            client_cert_file=sidep.client_cert_file,
            client_key_file=sidep.client_key_file,
            connect_timeout_seconds=2,
            read_timeout_seconds=read_timeout,
        )
    )


def batch(indexes: range, kind: MessageKind = MessageKind.FINAL):  # type: ignore[no-untyped-def]
    messages = [build_message(new_record(i, NOW), patient(i), kind) for i in indexes]
    return build_batch(messages, NOW)


def test_accepts_a_batch_acks_every_message_and_keeps_it_byte_for_byte(sidep: FakeSidep) -> None:
    b = batch(range(5))
    acks = parse_acks(transport(sidep).post(b.payload, b.control_id))
    assert set(acks) == set(b.message_ids) and all(a.accepted for a in acks.values())
    assert sidep.ledger() == dict.fromkeys(b.message_ids, 1)
    [stored] = list(sidep.inbox())
    assert stored.read_bytes() == b.payload
    on_disk = json.loads((sidep.state_dir / "ledger.json").read_text())
    assert on_disk == sidep.ledger()
    assert {m["kind"] for m in sidep.messages().values()} == {"F"}


def test_a_duplicate_is_acknowledged_again_without_a_second_entry(sidep: FakeSidep) -> None:
    b = batch(range(3))
    t = transport(sidep)
    t.post(b.payload, b.control_id)
    again = parse_acks(t.post(b.payload, b.control_id))
    assert all(a.accepted for a in again.values())
    assert sidep.ledger() == dict.fromkeys(b.message_ids, 2)
    assert len(sidep.messages()) == 3


def test_a_malformed_message_is_rejected_naming_the_field_only(sidep: FakeSidep) -> None:
    b = batch(range(1))
    # the INS OID on an identity that is not qualified (PID-32 PROV) is what SI-DEP must refuse
    broken = b.payload.replace(b"^^^^NH", b"^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS")
    assert broken != b.payload
    acks = parse_acks(transport(sidep).post(broken, b.control_id))
    [ack] = acks.values()
    assert ack.code.value == "AR" and "PID-3" in ack.reason
    assert sidep.ledger() == {}
    with pytest.raises(TransportError, match="http 400"):
        transport(sidep).post(b"not hl7 at all", "x")


def test_mutual_tls_is_required_and_the_server_is_checked_against_the_ca(
    sidep: FakeSidep, tmp_path: Path
) -> None:
    b = batch(range(1))
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(sidep.url, data=b.payload, verify=sidep.ca_file, timeout=5)  # no client certificate
    other = generate_certs(tmp_path / "other")
    with pytest.raises(requests.exceptions.RequestException):  # a client certificate of another CA
        requests.post(
            sidep.url,
            data=b.payload,
            verify=sidep.ca_file,
            cert=(str(other.client_cert), str(other.client_key)),
            timeout=5,
        )
    stranger = HttpsTransport(
        TransportSettings(sidep.url, str(other.ca), sidep.client_cert_file, sidep.client_key_file)
    )
    with pytest.raises(TransportError, match="tls"):  # our side refuses a server the CA did not sign
        stranger.post(b.payload, b.control_id)
    assert sidep.ledger() == {}


def test_fault_modes_set_at_run_time(sidep: FakeSidep) -> None:
    b = batch(range(20))
    t = transport(sidep)
    impatient = transport(sidep, read_timeout=0.5)
    sidep.set_faults(http500=True)
    with pytest.raises(TransportError, match="http 500"):
        t.post(b.payload, b.control_id)
    assert sidep.ledger() == {}

    sidep.set_faults(http500=False, down=True)
    with pytest.raises(TransportError, match=r"connection|tls"):
        t.post(b.payload, b.control_id)

    sidep.set_faults(down=False, cut=True)
    with pytest.raises(TransportError, match=r"connection|tls"):
        t.post(b.payload, b.control_id)
    assert len(sidep.ledger()) == 20  # recorded before the cut

    sidep.set_faults(cut=False, slow_seconds=2.0)
    with pytest.raises(TransportError, match="timeout"):
        impatient.post(b.payload, b.control_id)
    assert set(sidep.ledger().values()) == {2}

    sidep.clear_faults()
    fresh = batch(range(20, 60))
    sidep.set_faults(ae_share=0.5)
    acks = parse_acks(t.post(fresh.payload, fresh.control_id))
    expected_ae = {cid for cid in fresh.message_ids if ae_score(cid) < 0.5}
    assert {cid for cid, a in acks.items() if not a.accepted} == expected_ae
    assert 0 < len(expected_ae) < 40
    # the same messages get the same verdicts: deterministic by control id
    again = parse_acks(t.post(fresh.payload, fresh.control_id))
    assert {cid for cid, a in again.items() if not a.accepted} == expected_ae
    assert all("simulated" in acks[cid].reason for cid in expected_ae)


def test_a_stopped_receiver_refuses_connections_and_restarts_on_the_same_port(sidep: FakeSidep) -> None:
    url = sidep.url
    sidep.stop()
    assert not (sidep.state_dir / "ready").exists()
    b = batch(range(1))
    with pytest.raises(TransportError, match="connection"):
        transport(sidep).post(b.payload, b.control_id)
    sidep.start()
    assert sidep.url == url
    assert parse_acks(transport(sidep).post(b.payload, b.control_id))


def test_the_cli_serves_writes_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.fake_sidep",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--ae-share",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (state / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        url = (state / "ready").read_text()
        certs = state / "certs"
        assert {p.name for p in certs.iterdir()} >= {
            "ca.pem",
            "server.pem",
            "server-key.pem",
            "client.pem",
            "client-key.pem",
        }
        b = batch(range(2))
        t = HttpsTransport(
            TransportSettings(
                url, str(certs / "ca.pem"), str(certs / "client.pem"), str(certs / "client-key.pem")
            )
        )
        acks = parse_acks(t.post(b.payload, b.control_id))
        assert {a.code.value for a in acks.values()} == {"AE"}  # --ae-share 1
        assert json.loads((state / "faults.json").read_text())["ae_share"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=15)[0].decode()
    assert proc.returncode == 0
    assert "listening" in output
    assert "Dupont" not in output and "295109912611193" not in output


def test_a_qualified_identity_goes_as_the_ins_and_is_accepted(sidep: FakeSidep) -> None:
    from dataclasses import replace

    from chalicelib.domain.identity import IdentityStatus

    qualified = replace(patient(0), identity_status=IdentityStatus.QUALIFIED)
    b = build_batch([build_message(new_record(0, NOW), qualified, MessageKind.FINAL)], NOW)
    assert b"1.2.250.1.213.1.4.8&ISO^INS" in b.payload and b"|QUAL" in b.payload
    acks = parse_acks(transport(sidep).post(b.payload, b.control_id))
    assert all(a.accepted for a in acks.values())
    # and the same identity sent as QUAL without the INS OID is refused
    stripped = b.payload.replace(b"^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS", b"^^^^NH")
    [ack] = parse_acks(transport(sidep).post(stripped, "other")).values()
    assert ack.code.value == "AR" and "PID-3" in ack.reason
