"""Figures 2 and 3: SI-DEP export throughput, KMS and DynamoDB calls, memory, on in-process moto.

    .venv/bin/python -m bench.export_throughput [--records 10000] [--batch-size 100]
        [--cipher real|fake] [--workers 1] [--max-batches N] [--trace-memory] [--cpu-profile] [--profile]
        [--json-out F]
        [--transport https|inprocess] [--moto-transactions undo-log|as-is]

Seeds N ready records (patients encrypted with the real envelope cipher on moto KMS by a cipher
other than the exporter's, as the API would have, or a fake one), then times one `ExportRun`
from ready to acknowledged through the real queue adapter, HL7 and the fake receiver (mutual TLS
on 127.0.0.1), and reports records/s (overall, and per batch: median and spread), the calls
made, and memory. `bench.run` runs it in a fresh process per size so that the peak RSS is the
run's own. Not a test: numbers depend on the machine.

The figures of the export at national scale come from the same run: DynamoDB round trips per
exported record (every call counted: one call is one round trip), our own CPU per record (process
CPU of the run under cProfile, less the time inside botocore, boto3, moto and their HTTP
plumbing: `own_cpu_seconds`), and the model of the 386,970-record backlog on real DynamoDB
(`backlog_model`). moto's
`transact_write_items` deep-copies the whole table once per item, so records/s on moto falls
with the table's size; by default the bench replaces that copy with an undo log of the touched
items (`--moto-transactions undo-log`; `as-is` keeps moto's), and says which in its output.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import CallCounter, moto_transactions_with_an_undo_log, set_env, summary
from chalicelib.config import Settings

# Frames of these packages are AWS's (botocore, boto3), the emulator's (moto and what it runs on)
# or its HTTP plumbing: not our CPU on Lambda, where DynamoDB runs elsewhere. The bench's own
# frames (its instruments, the seeded fakes) are not ours either.
NOT_OURS = (
    "/botocore/",
    "/boto3/",
    "/moto/",
    "/werkzeug/",
    "/responses/",
    "/jinja2/",
    "/xmltodict",
    "/dateutil/",
    "/jmespath/",
    "/s3transfer/",
    "/jsonpointer",
    "/cfn_lint/",
    "/py_partiql_parser/",
    "/bench/",
    "/tests/",
    "/devtools/",
)
# Shared by both sides (the standard library, builtins, urllib3 under requests and botocore alike):
# their time goes to whoever called them, in proportion to the time each caller spent in them.
SHARED = ("/urllib3/",)
# the 386,970 people Francetest exposed: the backlog docs/export.md sizes for
BACKLOG_RECORDS = 386_970
DYNAMODB_ROUND_TRIP_SECONDS = 0.010  # a stated latency for one DynamoDB call from Lambda
SIDEP_ROUND_TRIP_SECONDS = 0.300  # a stated SI-DEP answer time for one batch of 100 over mutual TLS


def _side(filename: str) -> float | None:
    """1.0 ours, 0.0 not ours, None shared (decided by the callers)."""
    if any(part in filename for part in NOT_OURS):
        return 0.0
    if any(part in filename for part in SHARED):
        return None
    if "/site-packages/" in filename or "/chalicelib/" in filename or filename.endswith("/app.py"):
        return 1.0  # our code and the libraries the Lambda ships with it
    return None  # the standard library, builtins ("~")


def own_cpu_seconds(stats: pstats.Stats) -> tuple[float, float, float, float]:
    """(all CPU under the profiler, our part, all calls, our calls): each function's own time and
    calls, ours or not by its file;
    a shared function's (stdlib, builtins, urllib3) goes to its callers in proportion to the time
    each spent in it, through any depth (`copy.deepcopy` under moto is moto's, `ssl` under
    requests ours)."""
    table = stats.stats  # type: ignore[attr-defined]
    share = {func: _side(func[0]) for func in table}
    shared = [func for func, side in share.items() if side is None]
    # callers' weights: the time each caller spent in the function (cumulative, as pstats keeps it)
    weights = {
        func: {c: v[3] for c, v in table[func][4].items() if c in table and v[3] > 0} for func in shared
    }
    # a shared root of the profile (no caller) is the run itself: ours
    value = {f: side if side is not None else float(not weights[f]) for f, side in share.items()}
    for _ in range(200):  # a weighted average over the callers, to its fixed point (recursion included)
        moved = 0.0
        for func in shared:
            w = weights[func]
            if not w:
                continue
            new = sum(x * value[c] for c, x in w.items()) / sum(w.values())
            moved = max(moved, abs(new - value[func]))
            value[func] = new
        if moved < 1e-6:
            break

    total = mine = calls = my_calls = 0.0
    for func, (_cc, nc, tottime, _ct, _callers) in table.items():
        total += tottime
        mine += tottime * value[func]
        calls += nc
        my_calls += nc * value[func]
    return total, mine, calls, my_calls


def profiler_overhead_per_call(profiled_cpu: float, unprofiled_cpu: float, calls: float) -> float:
    """cProfile's CPU per call event, from the same work run with and without it (process CPU)."""
    return max(0.0, profiled_cpu - unprofiled_cpu) / calls if calls else 0.0


@dataclass(frozen=True)
class Backlog:
    """The backlog the model drains, and the stated figures of the platform it drains on."""

    records: int = BACKLOG_RECORDS
    shards: int = 8
    concurrency: int = Settings.sidep_max_concurrency
    batch_size: int = 100
    round_trip_seconds: float = DYNAMODB_ROUND_TRIP_SECONDS
    sidep_seconds_per_batch: float = SIDEP_ROUND_TRIP_SECONDS


def backlog_model(
    round_trips_per_record: float, cpu_seconds_per_record: float, backlog: Backlog = Backlog()
) -> dict[str, Any]:
    """The backlog drained on real DynamoDB: per record, its round trips × the stated latency plus
    our CPU, and per batch one SI-DEP round trip; the shards in parallel, `concurrency` at once."""
    per_shard = -(-backlog.records // backlog.shards)
    waves = -(-backlog.shards // max(1, backlog.concurrency))
    batches = -(-per_shard // backlog.batch_size)
    shard_seconds = (
        per_shard * (round_trips_per_record * backlog.round_trip_seconds + cpu_seconds_per_record)
        + batches * backlog.sidep_seconds_per_batch
    )
    return {
        "records": backlog.records,
        "shards": backlog.shards,
        "concurrency": backlog.concurrency,
        "round_trips_per_record": round_trips_per_record,
        "round_trip_seconds": backlog.round_trip_seconds,
        "cpu_seconds_per_record": round(cpu_seconds_per_record, 6),
        "sidep_seconds_per_batch": backlog.sidep_seconds_per_batch,
        "seconds": round(waves * shard_seconds, 1),
        "minutes": round(waves * shard_seconds / 60, 2),
        "goal_minutes": 4,
    }


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _stop_after(batches: int) -> Iterator[float]:
    """A monotonic clock under which ExportRun takes exactly `batches` batches (it reads the clock
    once at start and once before each batch)."""
    for _ in range(batches + 1):
        yield 0.0
    while True:
        yield 1e12


@dataclass(frozen=True)
class ExportBenchOptions:
    """One run of this bench: its command line's options."""

    records: int = 10_000
    batch_size: int = 100
    cipher_kind: str = "real"  # "real": the envelope cipher on moto KMS; "fake": FakeCipher
    workers: int = 1
    max_batches: int | None = None  # stop after this many batches (None: until the queue is empty)
    trace_memory: bool = False
    profile: bool = False  # cpu_profile, and the profile printed on stderr
    cpu_profile: bool = False
    transport: str = "https"  # or "inprocess"
    moto_transactions: str = "undo-log"  # or "as-is"

    @property
    def profiled(self) -> bool:
        return self.cpu_profile or self.profile

    @property
    def undo_log(self) -> bool:
        return self.moto_transactions == "undo-log"


@dataclass(frozen=True)
class _Timing:
    """The timed ExportRun: its result and what the instruments read around it."""

    result: Any  # ExportRun's RunResult
    calls: CallCounter
    started: float
    elapsed_seconds: float
    cpu_seconds: float
    profiler: cProfile.Profile | None  # when profiled
    traced: dict[str, Any]  # tracemalloc's figures, when traced


def _provisioned_settings() -> Any:
    """The stack's tables, keys and secrets on in-process moto, and the settings that name them."""
    import boto3

    from chalicelib.bootstrap import bind_tables
    from chalicelib.config import load_settings
    from devtools.provision import provision

    os.environ.update(provision(boto3.Session(region_name="eu-west-3")))
    settings = load_settings()
    bind_tables(settings)
    return settings


def _new_cipher(cipher_kind: str, settings: Any) -> Any:
    """A cipher of its own (its own data-key cache): the real envelope cipher, or a fake one."""
    if cipher_kind == "real":
        import botocore.session

        from chalicelib.bootstrap import envelope_cipher

        return envelope_cipher(settings, botocore_session=botocore.session.Session())
    from testkit.fakes import FakeCipher

    return FakeCipher()


def _seed(records: int, clock: Any, cipher: Any) -> float:
    """Seconds taken to seed `records` ready records, a thousand at a time."""
    from testkit.export_support import seed

    started = time.perf_counter()
    for start in range(0, records, 1000):
        seed(min(1000, records - start), clock, cipher, start=start)
    return time.perf_counter() - started


def _export_run(
    options: ExportBenchOptions, settings: Any, sidep: Any, clock: Any, batch_ends: list[tuple[float, int]]
) -> Any:
    """The ExportRun under test, its queue noting in `batch_ends` when each batch settled."""
    import boto3

    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.adapters.sidep import Hl7BatchSender
    from chalicelib.bootstrap import audit_journal
    from chalicelib.domain.delivery import BackoffPolicy
    from chalicelib.services.export import ExportRun, ExportSettings
    from devtools.fake_sidep import InProcessTransport
    from testkit.export_support import sender_for

    class TimedQueue(DynamoDbExportQueue):
        def settle(self, items: Any, now: Any, outcomes: dict[str, str]) -> int:
            changed = super().settle(items, now, outcomes)
            batch_ends.append((time.perf_counter(), len(items)))
            return changed

    # https: the real client over mutual TLS to the fake receiver's server; inprocess: the
    # receiver called directly (no TLS: the CPU figure is then ours without the TLS client)
    sender = (
        sender_for(sidep, 30.0)
        if options.transport == "https"
        else Hl7BatchSender(InProcessTransport(sidep.receiver))
    )
    client = boto3.client("dynamodb", region_name="eu-west-3")
    export_settings = ExportSettings(
        time_budget_seconds=10**9,
        batch_size=options.batch_size,
        lease_seconds=600,
        batch_reserve_seconds=0,
        backoff=BackoffPolicy(),
    )
    kwargs: dict[str, Any] = {}
    if options.max_batches is not None:
        ticks = _stop_after(options.max_batches)
        kwargs["monotonic"] = lambda: next(ticks)
    queue = TimedQueue(client, owner="bench", workers=options.workers)
    cipher = _new_cipher(options.cipher_kind, settings)  # the exporter's own: its data-key cache starts cold
    # The real journal: one audit link per pharmacy per batch, as in production.
    journal = audit_journal(settings, SystemClock())
    return ExportRun(
        queue=queue,
        cipher=cipher,
        sender=sender,
        journal=journal,
        clock=clock,
        settings=export_settings,
        **kwargs,
    )


def _traced_memory(traced_before: int) -> dict[str, Any]:
    """tracemalloc's figures since `traced_before` bytes were traced; stops tracing."""
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*/chalicelib/*")])
    tracemalloc.stop()
    return {
        "traced_peak_above_start_mib": round((peak - traced_before) / 2**20, 2),
        "traced_retained_mib": round((current - traced_before) / 2**20, 2),
        "chalicelib_retained_kib": round(
            sum(stat.size for stat in snapshot.statistics("filename")) / 1024, 1
        ),
    }


def _timed(export_run: Any, options: ExportBenchOptions) -> _Timing:
    # Our own CPU per record needs the profiler, which slows moto's deeply recursive code
    # several-fold: a profiled run gives CPU, an unprofiled one records/s. The timer is
    # this thread's CPU: not wall time (it waits on SI-DEP), nor the fake receiver's thread.
    profiler = cProfile.Profile(time.thread_time) if options.profiled else None
    traced_before = 0
    if options.trace_memory:
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
    with CallCounter() as counter:
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler is not None:
            profiler.enable()
        result = export_run.run()
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu_elapsed = time.process_time() - cpu_started
    return _Timing(
        result=result,
        calls=counter,
        started=started,
        elapsed_seconds=elapsed,
        cpu_seconds=cpu_elapsed,
        profiler=profiler,
        traced=_traced_memory(traced_before) if options.trace_memory else {},
    )


def _batch_rates(started: float, batch_ends: list[tuple[float, int]]) -> list[float]:
    """Records/s of each batch, from the end of the one before (the run's start for the first)."""
    rates = []
    previous = started
    for end, count in batch_ends:
        if end > previous:
            rates.append(count / (end - previous))
        previous = end
    return rates


def _moto_note(records: int, undo_log: bool) -> str:
    return (
        "moto's transact_write_items deep-copies the whole table (its stream included) once per "
        f"item: a 100-item transaction on this {records:,}-record table copies {records * 100:,} "
        "items; DynamoDB does not. "
        + (
            "This run replaced that copy with an undo log of the touched items (bench only, "
            "same all-or-nothing outcome), so records/s reflects our path, not moto's copies."
            if undo_log
            else "This run kept it: records/s falls as the table grows."
        )
    )


def measure(options: ExportBenchOptions) -> dict[str, Any]:
    set_env()
    from moto import mock_aws

    with (
        mock_aws(),
        tempfile.TemporaryDirectory() as tmp,
        moto_transactions_with_an_undo_log() if options.undo_log else nullcontext(),
    ):
        from devtools.fake_sidep import FakeSidep
        from testkit.fakes import FixedClock

        settings = _provisioned_settings()
        clock = FixedClock()
        seed_seconds = _seed(options.records, clock, _new_cipher(options.cipher_kind, settings))
        rss_before = _rss_mib()
        batch_ends: list[tuple[float, int]] = []
        with FakeSidep(Path(tmp) / "sidep") as sidep:
            timing = _timed(_export_run(options, settings, sidep, clock, batch_ends), options)
            ledger = sidep.ledger()
    result, counter, profiler = timing.result, timing.calls, timing.profiler
    stats = pstats.Stats(profiler) if profiler is not None else None
    profiled_cpu, own_cpu, calls, own_calls = (
        own_cpu_seconds(stats) if stats is not None else (None, None, None, None)
    )
    exported = max(1, result.acknowledged)
    round_trips = counter.total("dynamodb") / max(1, result.leased)
    rates = _batch_rates(timing.started, batch_ends)
    elapsed = timing.elapsed_seconds
    out: dict[str, Any] = {
        "records": options.records,
        "cipher": options.cipher_kind,
        "batch_size": options.batch_size,
        "workers": options.workers,
        "batches": result.batches,
        "acknowledged": result.acknowledged,
        "ledger_entries": len(ledger),
        "duplicates": sum(v - 1 for v in ledger.values()),
        "elapsed_seconds": round(elapsed, 3),
        "records_per_second": round(result.acknowledged / elapsed, 1) if elapsed else 0.0,
        "records_per_second_per_batch": summary(rates, 1) if rates else None,
        "seconds_per_batch": summary([options.batch_size / r for r in rates], 4) if rates else None,
        "seed_seconds": round(seed_seconds, 2),
        "peak_rss_mib_before_run": rss_before,
        "peak_rss_mib_after_run": _rss_mib(),
        "kms_calls": counter.by_operation("kms"),
        "kms_calls_per_1000_records": round(counter.total("kms") * 1000 / max(1, result.acknowledged), 2),
        "dynamodb_calls": counter.by_operation("dynamodb"),
        "dynamodb_calls_per_record": round(round_trips, 4),
        "dynamodb_round_trips_per_record": round(round_trips, 4),
        "transact_write_items_per_record": round(
            counter.calls.get("dynamodb:TransactWriteItems", 0) / exported, 4
        ),
        "cpu_seconds": round(timing.cpu_seconds, 3),
        "profiled": options.profiled,
        "profiled_cpu_seconds": None if profiled_cpu is None else round(profiled_cpu, 3),
        "profiled_calls": calls,
        "own_calls": None if own_calls is None else round(own_calls),
        "own_cpu_ms_per_record": None if own_cpu is None else round(own_cpu * 1000 / exported, 3),
        "transport": options.transport,
        "backlog_model": (
            None if own_cpu is None else backlog_model(round(round_trips, 4), own_cpu / exported)
        ),
        "moto_transactions": options.moto_transactions,
        "moto_note": _moto_note(options.records, options.undo_log),
        "batch_throughput": [round(r, 1) for r in rates],
        **timing.traced,
    }
    if stats is not None and os.environ.get("PROFILE_OUT"):
        stats.dump_stats(os.environ["PROFILE_OUT"])
    if options.profile and profiler is not None:
        stream_stats = pstats.Stats(profiler, stream=sys.stderr)
        stream_stats.sort_stats(os.environ.get("SORT", "cumulative")).print_stats(
            int(os.environ.get("TOP", "30"))
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--cipher", choices=("real", "fake"), default="real")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--trace-memory", action="store_true")
    parser.add_argument("--cpu-profile", action="store_true", help="our own CPU per record (slower run)")
    parser.add_argument("--profile", action="store_true", help="--cpu-profile, and print the profile")
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--transport", choices=("https", "inprocess"), default="https")
    parser.add_argument("--moto-transactions", choices=("undo-log", "as-is"), default="undo-log")
    args = parser.parse_args(argv)
    options = ExportBenchOptions(
        records=args.records,
        batch_size=args.batch_size,
        cipher_kind=args.cipher,
        workers=args.workers,
        max_batches=args.max_batches,
        trace_memory=args.trace_memory,
        profile=args.profile,
        cpu_profile=args.cpu_profile,
        transport=args.transport,
        moto_transactions=args.moto_transactions,
    )
    result = measure(options)
    text = json.dumps(result, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
