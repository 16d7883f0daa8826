"""`cost`: what the job runs and the buckets are estimated to cost (prices in covid_pipeline.costs)."""

from __future__ import annotations

import argparse

from covid_pipeline.commands.plumbing import _orchestrator, _print_json, _session, _short_id, _when, format_table


def cmd_cost(args: argparse.Namespace) -> int:
    from covid_pipeline.costs import PRICES, cost_per_day, storage_cost, summarize
    from covid_pipeline.orchestrator import parse_day

    start = parse_day(args.start_date, "--start-date") if args.start_date else None
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        records = orchestrator.records(started_since=start, with_manifests=False)
        run_costs = [r.cost for r in records]
        storage = storage_cost(orchestrator.bucket_sizes())
        summary = summarize(run_costs, storage)
        summary["start_date"] = start.isoformat() if start else None
        if args.json:
            _print_json(summary)
            return 0
        since = f" since {start.isoformat()}" if start else ""
        print(f"Glue runs{since}: {len(records)}, estimated ${summary['total_glue_usd']:.4f}")
        rows = [
            [
                _short_id(r.run_id),
                r.state,
                _when(r.started_on),
                f"{r.cost.execution_seconds}s",
                f"{r.cost.billed_seconds}s",
                f"{r.cost.dpus:g}",
                f"{r.cost.dpu_hours:.4f}",
                f"${r.cost.usd:.4f}",
            ]
            for r in records
        ]
        if rows:
            print(
                format_table(
                    ["run id", "state", "started", "ran", "billed", "DPU", "DPU-h", "cost"], rows, (3, 4, 5, 6, 7)
                )
            )
            print()
            day_rows = [
                [d.day.isoformat(), d.runs, f"{d.dpu_hours:.4f}", f"${d.usd:.4f}"] for d in cost_per_day(run_costs)
            ]
            print(format_table(["day", "runs", "DPU-h", "cost"], day_rows, (1, 2, 3)))
            print()
        bucket_rows = [[b, f"{n / 1024**2:,.2f} MiB"] for b, n in sorted(storage.bytes_by_bucket.items())]
        if bucket_rows:
            print(format_table(["bucket", "size"], bucket_rows, (1,)))
        print(f"S3 storage: {storage.gb:.4f} GB -> ${storage.usd_per_month:.4f}/month")
        print("Lambda and SQS: negligible at this volume (well under $0.01/month)")
        price = PRICES["glue_dpu_hour"]
        print(
            f"prices: ${price.usd}/DPU-hour (min. 1 min per run), ${PRICES['s3_standard_gb_month'].usd}/GB-month; "
            "see covid_pipeline/costs.py"
        )
        return 0
