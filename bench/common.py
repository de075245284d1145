"""What every figure shares: the in-process moto account, call counters, statistics, the machine.

Everything runs on moto in this process (no server, no network); numbers are CPU time of our code
plus moto's, on this machine, and mean nothing elsewhere without their baselines.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

BENCH_ENV = {
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_METRICS_DISABLED": "1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
}
# App variables a previous moto account left behind must not leak into the next one.
_APP_ENV = ("AWS_ENDPOINT_URL", "DATA_KEY_ID", "BLIND_INDEX_KEY_ID", "AUDIT_KEY_ID", "USER_POOL_ID")


def set_env() -> None:
    for name in _APP_ENV:
        os.environ.pop(name, None)
    os.environ.update(BENCH_ENV)


def _reset_app() -> None:
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    with contextlib.suppress(ImportError):
        from chalicelib import bootstrap

        bootstrap.reset()


@contextlib.contextmanager
def moto_account() -> Iterator[dict[str, str]]:
    """A fresh in-process moto account with the app's keys, tables and user pool; yields the env."""
    set_env()
    import boto3
    from moto import mock_aws

    with mock_aws():
        from chalicelib.bootstrap import bind_tables
        from chalicelib.config import get_settings
        from devtools.provision import provision

        env = provision(boto3.Session(region_name="eu-west-3"))
        os.environ.update(env)
        _reset_app()
        bind_tables(get_settings())
        try:
            yield env
        finally:
            _reset_app()
            for name in env:
                os.environ.pop(name, None)


class CallCounter:
    """Counts AWS API calls that reach moto, by service and operation (X-Amz-Target), from any
    client in the process: the only honest way to count KMS calls made inside the encryption SDK."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._original: Any = None

    def __enter__(self) -> CallCounter:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request
        counter = self.calls

        def process_request(stubber: Any, request: Any) -> Any:
            target = request.headers.get("X-Amz-Target", b"")
            if isinstance(target, bytes):
                target = target.decode()
            if target:
                service, _, operation = str(target).partition(".")
                counter[
                    f"{'kms' if service == 'TrentService' else service.split('_')[0].lower()}:{operation}"
                ] += 1
            return original(stubber, request)

        self._original = original
        BotocoreStubber.process_request = process_request  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        BotocoreStubber.process_request = self._original  # type: ignore[method-assign]

    def total(self, service: str) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith(service + ":"))

    def by_operation(self, service: str) -> dict[str, int]:
        return {name: n for name, n in sorted(self.calls.items()) if name.startswith(service + ":")}


def summary(samples: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Median and spread (min, max, and the quartiles once there are enough samples)."""
    values = sorted(float(s) for s in samples)
    out: dict[str, Any] = {
        "median": round(statistics.median(values), digits),
        "min": round(values[0], digits),
        "max": round(values[-1], digits),
        "n": len(values),
    }
    if len(values) >= 4:
        q = statistics.quantiles(values, n=4)
        out["p25"], out["p75"] = round(q[0], digits), round(q[2], digits)
    return out


def machine() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    cpu = platform.processor() or ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="utf-8") as info:
        memory_gib = round(int(info.readline().split()[1]) / 1024 / 1024, 1)
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "load_average_at_start": [round(x, 2) for x in load],
        "commit": commit,
        "versions": {
            name: version(name)
            for name in (
                "boto3",
                "botocore",
                "moto",
                "chalice",
                "pynamodb",
                "aws-encryption-sdk",
                "aws-lambda-powertools",
                "cryptography",
                "matplotlib",
            )
        },
    }


def moto_transactions_with_an_undo_log() -> contextlib.AbstractContextManager[None]:
    """moto's `transact_write_items` with its rollback limited to the items a transaction touches
    (DynamoDB's own cost) instead of a deep copy of every table it names, stream included, once per
    item: the one implementation the local stack and the tests run (devtools/moto_atomic.py)."""
    from devtools.moto_atomic import undo_log_transactions

    return undo_log_transactions()
