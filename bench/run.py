"""`make bench`: every figure of issue 7 in one run, each next to its baseline.

    .venv/bin/python -m bench.run [--scale full] [--quick] [--out bench] [--only create,export,cold,curves]

Default: 5×200 creates, an export of 10,000 records, curves at 500/5,000/50,000 records and
50/500/5,000 audit events, 7 cold imports each (about 8 minutes here). `--scale full` exports
386,970 records (Francetest's backlog; hours on moto). `--quick` is a smoke run of seconds.
The export runs in a child process per size, so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.common import machine

ROOT = Path(__file__).resolve().parents[1]
SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "repeats": 2,
        "per_repeat": 8,
        "profile": 4,
        "pace": 8,
        "export": 30,
        "base": 6,
        "events": 3,
        "factors": (1, 10),
        "cold_runs": 1,
    },
    "default": {
        "repeats": 5,
        "per_repeat": 200,
        "profile": 100,
        "pace": 200,
        "export": 10_000,
        "base": 500,
        "events": 50,
        "factors": (1, 10, 100),
        "cold_runs": 7,
    },
}


def _export(records: int, cipher: str) -> dict[str, Any]:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run")
    parser.add_argument("--scale", choices=("default", "full"), default="default")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks the machinery, not the speed"
    )
    parser.add_argument("--out", default="bench")
    parser.add_argument("--only", default="create,export,cold,curves")
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
    timings: dict[str, float] = {}

    def step(name: str) -> float:
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        return time.perf_counter()

    if "create" in only:
        from bench import create_path

        t0 = step("create path")
        results["create"] = create_path.measure(
            size["repeats"], size["per_repeat"], size["profile"], size["pace"]
        )
        timings["create"] = time.perf_counter() - t0
    if "export" in only:
        t0 = step(f"export of {size['export']:,} records")
        results["export"] = _export(size["export"], "real")
        timings["export"] = time.perf_counter() - t0
    if "cold" in only:
        from bench import cold_start

        t0 = step("cold start")
        results["cold_start"] = cold_start.measure(Path(args.zip), size["cold_runs"])
        timings["cold"] = time.perf_counter() - t0
    if "curves" in only:
        from bench import curves

        t0 = step("cost curves")
        results["curves"] = curves.measure(size["base"], size["events"], size["factors"])
        timings["curves"] = time.perf_counter() - t0
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
