"""A result entered offline goes to SI-DEP as soon as its record arrives, however old its sample
(within the window): the records stream's trigger sends it with no sweep, and SI-DEP's message
carries the real sampling time, not the time it reached us."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta, timezone

import boto3

from chalicelib.domain.model import DeliveryState, Principal, Role
from devtools.fake_sidep import FakeSidep
from tests.integration.test_export_cli import sidep_env  # noqa: F401 - the fixture, shared

FINESS = "750000010"


def test_a_result_captured_offline_days_ago_reaches_sidep_at_once_with_its_sampling_time(
    sidep_env: FakeSidep,  # noqa: F811
) -> None:
    from chalicelib import bootstrap
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.adapters.sidep.hl7 import hl7_datetime
    from chalicelib.api.streams import export_on_change
    from chalicelib.config import Settings, get_settings
    from chalicelib.domain.commands import CreateBatch
    from chalicelib.payloads import parse_batch
    from chalicelib.services.batches import create_batch
    from chalicelib.services.call import Call
    from devtools.streams import StreamPoller, streams_client
    from testkit.patients import screening_body

    window = Settings().offline_window_days  # the deployed default
    bootstrap._container = bootstrap.build(replace(get_settings(), offline_window_days=window))
    container = bootstrap.get_container()
    poller = StreamPoller(
        container.aws.dynamodb(),
        streams_client(boto3.Session(region_name="eu-west-3")),
        get_settings().records_table,
        export_on_change,
    )
    poller.poll_once()  # the stream from here on
    now = container.clock.now()
    paris = timezone(timedelta(hours=1))
    sampled = (now - timedelta(days=window - 1, hours=3)).replace(microsecond=0)
    body = screening_body(2, result="positive", sampled_at=sampled.astimezone(paris).isoformat())
    body["test"]["captured_at"] = (sampled + timedelta(minutes=20)).astimezone(paris).isoformat()
    items = parse_batch({"items": [{"key": str(uuid.uuid4()), **body}]}, now=now, max_age_days=window)
    caller = Principal("pharmacist-a", Role.PHARMACIST, FINESS)
    (created,) = create_batch(container.records, Call(caller), CreateBatch(items)).items
    assert created.id is not None

    repository = DynamoDbRecordRepository()
    queued, _ = repository.get(FINESS, created.id)
    # queued for now, at its creation: no rule holds or drops an old sample
    assert queued.delivery.state is DeliveryState.READY
    assert queued.delivery.next_attempt_at == queued.created_at
    assert queued.created_at - sampled > timedelta(days=window - 2)

    while poller.poll_once():  # the trigger's batch, then its own writes coming back
        pass
    assert len(sidep_env.ledger()) == 1
    stored, _ = repository.get(FINESS, created.id)
    assert stored.delivery.state is DeliveryState.ACKNOWLEDGED
    assert stored.test.sampled_at == sampled and stored.test.captured_at is not None

    (batch,) = list(sidep_env.inbox())
    segments = batch.read_bytes().decode().replace("\n", "\r").split("\r")
    obr = next(s.split("|") for s in segments if s.startswith("OBR|"))
    obx = next(s.split("|") for s in segments if s.startswith("OBX|"))
    assert obr[2].startswith(created.id)
    assert obr[7] == obx[14] == hl7_datetime(sampled)  # the sampling, days ago
