"""SI-DEP adapter: HL7 v2.5.1 (hl7.py) over HTTPS with mutual TLS (transport.py).

`Hl7BatchSender` implements the export's `BatchSender` port (chalicelib/services/export.py): a
later format or transport replaces this package without touching the use case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chalicelib.adapters.sidep.hl7 import Hl7Error, SenderIdentity, build_batch, build_message, parse_acks
from chalicelib.domain.delivery import rejection_reason
from chalicelib.ports import Outbound, Receipt, SendFailed, SendReport


class Transport(Protocol):
    def post(self, payload: bytes, idempotency_key: str) -> bytes: ...


class Hl7BatchSender:
    def __init__(self, transport: Transport, identity: SenderIdentity | None = None) -> None:
        self._transport = transport
        self._identity = identity or SenderIdentity()

    def send(self, items: Sequence[Outbound], now: datetime) -> SendReport:
        from chalicelib.adapters.sidep.transport import TransportError

        messages = [build_message(i.record, i.patient, i.kind, self._identity) for i in items]
        batch = build_batch(messages, now, self._identity)
        try:
            answer = self._transport.post(batch.payload, batch.control_id)
        except TransportError as exc:
            raise SendFailed(str(exc), retry_after=exc.retry_after) from None
        try:
            acks = parse_acks(answer)
        except Hl7Error as exc:
            raise SendFailed(str(exc)) from None
        receipts: dict[str, Receipt] = {}
        for message in messages:
            ack = acks.get(message.control_id)
            if ack is not None:
                # what is kept of a rejection is ours: SI-DEP's free text may quote the patient
                reason = "" if ack.accepted else rejection_reason(ack.code.value, ack.error_code)
                receipts[message.record_id] = Receipt(ack.accepted, message.control_id, reason)
        return SendReport(batch_id=batch.control_id, receipts=receipts)
