"""Records per second of one SI-DEP export run, on in-process moto, with the fake receiver (mTLS).

    .venv/bin/python -m bench.export_throughput [--records 10000] [--batch-size 100] [--cipher real|fake]

Seeds N ready records (patients encrypted with the real envelope cipher on moto KMS, or a fake
one), then times one `run_export` from ready to acknowledged, and prints records/s, the per-phase
split and the process's peak RSS. Not a test: numbers depend on the machine.
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
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--cipher", choices=("real", "fake"), default="real")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    for key, value in {
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_METRICS_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        os.environ[key] = value

    import boto3
    import botocore.session
    from moto import mock_aws

    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        from chalicelib.adapters.dynamodb.delivery import DynamoDbExportQueue
        from chalicelib.adapters.dynamodb.models import bind_models
        from chalicelib.config import load_settings
        from chalicelib.devtools.fake_sidep import FakeSidep
        from chalicelib.devtools.provision import provision
        from chalicelib.domain.delivery import BackoffPolicy
        from chalicelib.services.export import ExportSettings, run_export
        from tests.fakes import FakeCipher, FakeJournal, FixedClock
        from tests.integration.test_export_support import seed, sender_for

        env = provision(boto3.Session(region_name="eu-west-3"))
        os.environ.update(env)
        settings = load_settings()
        bind_models(settings)
        cipher: object
        if args.cipher == "real":
            from chalicelib.adapters.crypto import EnvelopeCipher

            cipher = EnvelopeCipher(settings, botocore_session=botocore.session.Session())
        else:
            cipher = FakeCipher()
        clock = FixedClock()
        t0 = time.perf_counter()
        for start in range(0, args.records, 1000):
            seed(min(1000, args.records - start), clock, cipher, start=start)  # type: ignore[arg-type]
        seeded = time.perf_counter() - t0
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        with FakeSidep(Path(tmp) / "sidep") as sidep:
            client = boto3.client("dynamodb", region_name="eu-west-3")
            export_settings = ExportSettings(
                time_budget_seconds=3600,
                batch_size=args.batch_size,
                lease_seconds=600,
                batch_reserve_seconds=0,
                backoff=BackoffPolicy(),
            )
            profiler = cProfile.Profile() if args.profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            summary = run_export(
                queue=DynamoDbExportQueue(client, owner="bench", workers=args.workers),
                cipher=cipher,  # type: ignore[arg-type]
                sender=sender_for(sidep, 30.0),
                journal=FakeJournal(),
                clock=clock,
                settings=export_settings,
            )
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
            ledger = sidep.ledger()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = {
            "records": args.records,
            "cipher": args.cipher,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "acknowledged": summary.acknowledged,
            "ledger_entries": len(ledger),
            "duplicates": sum(v - 1 for v in ledger.values()),
            "elapsed_seconds": round(elapsed, 2),
            "records_per_second": round(summary.acknowledged / elapsed, 1),
            "seed_seconds": round(seeded, 2),
            "peak_rss_mb_before_run": round(rss_before / 1024, 1),
            "peak_rss_mb_after_run": round(rss_after / 1024, 1),
        }
        print(json.dumps(result, indent=2))
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(
                int(os.environ.get("TOP", "25"))
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
