"""The batch use case with in-memory ports: chunks and their events, replays, a lost race, roles."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.config import Settings
from chalicelib.domain.commands import CreateBatch
from chalicelib.domain.errors import Forbidden
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.outcomes import ItemOutcome
from chalicelib.payloads import parse_batch
from chalicelib.ports import IdempotencyEntry
from chalicelib.services import batches, records
from chalicelib.services.call import Call
from testkit.fakes import FakeCipher, FakeIdempotency, FakeIndex, FakeJournal, FakeRepository, FixedClock
from testkit.patients import screening_body

PHARMACIST = Principal("pharmacist-a", Role.PHARMACIST, "750000010")
OPERATOR = Principal("operator", Role.PLATFORM_ADMIN, None)


class StaleClaims(FakeIdempotency):
    """Claims read before another device's replay took them: the read sees none of them (while
    `stale`), though the transaction still meets them."""

    stale: bool = True

    def entries_of(self, finess: str, keys: Sequence[str]) -> dict[str, IdempotencyEntry]:
        return {} if self.stale else super().entries_of(finess, keys)


def deps_with(idempotency: FakeIdempotency) -> records.RecordsDeps:
    ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))
    return records.RecordsDeps(
        repository=FakeRepository(),
        cipher=FakeCipher(),
        index=FakeIndex(),
        idempotency=idempotency,
        journal=FakeJournal(),
        clock=FixedClock(),
        settings=Settings(),
        new_id=lambda: next(ids),
    )


def command(deps: records.RecordsDeps, items: list[dict[str, Any]]) -> CreateBatch:
    now = deps.clock.now()
    return CreateBatch(parse_batch({"items": items}, now=now, max_age_days=deps.settings.offline_window_days))


def items(count: int) -> list[dict[str, Any]]:
    return [{"key": str(uuid.uuid4()), **screening_body(i % 4)} for i in range(count)]


def events(deps: records.RecordsDeps) -> list[Any]:
    assert isinstance(deps.journal, FakeJournal)
    return deps.journal.events


def test_a_hundred_records_are_three_chunks_each_one_event_naming_its_records() -> None:
    deps = deps_with(FakeIdempotency())
    result = batches.create_batch(deps, Call(PHARMACIST), command(deps, items(100)))
    assert [len(e.record_ids) for e in events(deps)] == [49, 49, 2]
    assert [i for e in events(deps) for i in e.record_ids] == [o.id for o in result.items]


def test_a_replay_answers_from_the_claims_in_one_event_and_writes_nothing() -> None:
    deps = deps_with(FakeIdempotency())
    batch = items(60)
    first = batches.create_batch(deps, Call(PHARMACIST), command(deps, batch))
    assert isinstance(deps.repository, FakeRepository)
    stored = len(deps.repository.items)
    again = batches.create_batch(deps, Call(PHARMACIST), command(deps, batch))
    assert again == first and len(deps.repository.items) == stored == 60
    assert events(deps)[-1].reason == "replay" and len(events(deps)[-1].record_ids) == 60


def test_a_claim_taken_after_the_read_is_answered_one_by_one_and_created_once() -> None:
    deps = deps_with(StaleClaims())
    batch = items(10)
    other = [*batch[:3], {**screening_body(2), "key": batch[3]["key"]}, *batch[4:]]  # item 3: another body
    first = batches.create_batch(deps, Call(PHARMACIST), command(deps, other))
    raced = batches.create_batch(deps, Call(PHARMACIST), command(deps, batch))
    assert isinstance(deps.repository, FakeRepository)
    assert len(deps.repository.items) == 10  # all by the first device, none twice
    assert [o.outcome for o in raced.items] == [ItemOutcome.CREATED] * 3 + [ItemOutcome.CONFLICT] + [
        ItemOutcome.CREATED
    ] * 6
    assert [o.id for o in raced.items if o.id] == [o.id for o in first.items if o.index != 3]


def test_a_repeated_key_in_one_batch_is_one_record_or_a_conflict() -> None:
    deps = deps_with(FakeIdempotency())
    batch = items(3)
    batch += [dict(batch[0]), {**screening_body(3), "key": batch[1]["key"]}]
    result = batches.create_batch(deps, Call(PHARMACIST), command(deps, batch)).items
    assert result[3].id == result[0].id and result[3].outcome is ItemOutcome.CREATED
    assert result[4].outcome is ItemOutcome.CONFLICT and result[4].errors[0].field == "/items/4/key"


def test_the_platform_admin_is_refused_and_nothing_is_written() -> None:
    deps = deps_with(FakeIdempotency())
    with pytest.raises(Forbidden):
        batches.create_batch(deps, Call(OPERATOR), command(deps, items(2)))
    assert isinstance(deps.repository, FakeRepository) and deps.repository.items == {}
    assert [(e.action, e.outcome) for e in events(deps)] == [("create", "denied")]


# A batch sent by a device: which of the campaign's items (by number), whether each is sent with
# another body than the campaign's (a device that changed it), and whether its claims' read was
# overtaken by another device's writes.
SENDS = st.lists(
    st.tuples(st.lists(st.tuples(st.integers(0, 7), st.booleans()), min_size=1, max_size=8), st.booleans()),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(SENDS)
def test_any_interleaving_of_replays_creates_each_key_once_and_answers_it_the_same(
    sends: list[tuple[list[tuple[int, bool]], bool]],
) -> None:
    idempotency = StaleClaims()
    deps = deps_with(idempotency)
    campaign = items(8)
    first_body: dict[str, bool] = {}  # key -> whether its first created body was the changed one
    ids: dict[str, str] = {}
    for chosen, stale in sends:
        idempotency.stale = stale
        sent = [
            {**screening_body((n + 1) % 4), "key": campaign[n]["key"]} if changed else campaign[n]
            for n, changed in chosen
        ]
        result = batches.create_batch(deps, Call(PHARMACIST), command(deps, sent))
        for (n, changed), outcome in zip(chosen, result.items, strict=True):
            key = campaign[n]["key"]
            first_body.setdefault(key, changed)
            if first_body[key] == changed:
                assert outcome.outcome is ItemOutcome.CREATED
                assert ids.setdefault(key, outcome.id or "") == outcome.id
            else:
                assert outcome.outcome is ItemOutcome.CONFLICT and outcome.id is None
    assert isinstance(deps.repository, FakeRepository)
    assert len(deps.repository.items) == len(ids) == len(set(ids.values()))
