"""A batch's writes on moto: its records are written as single creates write theirs (the records
stream's trigger sends their results to SI-DEP at once, with no sweep), in at most 6 round trips."""

from __future__ import annotations

import uuid

import boto3

from chalicelib.domain.model import DeliveryState, Principal, Role
from devtools.fake_sidep import FakeSidep
from tests.conftest import World
from tests.integration.test_export_cli import sidep_env  # noqa: F401 - the fixture, shared

FINESS = "750000010"


def test_a_batchs_results_reach_sidep_from_the_records_stream(sidep_env: FakeSidep) -> None:  # noqa: F811
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.api.streams import export_on_change
    from chalicelib.bootstrap import get_container
    from chalicelib.config import get_settings
    from chalicelib.domain.commands import CreateBatch
    from chalicelib.payloads import parse_batch
    from chalicelib.services.batches import create_batch
    from chalicelib.services.call import Call
    from devtools.streams import StreamPoller, streams_client
    from testkit.patients import screening_body

    container = get_container()
    poller = StreamPoller(
        container.aws.dynamodb(),
        streams_client(boto3.Session(region_name="eu-west-3")),
        get_settings().records_table,
        export_on_change,
    )
    poller.poll_once()  # the stream from here on
    body = {"items": [{"key": str(uuid.uuid4()), **screening_body(i % 4)} for i in range(60)]}
    items = parse_batch(body, now=container.clock.now(), max_age_days=get_settings().offline_window_days)
    caller = Principal("pharmacist-a", Role.PHARMACIST, FINESS)
    result = create_batch(container.records, Call(caller), CreateBatch(items))
    ids = [outcome.id for outcome in result.items]
    assert len(set(ids)) == 60 and None not in ids

    while poller.poll_once():  # the trigger's batches, then its own writes coming back
        pass
    assert len(sidep_env.ledger()) == 60
    repository = DynamoDbRecordRepository()
    states = {repository.get(FINESS, record_id)[0].delivery.state for record_id in ids if record_id}
    assert states == {DeliveryState.ACKNOWLEDGED}


def test_a_hundred_records_cost_at_most_six_round_trips_and_a_replay_three(world: World) -> None:
    """Every AWS call that reaches moto, counted (bench/common.CallCounter, the bench's counter)."""
    from bench.common import CallCounter
    from testkit.patients import screening_body

    batch = {"items": [{"key": str(uuid.uuid4()), **screening_body(i % 4)} for i in range(100)]}
    warm = {"items": [{"key": str(uuid.uuid4()), **screening_body(0)}]}
    world.call("POST", "/v1/test-batches", "pharmacist-a", warm)  # the cold caches' KMS calls
    with CallCounter() as first:
        assert world.call("POST", "/v1/test-batches", "pharmacist-a", batch).status_code == 200
    with CallCounter() as replay:
        assert world.call("POST", "/v1/test-batches", "pharmacist-a", batch).status_code == 200
    assert first.calls == {
        "dynamodb:GetItem": 1,  # the membership
        "dynamodb:BatchGetItem": 1,  # the items' claims
        "dynamodb:TransactWriteItems": 3,  # 49 + 49 + 2 records, each chunk with its claims and event
    }
    assert replay.calls == {"dynamodb:GetItem": 1, "dynamodb:BatchGetItem": 1, "dynamodb:PutItem": 1}
