"""Requests served at once by one process (the local stack's threads, a test client's threads):
each view reads its own request, never the one another thread is serving. Chalice keeps a single
current request per app; the gate records the one each thread serves (chalicelib/api/context.py)."""

from __future__ import annotations

import json
import threading
from typing import Any

from testkit.patients import screening_body
from tests.conftest import World

USERS = ("pharmacist-a", "pharmacist-b")


def test_two_pharmacies_creating_at_once_each_get_their_own_record(world: World) -> None:
    answers: list[tuple[str, Any]] = []
    start = threading.Barrier(8)

    def create(user: str) -> None:
        start.wait()
        answers.append((user, world.call("POST", "/v1/tests", user, screening_body())))

    threads = [threading.Thread(target=create, args=(USERS[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for _, a in answers) == [201] * 8, [a.body for _, a in answers]
    for user, answer in answers:
        record_id = json.loads(answer.body)["id"]
        assert world.call("GET", f"/v1/tests/{record_id}", user).status_code == 200
