"""bench/results.json, bench/results.md and the plots, from the figures of one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FULL_BACKLOG = 386_970  # Francetest's stuck backlog

TARGETS = {
    "create_vs_floor": 1.5,
    "kms_per_1000_creates": 2,
    "export_records_per_second": 1000,
    "backlog_seconds": 7 * 60,
    "import_vs_boto3": 1.5,
    "zip_mib": 30,
    "unzipped_mib": 80,
    "round_trips_per_record": 0.05,
    "backlog_model_minutes": 4,
    "latency_p95_seconds": 10,
}
# Before batched transactions (bench of 2026-11-29, two conditional UpdateItem per record, one exporter).
BEFORE_TRANSACTIONS = {"round_trips_per_record": 2.015, "records_per_second": 65.0}


def _fmt(figure: dict[str, Any] | None, unit: str = "") -> str:
    if not figure:
        return "n/a"
    spread = f"{figure['min']}–{figure['max']}"
    return f"{figure['median']}{unit} ({spread}, n={figure['n']})"


def _verdict(value: float | None, target: float, *, higher_is_better: bool = False) -> str:
    if value is None:
        return "not measured"
    met = value >= target if higher_is_better else value <= target
    if met:
        return "met"
    factor = target / value if higher_is_better else value / target
    return f"missed ({factor:.1f}× off)"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    create = results.get("create", {})
    export = results.get("export", {})
    cold = results.get("cold_start", {})
    rows = []
    ratio = create.get("ratios", {}).get("create_vs_floor", {}).get("median")
    rows.append(("create path ≤ 1.5× plaintext put_item", ratio, TARGETS["create_vs_floor"], False, "×"))
    kms = create.get("kms_calls", {})
    burst = kms.get("per_1000_creates")
    rows.append(
        ("KMS calls per 1,000 creates ≤ 2 (a burst)", burst, TARGETS["kms_per_1000_creates"], False, "")
    )
    pace = kms.get("at_pace", {})
    rows.append(
        (
            f"KMS calls per 1,000 creates ≤ 2 (one every {pace.get('pace_seconds', 0):.0f} s)",
            pace.get("per_1000_creates"),
            TARGETS["kms_per_1000_creates"],
            False,
            "",
        )
    )
    rate = export.get("records_per_second")
    rows.append(("export ≥ 1,000 records/s", rate, TARGETS["export_records_per_second"], True, "/s"))
    backlog = export.get("backlog_seconds_estimate")
    rows.append((f"{FULL_BACKLOG:,} backlog < 7 min", backlog, TARGETS["backlog_seconds"], False, " s"))
    imp = cold.get("ratio_precompiled_vs_boto3", {}).get("median") if "skipped" not in cold else None
    rows.append(
        (
            f"import app (bytecode) ≤ {TARGETS['import_vs_boto3']}× import boto3",
            imp,
            TARGETS["import_vs_boto3"],
            False,
            "×",
        )
    )
    mib = 1024 * 1024
    zipped = round(cold["zip_bytes"] / mib, 1) if "zip_bytes" in cold else None
    rows.append(("deployment zip ≤ 30 MiB", zipped, TARGETS["zip_mib"], False, " MiB"))
    unzipped = round(cold["unzipped_bytes"] / mib, 1) if "unzipped_bytes" in cold else None
    rows.append(("unzipped ≤ 80 MiB", unzipped, TARGETS["unzipped_mib"], False, " MiB"))
    trips = export.get("dynamodb_round_trips_per_record")
    rows.append(
        (
            "DynamoDB round trips per exported record ≤ 0.05",
            trips,
            TARGETS["round_trips_per_record"],
            False,
            "",
        )
    )
    model = (export.get("backlog_model") or {}).get("minutes")
    rows.append(
        (
            f"{FULL_BACKLOG:,} backlog on DynamoDB (model) < 4 min",
            model,
            TARGETS["backlog_model_minutes"],
            False,
            " min",
        )
    )
    p95 = (results.get("export_latency") or {}).get("p95_seconds")
    rows.append(
        (
            "PUT /result → acknowledged p95 ≤ 10 s (local stack)",
            p95,
            TARGETS["latency_p95_seconds"],
            False,
            " s",
        )
    )
    return [
        {
            "target": name,
            "measured": value,
            "unit": unit,
            "limit": limit,
            "verdict": _verdict(value, limit, higher_is_better=hib),
        }
        for name, value, limit, hib, unit in rows
    ]


def write(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = targets(results)
    written = [out / "results.json", out / "results.md"]
    written[0].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    soak = out / "soak.md"  # the local stack's soak (devtools/soak.py --markdown), measured apart
    text = markdown(results) + ("\n" + soak.read_text(encoding="utf-8") if soak.is_file() else "")
    written[1].write_text(text, encoding="utf-8")
    written += plots(results, out)
    return written


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Run {m['date']} on {m['cpu']} ({m['cpus']} CPUs, {m['memory_gib']} GiB), Python {m['python']}, "
        f"load average at start {m['load_average_at_start']}, commit {m['commit'] or '?'}, "
        f"mode `{r['mode']}`.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
        *_measured(r),
        "Everything runs on in-process moto: times are our CPU plus moto's, on this machine.",
        "Each figure is the median over repeats with its spread (min–max, n); each sits next to",
        "a baseline measured in the same run.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    for t in r["targets"]:
        value = "n/a" if t["measured"] is None else f"{t['measured']}{t['unit']}"
        lines.append(f"| {t['target']} | {value} | {t['verdict']} |")

    c = r.get("create")
    if c:
        ms, ratios, kms = c["ms"], c["ratios"], c["kms_calls"]
        lines += [
            "",
            "## 1. Create path (ms per `POST /v1/tests`, server side)",
            "",
            f"{c['repeats']} repeats of {c['per_repeat']} creates at one pharmacy.",
            "",
            "| variant | ms per create | vs floor |",
            "| --- | --- | --- |",
            f"| floor: plaintext `put_item` (boto3, same moto) | {_fmt(ms['floor'])} | 1 |",
            "| naive secure: 1 KMS data key per record, signed default suite, `put_item` "
            f"| {_fmt(ms['naive'])} | "
            f"{round(ms['naive']['median'] / ms['floor']['median'], 2)} |",
            f"| **POST /v1/tests** | {_fmt(ms['create'])} | {_fmt(ratios['create_vs_floor'])} |",
            f"| POST /v1/tests with Idempotency-Key | {_fmt(ms['create_idem'])} "
            f"| {_fmt(ratios['create_idem_vs_floor'])} |",
            "",
            f"POST /v1/tests against the naive secure design: {_fmt(ratios['create_vs_naive'])}×.",
            f"DynamoDB calls per create: {c['dynamodb_calls_per_create']} "
            f"({c['dynamodb_calls_by_operation']}).",
            *(
                [
                    "AWS round trips per create: "
                    f"**{c['round_trips_per_create']['create']}** (with an Idempotency-Key: "
                    f"{c['round_trips_per_create']['create_with_idempotency_key']}; goal ≤ "
                    f"{c['round_trips_per_create']['goal']}: the membership read and one transaction), "
                    f"beside the plaintext floor's {c['round_trips_per_create']['plaintext_floor']}."
                ]
                if "round_trips_per_create" in c
                else []
            ),
            "",
            f"Where a create's time goes (cProfile over {c['breakdown']['creates_profiled']} creates, "
            f"{c['breakdown']['ms_per_create_under_profiler']} ms each under the profiler):",
            "",
            "| step | % of create |",
            "| --- | --- |",
        ]
        lines += [f"| {step} | {pct} |" for step, pct in c["breakdown"]["percent"].items()]
        lines += [
            "",
            "## 2. KMS calls",
            "",
            f"- per 1,000 creates at one pharmacy, warm process, a burst ({kms['creates']} creates): "
            f"**{kms['per_1000_creates']}** ({kms['by_operation']}); the first 10 creates of a cold process: "
            f"{kms['cold_process_first_10_creates']}.",
            "- per 1,000 creates at one pharmacy at its pace "
            f"(one every {kms['at_pace']['pace_seconds']:.0f} s, "
            f"the SDK cache's clock simulated, {kms['at_pace']['creates']} creates): "
            f"**{kms['at_pace']['per_1000_creates']}** ({kms['at_pace']['by_operation']}).",
            f"- the naive design: {kms['naive_per_record'] * 1000} per 1,000 creates.",
        ]
    e = r.get("export")
    if e:
        lines.append(
            f"- per 1,000 records decrypted by an export: **{e['kms_calls_per_1000_records']}** "
            f"({e['kms_calls']})."
        )
        lines += [
            "",
            "## 3. Export throughput",
            "",
            "From ready to acknowledged: queue, leases, decrypt, HL7, mutual TLS to the fake receiver,",
            "outcomes, audit.",
            "",
            "| figure | value |",
            "| --- | --- |",
            f"| records | {e['records']:,} (batches of {e['batch_size']}, {e['workers']} writer thread(s), "
            f"{e['cipher']} cipher) |",
            f"| acknowledged / duplicates at the receiver | {e['acknowledged']:,} / {e['duplicates']} |",
            f"| **records/s over the run** | **{e['records_per_second']}** ({e['elapsed_seconds']} s) |",
            f"| records/s per batch | {_fmt(e['records_per_second_per_batch'])} |",
            f"| DynamoDB calls per record | {e['dynamodb_calls_per_record']} ({e['dynamodb_calls']}) |",
            f"| peak RSS before / after the run (moto holds the table in this process) | "
            f"{e['peak_rss_mib_before_run']} / {e['peak_rss_mib_after_run']} MiB |",
            f"| time to clear {FULL_BACKLOG:,} records at this rate | {e['backlog_seconds_estimate']} s "
            f"({'measured' if e['records'] >= FULL_BACKLOG else 'extrapolated; `--scale full` measures it'})"
            " |",
            "",
            "![export throughput](export_throughput.png)",
        ]
    cold = r.get("cold_start")
    if cold:
        lines += ["", "## 4. Cold start (import from the unzipped package)", ""]
        if "skipped" in cold:
            lines.append(f"Skipped: {cold['skipped']}.")
        else:
            i = cold["import_ms"]
            lines += [
                "| import | ms | vs `import boto3` |",
                "| --- | --- | --- |",
                f"| `import boto3` (baseline) | {_fmt(i['boto3'])} | 1 |",
                f"| `import app`, precompiled bytecode | {_fmt(i['app_precompiled'])} "
                f"| {_fmt(cold['ratio_precompiled_vs_boto3'])} |",
                f"| `import app`, sources only | {_fmt(i['app_source_only'])} "
                f"| {_fmt(cold['ratio_source_only_vs_boto3'])} |",
                "",
                f"Zip {cold['zip_bytes'] / 2**20:.1f} MiB, unzipped {cold['unzipped_bytes'] / 2**20:.1f} MiB "
                f"({cold['files']:,} files, {cold['pyc_files']:,} .pyc).",
            ]
            per_function = cold.get("per_function")
            if per_function:
                lines += [
                    "",
                    "Per function: its handler module, as its template names it, then (`built`) every "
                    "module it has loaded once its first invocation built its collaborators (no AWS call).",
                    "",
                    "| handler module | functions | ms | vs `import boto3` |",
                    "| --- | --- | --- | --- |",
                    *(
                        f"| `{name}` | {', '.join(f['functions'])} | {_fmt(f['import_ms'])} "
                        f"| {_fmt(f['ratio_vs_boto3'])} |"
                        for name, f in per_function.items()
                    ),
                ]
    cv = r.get("curves")
    if cv:
        lines += [
            "",
            "## 5. Costs that grow with the data (1×, 10×, 100×)",
            "",
            "| size | records in table | list page of 50 (ms) | export batch of 100 (ms) "
            "| exporter traced peak (MiB) "
            "| audit events | verify chain (ms) | verify per event (µs) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in cv["rows"]:
            lines.append(
                f"| {row['factor']}× | {row['records']:,} | {_fmt(row['list_page_ms'])} "
                f"| {row['export_batch_ms']} | {row['export_traced_peak_mib']} | {row['audit_events']:,} "
                f"| {_fmt(row['audit_verify_ms'])} "
                f"| {row['audit_verify_us_per_event']} |"
            )
        lines += ["", "![cost curves](cost_curves.png)"]
    lines += _national_scale(r)
    lines += _batch(r.get("batch"))
    lines += _review(r.get("review"))
    if r.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def _batch(b: dict[str, Any] | None) -> list[str]:
    """`POST /v1/test-batches` beside the same records created one by one (bench/batch_path.py)."""
    if not b:
        return []
    trips, ms = b["round_trips"], b["ms_per_record"]
    return [
        "",
        f"## Batch path ({b['items']} records, `POST /v1/test-batches`)",
        "",
        f"{b['repeats']} repeats, interleaved. AWS round trips per {b['items']} records (goal ≤ "
        f"{b['round_trips_goal_batch']} for a batch) and server ms per record:",
        "",
        "| variant | round trips | ms per record |",
        "| --- | --- | --- |",
        f"| **one batch** (membership, claims' read, 3 transactions) | **{trips['batch']}** "
        f"| {_fmt(ms['batch'])} |",
        f"| {b['items']} × `POST /v1/tests` with an Idempotency-Key | {trips['one_by_one']} "
        f"| {_fmt(ms['one_by_one'])} |",
        f"| the batch replayed whole (a cut answer) | {trips['replay']} | {_fmt(ms['replay'])} |",
        "",
        f"A whole batch of {b['items']}: {_fmt(b['ms_per_batch'])} ms (API Gateway allows 29 s).",
    ]


def _review(v: dict[str, Any] | None) -> list[str]:
    """The journal's automatic review, the audit stream's second consumer (bench/review_cost.py)."""
    if not v:
        return []
    cpu, trips = v["cpu"], v["round_trips"]
    return [
        "",
        "## The journal's automatic review (`review_access`)",
        "",
        f"CPU per journal event (stream record parsed, detectors run, stores in memory), over "
        f"{cpu['events']:,} events of {cpu['weeks']} simulated normal week(s): "
        f"{_fmt(cpu['us_per_event'])} µs ({cpu['alerts']} alert(s) raised).",
        "",
        f"AWS round trips per stream batch of {v['batch']} links (no table scan, no journal read):",
        "",
        "| batch | round trips |",
        "| --- | --- |",
        f"| one pharmacy | {trips['one_pharmacy']} |",
        f"| the same batch replayed | {trips['replayed']} |",
        f"| ten pharmacies | {trips['ten_pharmacies']} |",
        f"| one pharmacy, one alert raised | {trips['one_alert_raised']} |",
    ]


def _measured(r: dict[str, Any]) -> list[str]:
    """When each section was measured, if they were not all measured by this run."""
    measured = r.get("measured") or {}
    if len({(v or {}).get("date") for v in measured.values()}) <= 1:
        return []
    parts = [f"{key} {v.get('date')} (commit {v.get('commit') or '?'})" for key, v in measured.items()]
    return ["Sections measured at different times: " + "; ".join(parts) + ".", ""]


def _national_scale(r: dict[str, Any]) -> list[str]:
    e, lat = r.get("export"), r.get("export_latency")
    if not e and not lat:
        return []
    lines = ["", "## 6. The export at national scale", ""]
    if e and e.get("own_cpu"):
        cpu, as_is, model = e["own_cpu"], e["moto_as_is"], e["backlog_model"]
        before = BEFORE_TRANSACTIONS
        per_shard = -(-model["records"] // model["shards"])
        lines += [
            "| figure | value | before batching |",
            "| --- | --- | --- |",
            f"| **DynamoDB round trips per exported record** (every call counted, "
            f"{e['records']:,} records) | **{e['dynamodb_round_trips_per_record']}** "
            f"({e['dynamodb_calls']}) | {before['round_trips_per_record']} |",
            "| **our own CPU per exported record** (cProfile, this thread's CPU; botocore, boto3, "
            f"moto and what they call excluded; {cpu['records']:,} records), less cProfile's own "
            f"cost ({cpu.get('profiler_overhead_us_per_call', '?')} µs per call, from the same export "
            f"unprofiled, × {cpu.get('own_calls_per_record', '?')} of our calls per record) "
            f"| **{e['own_cpu_ms_per_record']} ms** (as profiled: {cpu['own_cpu_ms_per_record']} ms) | |",
            "| records/s on moto, its transactions' whole-table copies replaced by an undo log "
            f"({e['records']:,} records) | {e['records_per_second']} | {before['records_per_second']} |",
            f"| records/s on moto as it is ({as_is['records']:,} records) "
            f"| {as_is['records_per_second']} | |",
            f"| **{FULL_BACKLOG:,}-record backlog on DynamoDB (model)** | **{model['minutes']} min** | |",
            "",
            f"moto: {as_is['moto_note']}",
            "",
            f"The model: {model['shards']} shards in parallel ({model['concurrency']} at once), per "
            f"shard {per_shard:,} records × ({model['round_trips_per_record']} round trips × "
            f"{model['round_trip_seconds'] * 1000:.0f} ms + "
            f"{model['cpu_seconds_per_record'] * 1000:.3f} ms of our CPU) + one SI-DEP answer of "
            f"{model['sidep_seconds_per_batch'] * 1000:.0f} ms per batch of 100.",
        ]
    if lat:
        lines += [
            "",
            "PUT `/v1/tests/{id}/result` → `acknowledged` on the local stack (`make run`'s: the "
            f"trigger on moto's stream, the sweeper every {lat['sweeper_every_seconds']} s), "
            f"{lat['acknowledged']} of {lat['records']} results set one after the other: "
            f"p50 **{lat['p50_seconds']} s**, p95 **{lat['p95_seconds']} s**, "
            f"{_fmt(lat['latency_seconds'], ' s')} ({lat['note']}).",
        ]
    return lines


def plots(r: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    e = r.get("export")
    if e and e.get("batch_throughput"):
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=90)
        rates = e["batch_throughput"]
        ax.plot(range(1, len(rates) + 1), rates, lw=1, label="per batch")
        ax.axhline(e["records_per_second"], color="C1", ls="--", label=f"run: {e['records_per_second']}/s")
        ax.axhline(TARGETS["export_records_per_second"], color="C3", ls=":", label="target 1,000/s")
        ax.set_yscale("log")
        ax.set_xlabel(f"batch ({e['batch_size']} records)")
        ax.set_ylabel("records/s")
        ax.set_title(f"SI-DEP export on moto, {e['records']:,} records")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "export_throughput.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    cv = r.get("curves")
    if cv and cv["rows"]:
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=90)
        factors = [row["factor"] for row in cv["rows"]]
        series = {
            "list page of 50": [row["list_page_ms"]["median"] for row in cv["rows"]],
            "export batch of 100": [row["export_batch_ms"] for row in cv["rows"]],
            "verify audit chain": [row["audit_verify_ms"]["median"] for row in cv["rows"]],
        }
        for label, values in series.items():
            ax.plot(factors, values, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(factors, [f"{f}×" for f in factors])
        ax.set_xlabel(f"data size (× {cv['base_records']} records / {cv['base_events']} audit events)")
        ax.set_ylabel("ms (median)")
        ax.set_title("Costs that grow with the data (moto)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "cost_curves.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
