"""`make bench`: every figure of bench/results.md in one run, each next to its baseline.

    .venv/bin/python -m bench.run [--scale full] [--quick] [--out bench]
        [--only create,export,cold,curves,latency,batch,review]

Default: 5×200 creates, an export of 10,000 records (and a profiled one of 1,000 for our CPU, and
one of 300 on moto's own transactions), curves at 500/5,000/50,000 records and 50/500/5,000 audit
events, 7 cold imports each, PUT -> acknowledged over 200 records on the local stack, 3 batches of
100 records beside 100 single creates, the journal review over 4 simulated weeks (about 12
minutes here). `--scale full` exports 386,970 records (Francetest's backlog; hours on moto).
`--quick` is a smoke run of seconds. The export runs in a child process per size, so that its
peak RSS is its own. With `--only` a subset, the other sections of the existing results.json
are kept as they were measured (`measured` says when, per section).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report
from bench.common import machine
from bench.export_throughput import backlog_model, profiler_overhead_per_call

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("create", "export", "cold", "curves", "latency", "batch", "review")
# the results' key of each section
SECTION_KEYS = ("create", "export", "cold_start", "curves", "export_latency", "batch", "review")
SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "repeats": 2,
        "per_repeat": 8,
        "profile": 4,
        "pace": 8,
        "export": 30,
        "export_profiled": 20,
        "export_as_is": 10,
        "latency": 3,
        "base": 6,
        "events": 3,
        "factors": (1, 10),
        "cold_runs": 1,
        "batch_repeats": 1,
        "batch_items": 10,
        "review_weeks": 1,
        "review_repeats": 1,
    },
    "default": {
        "repeats": 5,
        "per_repeat": 200,
        "profile": 100,
        "pace": 200,
        "export": 10_000,
        "export_profiled": 1_000,
        "export_as_is": 300,
        "latency": 200,
        "base": 500,
        "events": 50,
        "factors": (1, 10, 100),
        "cold_runs": 7,
        "batch_repeats": 3,
        "batch_items": 100,
        "review_weeks": 4,
        "review_repeats": 3,
    },
}


def _export(records: int, cipher: str, *options: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        out = Path(tmp) / "export.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.export_throughput",
                "--records",
                str(records),
                "--cipher",
                cipher,
                "--json-out",
                str(out),
                *options,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["backlog_seconds_estimate"] = (
        round(report.FULL_BACKLOG / result["records_per_second"]) if result["records_per_second"] else None
    )
    return result


def _step(name: str) -> None:
    print(f"bench: {name}...", file=sys.stderr, flush=True)


def _create(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench import create_path

    _step("create path")
    return create_path.measure(size["repeats"], size["per_repeat"], size["profile"], size["pace"])


def _export_figures(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    _step(f"export of {size['export']:,} records")
    export = _export(size["export"], "real")
    _step(f"export of {size['export_profiled']:,} records under the profiler (our CPU), and without")
    profiled = _export(size["export_profiled"], "real", "--cpu-profile")
    unprofiled = _export(size["export_profiled"], "real")
    _step(f"export of {size['export_as_is']:,} records on moto's own transactions")
    as_is = _export(size["export_as_is"], "real", "--moto-transactions", "as-is")
    # cProfile's own cost per call event, from the same export with and without it: taken
    # off our calls, what is left is our CPU as it runs unprofiled
    overhead = profiler_overhead_per_call(
        profiled["cpu_seconds"], unprofiled["cpu_seconds"], profiled["profiled_calls"]
    )
    corrected_ms = max(
        0.0,
        profiled["own_cpu_ms_per_record"] - overhead * profiled["own_calls"] * 1000 / profiled["records"],
    )
    export["own_cpu"] = {
        **{
            key: profiled[key]
            for key in ("records", "own_cpu_ms_per_record", "profiled_cpu_seconds", "dynamodb_calls")
        },
        "cpu_seconds_profiled_run": profiled["cpu_seconds"],
        "cpu_seconds_unprofiled_run": unprofiled["cpu_seconds"],
        "profiler_overhead_us_per_call": round(overhead * 1e6, 3),
        "own_calls_per_record": round(profiled["own_calls"] / profiled["records"]),
        "own_cpu_ms_per_record_corrected": round(corrected_ms, 3),
    }
    export["own_cpu_ms_per_record"] = round(corrected_ms, 3)
    export["backlog_model"] = backlog_model(export["dynamodb_round_trips_per_record"], corrected_ms / 1000)
    export["moto_as_is"] = {
        key: as_is[key]
        for key in ("records", "records_per_second", "elapsed_seconds", "dynamodb_calls", "moto_note")
    }
    return export


def _cold_start(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench import cold_start

    _step("cold start")
    return cold_start.measure(Path(args.zip), size["cold_runs"])


def _curves(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench import curves

    _step("cost curves")
    return curves.measure(size["base"], size["events"], size["factors"])


def _export_latency(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench import export_latency

    _step(f"PUT /result -> acknowledged over {size['latency']} records on the local stack")
    return export_latency.measure(size["latency"])


def _batch(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench import batch_path

    _step(f"batches of {size['batch_items']} records beside single creates")
    return batch_path.measure(size["batch_repeats"], size["batch_items"])


def _review(size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench import review_cost

    _step(f"the journal's review over {size['review_weeks']} simulated week(s), its round trips per batch")
    return review_cost.measure(size["review_weeks"], size["review_repeats"])


# each section's measure, in SECTIONS' order
MEASURES: tuple[Callable[[dict[str, Any], argparse.Namespace], dict[str, Any]], ...] = (
    _create,
    _export_figures,
    _cold_start,
    _curves,
    _export_latency,
    _batch,
    _review,
)


def _kept_sections(previous: Path) -> dict[str, Any]:
    """The sections of an earlier results.json, each with when (and at which commit) it was measured."""
    kept = json.loads(previous.read_text(encoding="utf-8"))
    stamp = kept.get("machine", {})
    kept_measured = kept.get("measured") or {}
    return {
        "measured": {
            key: kept_measured.get(key) or {"date": stamp.get("date"), "commit": stamp.get("commit")}
            for key in SECTION_KEYS
            if key in kept
        },
        **{key: kept[key] for key in SECTION_KEYS if key in kept},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run")
    parser.add_argument("--scale", choices=("default", "full"), default="default")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks the machinery, not the speed"
    )
    parser.add_argument("--out", default="bench")
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--zip", default="build/package/deployment.zip")
    args = parser.parse_args(argv)
    size = dict(SIZES["quick" if args.quick else "default"])
    if args.scale == "full":
        size["export"] = report.FULL_BACKLOG
    only = set(args.only.split(","))

    results: dict[str, Any] = {
        "machine": machine(),
        "mode": "quick" if args.quick else args.scale,
        "notes": [],
    }
    previous = Path(args.out) / "results.json"
    if set(SECTIONS) - only and previous.is_file() and not args.quick:
        results.update(_kept_sections(previous))
    results.setdefault("measured", {})
    now = {"date": results["machine"]["date"], "commit": results["machine"]["commit"]}
    timings: dict[str, float] = {}
    for name, key, section in zip(SECTIONS, SECTION_KEYS, MEASURES, strict=True):
        if name in only:
            started = time.perf_counter()
            results[key] = section(size, args)
            results["measured"][key] = now
            timings[name] = time.perf_counter() - started
    results["bench_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    notes_file = Path(args.out) / "notes.md"
    if notes_file.is_file() and not args.quick:
        results["notes"] = [
            line[2:].strip()
            for line in notes_file.read_text(encoding="utf-8").splitlines()
            if line.startswith("- ")
        ]
    for path in report.write(results, Path(args.out)):
        print(f"bench: wrote {path}", file=sys.stderr)
    for target in results["targets"]:
        print(
            f"  {target['target']}: {target['measured']}{target['unit']} -> {target['verdict']}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
