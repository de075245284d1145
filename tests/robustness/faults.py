"""Fault injection under botocore: an AWS call fails as the service would make it fail.

The fault is injected where botocore sends the HTTP request (`Endpoint._do_get_response`), below
its retry loop, so the service's real retry policy (botocore's, PynamoDB's) runs against it:
each attempt is counted, and the backoff delays botocore asks for are recorded instead of slept
(the tests stay fast; the delays prove the backoff). Calls that match no fault go on to moto.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError


@dataclass
class Fault:
    operation: str  # e.g. "GenerateDataKey", "PutItem"
    code: str | None  # an AWS error code; None: the endpoint cannot be reached
    status: int = 400
    table: str | None = None  # DynamoDB: only calls naming this table
    times: int | None = None  # fail this many times, then pass; None: always
    hits: int = 0

    def matches(self, operation: str, request: Any) -> bool:
        if operation != self.operation or (self.times is not None and self.hits >= self.times):
            return False
        if self.table is not None:
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return False
            names = {body.get("TableName")} | {
                item[kind]["TableName"]
                for item in body.get("TransactItems", [])
                for kind in item
                if isinstance(item.get(kind), dict) and "TableName" in item[kind]
            }
            return self.table in names
        return True


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # every call sent, by operation
    backoffs: list[float] = field(default_factory=list)  # delays botocore asked to sleep

    def fail(self, operation: str, code: str | None = "ThrottlingException", **kwargs: Any) -> Fault:
        fault = Fault(operation, code, **kwargs)
        self.faults.append(fault)
        return fault

    retired: list[Fault] = field(default_factory=list)  # cleared faults, still counted

    def clear(self) -> None:
        self.retired += self.faults
        self.faults.clear()

    @property
    def injected(self) -> int:
        return sum(f.hits for f in self.faults + self.retired)

    def answer(self, request: Any, operation_model: Any) -> Any:
        name = operation_model.name
        self.attempts[name] += 1
        for fault in self.faults:
            if fault.matches(name, request):
                fault.hits += 1
                if fault.code is None:
                    return None, EndpointConnectionError(endpoint_url=request.url)
                body = json.dumps({"__type": fault.code, "message": "injected fault"}).encode()
                headers: Any = {"x-amzn-requestid": "fault"}  # botocore reads it as a mapping
                http = AWSResponse(request.url, fault.status, headers, _Body(body))
                parsed = {
                    "Error": {"Code": fault.code, "Message": "injected fault"},
                    "ResponseMetadata": {"HTTPStatusCode": fault.status, "HTTPHeaders": {}},
                }
                return (http, parsed), None
        return "pass"


# Faults injected over the whole session, reported at its end.
INJECTED: Counter[str] = Counter()


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    state = Faults()
    original = botocore.endpoint.Endpoint._do_get_response  # type: ignore[attr-defined]  # private

    def do_get_response(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        answer = state.answer(request, operation_model)
        if answer == "pass":
            return original(self, request, operation_model, context)
        return answer

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_do_get_response", do_get_response)
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=state.backoffs.append))
    yield state
    for fault in state.faults + state.retired:
        INJECTED[fault.code or "EndpointConnectionError"] += fault.hits
