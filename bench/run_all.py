"""`make bench`: every benchmark, one table, bench/results/latest.{json,md}, and the README's table.

    python -m bench.run_all [--repeats 3] [--smoke] [--merge]
        [--only job,incremental,warm,scale,s3a,scale_s3a,terraform,e2e,warehouse,queries,awsglue]

--smoke runs the harness end to end on tiny generated input (what `make test` does, so it cannot rot);
its results go to bench/results/smoke.* and never touch the README.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench import datasets
from bench.harness import WORK_DIR, Result, machine, print_table, update_readme, write_results

ALL = ("job", "incremental", "warm", "scale", "s3a", "scale_s3a", "terraform", "e2e", "warehouse", "queries", "awsglue")
# Steps that compare with (or read the output of) another step's run: the full run of "job", or the 1x S3A run.
NEEDS = {"incremental": "job", "warm": "job", "scale": "job", "s3a": "job", "queries": "job", "scale_s3a": "s3a"}


def run(only: set[str], repeats: int, smoke: bool, scale_factor: int) -> tuple[list[Result], list[str]]:
    """The rows of the steps in ``only``, and the markdown sections written below the table (the profile)."""
    from bench import job_bench, query_bench

    results: list[Result] = []
    sections: list[str] = []
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    if smoke:
        from covid_pipeline import sample_data

        dataset = sample_data.generate(datasets.fresh_dir(WORK_DIR / "smoke_input"))
        input_dir, lookup = dataset.lookup.parent, dataset.lookup
        files = sorted((f.path for f in dataset.files), key=lambda p: datasets._date_key(p.name))
        label = f"sample data, {len(files)} files"
    else:
        files = datasets.jhu_files()
        input_dir, lookup = datasets.JHU_DAILY, datasets.UID_LOOKUP
        label = f"JHU, {len(files)} files"

    steps: list[tuple[str, Callable[[], list[Result]]]] = []
    full_median = duckdb_median = 0.0

    def job() -> list[Result]:
        nonlocal full_median, duckdb_median
        rows, full_median, duckdb_median, profile = job_bench.full_vs_duckdb(input_dir, files, lookup, repeats, label)
        sections.append(profile)
        return rows

    steps.append(("job", job))
    steps.append(("incremental", lambda: job_bench.incremental(files, lookup, repeats, full_median)))
    steps.append(("warm", lambda: job_bench.warm_worker(files, lookup, repeats, full_median, duckdb_median, label)))
    if not smoke:
        one_x_rows = 1_669_907  # rows of the 495 JHU files (../shared/data/README.md)
        steps.append(("scale", lambda: job_bench.scale(files, lookup, scale_factor, full_median, one_x_rows)))
        s3a_seconds = 0.0

        def s3a() -> list[Result]:
            nonlocal s3a_seconds
            rows, s3a_seconds = job_bench.via_s3a(files, lookup, full_median, label)
            return rows

        steps.append(("s3a", s3a))
        steps.append(("scale_s3a", lambda: job_bench.scale_via_s3a(lookup, scale_factor, s3a_seconds, one_x_rows)))
        from bench import e2e_bench, terraform_bench

        steps.append(("terraform", lambda: terraform_bench.apply_and_restart(repeats)))
        steps.append(("e2e", e2e_bench.demo_upload_to_queryable))

        def warehouse() -> list[Result]:
            from bench import warehouse_load

            # the full run's real output when the job step ran, else a synthetic output of the same size
            job_output = WORK_DIR / "job_full" / "output"
            return warehouse_load.as_results(
                warehouse_load.measure(job_output=job_output if job_output.is_dir() else None)
            )

        steps.append(("warehouse", warehouse))
    output = WORK_DIR / "job_full" / "output"
    steps.append(("queries", lambda: query_bench.warehouse_queries(output, WORK_DIR / "queries.duckdb", repeats)))
    steps.append(("queries", lambda: query_bench.parquet_month_pruning(output, repeats)))
    from bench import awsglue_bench

    steps.append(("awsglue", lambda: awsglue_bench.frames_vs_dataframes(files, repeats, label)))

    for name, step in steps:
        if name not in only or (name in NEEDS and NEEDS[name] not in only):
            continue
        started = time.perf_counter()
        print(f"== {name} ...", flush=True)
        rows = step()
        print(f"   {time.perf_counter() - started:.1f} s", flush=True)
        print_table(rows)
        results.extend(rows)
    return results, sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--smoke", action="store_true", help="tiny generated input; results to smoke.*")
    parser.add_argument("--scale-factor", type=int, default=10)
    parser.add_argument(
        "--merge", action="store_true", help="keep earlier results of benchmarks not run now (marked with their date)"
    )
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    try:
        results, sections = run(only, 1 if args.smoke else args.repeats, args.smoke, args.scale_factor)
    except datasets.MissingData as missing:
        print(f"skipped: {missing}", file=sys.stderr)
        return 0
    info = machine()
    path = write_results(results, info, smoke=args.smoke, merge=args.merge, sections=sections)
    print()
    print(path.read_text())
    if not args.smoke and update_readme(path.read_text()):
        print("README.md benchmark table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
