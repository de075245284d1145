"""Figure 5: the cost of what grows with the data, at 1x, 10x and 100x a base size.

One moto account, grown in place (each size adds to the previous one):
  list page       one `list_day` page (50 records) of a pharmacy's day, the table holding N records
  export batch    one export batch (100 records) with N records waiting; the exporter's traced
                  memory peak (tracemalloc) for those batches: flat if the queue is streamed
  audit verify    verifying a pharmacy's audit chain of N events (cost per event should stay flat)

On real DynamoDB a list page and an export batch read one index partition range: their cost does
not depend on the table size. moto finds index items by scanning the whole table, so its curve
rises with N: that slope is the mock's, which is why the per-size figures are kept apart. moto's
transactions would add a whole-table copy per item: the export runs with an undo log instead
(bench.common.moto_transactions_with_an_undo_log).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.common import moto_account, moto_transactions_with_an_undo_log, set_env, summary

BATCH = 100
EXPORT_BATCHES = 3


def measure(
    base_records: int = 200, base_events: int = 50, factors: tuple[int, ...] = (1, 10, 100)
) -> dict[str, Any]:
    set_env()  # before the app's modules read their log level
    import boto3

    from bench.export_throughput import _stop_after
    from chalicelib.adapters.audit_key import public_key_verifier
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.audit_checkpointer import KmsSigner
    from chalicelib.adapters.dynamodb.audit_items import verify_stored
    from chalicelib.adapters.dynamodb.export_queue import DynamoDbExportQueue
    from chalicelib.adapters.dynamodb.records import DynamoDbRecordRepository
    from chalicelib.bootstrap import audit_journal
    from chalicelib.config import get_settings
    from chalicelib.domain.audit_chain import AuditEvent
    from chalicelib.domain.delivery import BackoffPolicy
    from chalicelib.services.export import ExportRun, ExportSettings
    from devtools.fake_sidep import FakeSidep
    from testkit.export_support import FINESSES, seed, sender_for
    from testkit.fakes import FakeCipher, FakeJournal, FixedClock

    rows: list[dict[str, Any]] = []
    with (
        moto_account(),
        moto_transactions_with_an_undo_log(),
        tempfile.TemporaryDirectory() as tmp,
        FakeSidep(Path(tmp) / "sidep") as sidep,
    ):
        settings = get_settings()
        clock = FixedClock()
        cipher = FakeCipher()
        repository = DynamoDbRecordRepository()
        client = boto3.client("dynamodb", region_name="eu-west-3")
        kms = boto3.client("kms", region_name="eu-west-3")
        journal = audit_journal(settings, SystemClock())
        verifier = public_key_verifier(KmsSigner(kms, settings.audit_key_id).public_key()[0])
        day: date = clock.now().date()
        seeded = events = 0
        for factor in factors:
            records, chain_events = base_records * factor, base_events * factor
            started = time.perf_counter()
            while seeded < records:
                count = min(1000, records - seeded)
                seed(count, clock, cipher, start=seeded)
                seeded += count
            while events < chain_events:
                journal.append(
                    AuditEvent(
                        action="read",
                        outcome="success",
                        actor="bench",
                        role="pharmacist",
                        finess=FINESSES[0],
                        record_ids=(f"r{events}",),
                        request_id=f"q{events}",
                    )
                )
                events += 1
            setup = time.perf_counter() - started

            pages = []
            for _ in range(5):
                t0 = time.perf_counter()
                page = repository.list_day(FINESSES[0], day, status=None, limit=50, cursor=None)
                pages.append(1000 * (time.perf_counter() - t0))
            assert len(page.items) == min(50, records // len(FINESSES))

            # A few export batches with `records` waiting (the earlier sizes' batches are gone): timed
            # plain, then a few more under tracemalloc for the exporter's memory peak.
            def batches(count: int, owner: str) -> tuple[float, int]:
                ticks = _stop_after(count)
                t0 = time.perf_counter()
                result = ExportRun(
                    queue=DynamoDbExportQueue(client, owner=owner),
                    cipher=cipher,
                    sender=sender_for(sidep, 30.0),
                    journal=FakeJournal(),
                    clock=clock,
                    settings=ExportSettings(
                        time_budget_seconds=10**9,
                        batch_size=BATCH,
                        lease_seconds=600,
                        batch_reserve_seconds=0,
                        backoff=BackoffPolicy(),
                    ),
                    monotonic=lambda: next(ticks),
                ).run()
                return time.perf_counter() - t0, result.batches

            export_seconds, export_batches = batches(EXPORT_BATCHES, f"curve-{factor}")
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            batches(2, f"curve-mem-{factor}")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

            verifies = []
            for _ in range(3):
                t0 = time.perf_counter()
                report = verify_stored(FINESSES[0], verifier, now=datetime.now(UTC))
                verifies.append(1000 * (time.perf_counter() - t0))
            assert report.ok, report.summary()
            rows.append(
                {
                    "factor": factor,
                    "records": records,
                    "audit_events": chain_events,
                    "setup_seconds": round(setup, 1),
                    "list_page_ms": summary(pages, 2),
                    "export_batch_ms": round(1000 * export_seconds / max(1, export_batches), 1),
                    "export_batches": export_batches,
                    "export_traced_peak_mib": round((peak - before) / 2**20, 2),
                    "audit_verify_ms": summary(verifies, 1),
                    "audit_verify_us_per_event": round(1000 * summary(verifies)["median"] / chain_events, 1),
                }
            )
    return {
        "base_records": base_records,
        "base_events": base_events,
        "export_batch_size": BATCH,
        "rows": rows,
    }
