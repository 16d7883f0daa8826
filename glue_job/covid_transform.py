"""AWS Glue 5.0 job: raw COVID-19 files -> deduplicated, enriched, partitioned Parquet, gated by data quality.

Runs unchanged on AWS Glue, under the local Glue executor and as
`python glue_job/covid_transform.py --JOB_NAME n --source jhu_daily|owid --input_path ... --output_path ...
--quarantine_path ... --state_path ... --reference_path ... [--full_refresh true] [--allow_removals true]
[--max_compressed_bytes N] [--max_uncompressed_bytes N] [--poison_after_failures N] [--max_removal_share F]`
(Terraform passes the last four from tfvars as DefaultArguments).
Spark/S3 settings come from outside (Glue itself, or PYSPARK_SUBMIT_ARGS and AWS_ENDPOINT_URL locally).
This file only wires extract -> transform -> load; the transforms live in the modules it imports.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Glue ships --extra-py-files on sys.path; from a checkout the modules sit beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import data_quality_checks
import incremental
import publish_lease
from pyspark import SparkContext, StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from schema_evolution import OUTPUT_COLUMNS, OUTPUT_SCHEMA, PARTITION_COLUMNS, SCHEMA_VERSION
from utils import readers, storage, validators
from utils import sql_text as sql
from utils import transformations as tx

from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import GlueArgumentError, getResolvedOptions
from covid_pipeline import input_rules

LOG = logging.getLogger("covid_transform")

REQUIRED_ARGS = ["JOB_NAME", "source", "input_path", "output_path", "quarantine_path", "state_path", "reference_path"]
OPTIONAL_ARGS = [
    "full_refresh", "catalog_database", "catalog_table", "metrics_namespace", "allow_removals",
    "max_compressed_bytes", "max_uncompressed_bytes", "poison_after_failures", "max_removal_share",
]  # fmt: skip
SOURCES = ("jhu_daily", "owid")


class PhaseClock:
    """Seconds per phase of a run, kept in the manifest: where a run's time goes (Spark is lazy, so a phase
    that triggers an action also pays for the reads behind it).

    Each Spark job is described by the phase that starts it (SparkContext.setJobDescription), so Spark's own
    per-stage metrics (its event log, UI and listeners) can be put beside these seconds."""

    def __init__(self, manifest: dict[str, Any], spark: SparkSession, first_phase: str) -> None:
        self.seconds: dict[str, float] = manifest.setdefault("phase_seconds", {})
        self.context = spark.sparkContext
        self.last = time.monotonic()
        self.context.setJobDescription(first_phase)

    def lap(self, phase: str, then: str | None = None) -> None:
        """End `phase`; Spark jobs from now on belong to `then` (None: to no phase)."""
        now = time.monotonic()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self.last, 3)
        self.last = now
        self.context.setJobDescription(then)  # type: ignore[arg-type]  # None clears it


class ReconciliationError(RuntimeError):
    """rows_in != rows_out + rows_quarantined + rows_duplicate: something was lost or invented."""


class RunRefused(RuntimeError):
    """A guard stopped the run before it changed anything (the manifest says which, and why)."""


class ConcurrentRunError(RuntimeError):
    """Another run of the same source updated the ledger after this run read it: this run published nothing."""


# S3 copies at most 5 GiB in one request: a larger quarantined object stays where it is, named in files.jsonl.
MAX_QUARANTINE_COPY_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class JobOptions:
    job_name: str
    source: str
    input_path: str
    output_path: str
    quarantine_path: str
    state_path: str
    reference_path: str
    full_refresh: bool = False
    catalog_database: str | None = None
    catalog_table: str | None = None
    metrics_namespace: str | None = None
    run_id: str | None = None
    allow_removals: bool = False
    max_compressed_bytes: int = input_rules.DEFAULT_MAX_COMPRESSED_BYTES
    max_uncompressed_bytes: int = input_rules.DEFAULT_MAX_UNCOMPRESSED_BYTES
    poison_after_failures: int = input_rules.DEFAULT_POISON_AFTER_FAILURES
    max_removal_share: float = input_rules.DEFAULT_MAX_REMOVAL_SHARE


def resolve_options(argv: list[str]) -> dict[str, Any]:
    """Parse the Glue way: required args, plus optional ones only when present (the usual Glue idiom)."""
    wanted = REQUIRED_ARGS + [name for name in OPTIONAL_ARGS if f"--{name}" in argv]
    try:
        return dict(getResolvedOptions(argv, wanted))
    except GlueArgumentError as error:
        raise SystemExit(f"error: {error}") from None  # one clear line, not a traceback


def _flag(value: Any) -> bool:
    return str(value or "false").strip().lower() in ("true", "1", "yes")


def _number(args: dict[str, Any], name: str, kind: type, default: Any, low: float, high: float) -> Any:
    """An optional numeric argument within [low, high], or one clear line saying what is wrong."""
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SystemExit(f"--{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SystemExit(f"--{name} must be between {low} and {high}, got {raw!r}")
    return value


def parse_options(argv: list[str]) -> JobOptions:
    args = resolve_options(argv)
    if args["source"] not in SOURCES:
        raise SystemExit(f"--source must be one of {', '.join(SOURCES)}, got {args['source']!r}")
    rules = input_rules
    return JobOptions(
        job_name=args["JOB_NAME"],
        source=args["source"],
        input_path=args["input_path"],
        output_path=args["output_path"],
        quarantine_path=args["quarantine_path"],
        state_path=args["state_path"],
        reference_path=args["reference_path"],
        full_refresh=_flag(args.get("full_refresh")),
        catalog_database=args.get("catalog_database") or None,
        catalog_table=args.get("catalog_table") or None,
        metrics_namespace=args.get("metrics_namespace") or None,
        run_id=args.get("JOB_RUN_ID") or None,
        allow_removals=_flag(args.get("allow_removals")),
        max_compressed_bytes=_number(args, "max_compressed_bytes", int, rules.DEFAULT_MAX_COMPRESSED_BYTES, 1, 2**53),
        max_uncompressed_bytes=_number(
            args, "max_uncompressed_bytes", int, rules.DEFAULT_MAX_UNCOMPRESSED_BYTES, 1, 2**53
        ),
        poison_after_failures=_number(args, "poison_after_failures", int, rules.DEFAULT_POISON_AFTER_FAILURES, 1, 100),
        max_removal_share=_number(args, "max_removal_share", float, rules.DEFAULT_MAX_REMOVAL_SHARE, 0.0, 1.0),
    )


# Parquet writers a publish task keeps open at once (each buffers its row group in memory).
MAX_OPEN_PARTITION_WRITERS = 64


def configure_session(spark: SparkSession) -> None:
    """Job settings, not environment: UTC, the strict (Spark 3) date parser, caching."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    spark.conf.set("spark.sql.parquet.compression.codec", "snappy")
    # The job hands its expressions to Spark as SQL text (utils.sql_text): names and values from the data must
    # arrive as written, so no ${...} substitution, and string literals escaped with backslashes.
    spark.conf.set("spark.sql.variable.substitute", "false")
    spark.conf.set("spark.sql.parser.escapedStringLiterals", "false")
    # Performance, not semantics. The job's caches live for one run: compressing them costs more CPU than it
    # saves. Listing hundreds of explicit input paths as one task per path costs more than the listing itself.
    spark.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")
    spark.conf.set(
        "spark.sql.sources.parallelPartitionDiscovery.parallelism", str(spark.sparkContext.defaultParallelism)
    )
    # The publish writes each task's partitions through one open writer per partition instead of sorting the rows
    # by partition first (Spark 3.4+ plans that sort unless planned writes are off). A task with more partitions
    # than the cap sorts the rest and goes on with the writers it has: still one file per partition (each
    # partition's rows are in one task). Publish 10.5 s -> 6.7 s on the 495-file full refresh.
    spark.conf.set("spark.sql.optimizer.plannedWrite.enabled", "false")
    spark.conf.set("spark.sql.maxConcurrentOutputFileWriters", str(MAX_OPEN_PARTITION_WRITERS))


def _file_rank(item: validators.FileVerdict) -> int:
    return int(item.name_date.strftime("%Y%m%d")) if item.name_date else 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_job(spark: SparkSession, options: JobOptions) -> dict[str, Any]:
    """One job run. Returns the manifest; raises DataQualityError / ReconciliationError without publishing."""
    started = time.monotonic()
    run_id = options.run_id or f"jr_local_{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    configure_session(spark)
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "job_name": options.job_name,
        "source": options.source,
        "started_at": _now(),
        "full_refresh": options.full_refresh,
        "status": "running",
        "rows_in": 0,
        "rows_out": 0,
        "rows_quarantined": 0,
        "rows_duplicate": 0,
        "rows_context": 0,
        "files_processed": 0,
        "files_skipped": 0,
        "files_quarantined": 0,
        "partitions_written": [],
        "partitions_removed": [],
        "data_quality": {"score": None, "results": []},
        "new_columns": [],
        "quarantine_reasons": {},
        "skipped_reasons": {},
        "quarantined_files": {},
        "same_file_as": {},
        "carry_forward": {"used": False, "reason": None, "partitions": [], "rows": 0},
    }
    clock = PhaseClock(manifest, spark, "list_inputs")
    ledger_uri = storage.join(options.state_path, "ledger.json")
    # The version read here is the one every ledger write of this run is conditional on (see _Publisher).
    stored_ledger, ledger_version = storage.read_json_versioned(ledger_uri)
    ledger = stored_ledger or incremental.empty_ledger()
    publisher = _Publisher(options, ledger_uri, ledger_version, run_id)
    ledger_files: dict[str, Any] = ledger.setdefault("files", {})
    failures: dict[str, Any] = dict(ledger.get("failures") or {})
    wrong_input = incremental.input_path_problem(ledger, options.input_path)
    if wrong_input:
        _refuse(manifest, options, started, "refused_input_path", wrong_input)

    # 1. What is there, and what changed since the ledger. The key rules are the S3 event handler's: a key it
    # ignores is quarantined here (unsafe_key), never read; a name that is not data is skipped, as before.
    listed = storage.list_objects(options.input_path)
    key_problems = {
        o.relative_path: problem
        for o in listed
        if (problem := input_rules.classify_key(storage.object_key(o), o.relative_path, validators.DATA_SUFFIXES))
    }
    verdict_skips = {path: p.reason for path, p in key_problems.items() if p.reason == input_rules.NOT_A_DATA_FILE}
    unsafe = {path: p for path, p in key_problems.items() if p.reason == input_rules.UNSAFE_KEY}
    data_objects = [o for o in listed if o.relative_path not in verdict_skips]
    states = {o.relative_path: incremental.FileState(o.relative_path, o.size, o.fingerprint) for o in data_objects}
    changes = incremental.find_changes(list(states.values()), ledger, options.full_refresh)
    skipped = Counter(verdict_skips.values())
    skipped["unchanged"] += len(changes.unchanged)
    manifest["files_skipped"] = sum(skipped.values())
    manifest["skipped_reasons"] = dict(skipped)
    # Files the ledger knows but the input no longer has: their rows must go, as a full refresh would drop them.
    # Many at once is more likely a wrong prefix, an emptied bucket or a bad sync than a decision: refused unless
    # the run is told (--allow_removals true).
    removed = sorted(p for p in ledger_files if p not in states)
    manifest["files_removed"] = removed
    share = input_rules.removal_share(len(removed), len(ledger_files))
    manifest["removal_share"] = round(share, 4)
    if share > options.max_removal_share and not options.allow_removals:
        _refuse(
            manifest,
            options,
            started,
            "refused_removals",
            f"{len(removed)} of the {len(ledger_files)} files on record ({share:.0%}) are gone from "
            f"{options.input_path}, more than the {options.max_removal_share:.0%} a run may remove "
            "(max_removal_share): their rows would be deleted from the output. If that is intended, run again "
            "with --allow_removals true",
        )
    if not changes.changed and not removed:
        return _finish(manifest, options, started, status="no_new_input")

    clock.lap("list_inputs", then="sniff_files")
    # 2. Decide on the changed files before Spark reads any: unsafe keys, files that failed too many runs in a
    # row (poison), second names of one file, sizes over the limits (gzip measured by streaming with a cap), then
    # the sniff of each head. The unreadable ones are quarantined as files.
    by_path = {o.relative_path: o for o in data_objects}
    aliases = validators.same_file_aliases(
        [(o.relative_path, o.uri) for o in data_objects if o.relative_path not in unsafe],
        storage.spark_path(options.input_path),
    )
    poison = incremental.poisoned(failures, states, options.poison_after_failures)
    limits = input_rules.SizeLimits(options.max_compressed_bytes, options.max_uncompressed_bytes)
    problems: dict[str, input_rules.Problem] = {}
    for path in changes.changed:
        if path in unsafe:
            problems[path] = unsafe[path]
        elif path in poison:
            problems[path] = input_rules.Problem(
                input_rules.POISON, f"failed {poison[path]['failures']} runs in a row: {poison[path]['last_error']}"
            )
        elif path not in aliases and (
            size_problem := input_rules.stored_size_problem(path, by_path[path].size, limits)
        ):
            problems[path] = size_problem
    problems.update(
        _gzip_problems(
            [
                by_path[p]
                for p in changes.changed
                if p not in problems and p not in aliases and input_rules.is_compressed(p)
            ],
            options.max_uncompressed_bytes,
        )
    )
    sniffed = [p for p in changes.changed if p not in problems and p not in aliases]
    heads = dict(
        zip(sniffed, storage.read_heads([by_path[p].uri for p in sniffed], validators.HEAD_BYTES), strict=True)
    )
    verdicts = [
        validators.FileVerdict(path, validators.file_format(path), quarantine_reason=problems[path].reason)
        if path in problems
        else validators.FileVerdict(path, validators.file_format(path), quarantine_reason=validators.SAME_FILE)
        if path in aliases
        else validators.check_file(path, heads[path], by_path[path].size, options.source)
        for path in changes.changed
    ]
    good = [v for v in verdicts if v.quarantine_reason is None]
    bad = [v for v in verdicts if v.quarantine_reason is not None]
    quarantine_root = storage.join(options.quarantine_path, f"run_id={run_id}")
    records = [_quarantine_file(v, by_path[v.relative_path], quarantine_root, problems, poison, aliases) for v in bad]
    if bad:
        storage.write_text(storage.join(quarantine_root, "files.jsonl"), "".join(json.dumps(r) + "\n" for r in records))
    manifest["files_quarantined"] = len(bad)
    manifest["quarantined_files"] = {v.relative_path: v.quarantine_reason for v in bad}
    manifest["quarantine_details"] = {path: problem.detail for path, problem in problems.items()}
    manifest["poison_files"] = {
        path: {"failures": poison[path]["failures"], "last_error": poison[path]["last_error"]}
        for path in changes.changed
        if path in poison and problems[path].reason == input_rules.POISON
    }
    manifest["same_file_as"] = {path: aliases[path] for path in changes.changed if path in aliases}

    # A run that fails on a file Spark cannot read must not be retried on it forever: a failure whose error names
    # files read in this run counts one failed run against each (see the except clause below); a successful run
    # clears the counts. An error that names none (a missing reference table, an unwritable output, a data
    # quality gate) is not held against the files: after a few such runs every file would be set aside.
    attempted = [v.relative_path for v in good]

    # The partitions the previous versions contributed to are rewritten too (a full refresh: all of them).
    old_entries: dict[str, dict[str, Any] | None] = (
        dict(ledger_files)
        if options.full_refresh
        else {path: ledger_files.get(path) for path in [*changes.changed, *removed]}
    )
    unchanged_entries = {
        path: ledger_files[path] for path in changes.unchanged if ledger_files[path].get("status") == "processed"
    }

    def to_input(verdict: validators.FileVerdict) -> readers.InputFile:
        return readers.InputFile(
            uri=by_path[verdict.relative_path].uri,
            relative_path=verdict.relative_path,
            file_format=verdict.file_format,
            mapping=verdict.mapping,
            raw_header=verdict.raw_header,
            file_date=verdict.name_date if options.source == "jhu_daily" else None,
            file_rank=_file_rank(verdict),
        )

    new_ranges: dict[str, dict[incremental.Partition, tuple[date, date]]] = {}
    file_rows: Counter[str] = Counter()
    partition_rows: dict[incremental.Partition, int] = {}
    persisted: list[DataFrame] = []
    summary: list[dict[str, Any]] = []
    staging: str | None = None  # this run's staging folder, once it writes one
    clock.lap("sniff_files", then="read_and_classify")
    try:
        try:
            classified = None
            if good:
                # 3. Read the changed files once (one read per header layout) and classify every row.
                changed_raw, new_columns = readers.read_inputs(spark, [to_input(v) for v in good], options.source)
                manifest["new_columns"] = new_columns
                # Deserialized, as Dataset.persist() defaults to in Scala: PySpark's MEMORY_AND_DISK is the serialized
                # level, whose cached batches are copied into heap buffers; on 17M rows with a 2 GiB heap that ran out
                # of memory instead of spilling partitions to disk.
                classified = tx.classify_rows(changed_raw).persist(StorageLevel.MEMORY_AND_DISK_DESER)
                persisted.append(classified)
                summary = _file_summary(classified)
                for row in summary:
                    file_rows[row["source_file"]] += row["rows"]
                    if row["report_date_min"] is not None:
                        ranges = new_ranges.setdefault(row["source_file"], {})
                        key = (row["year"], row["month"])
                        lo, hi = ranges.get(key, (row["report_date_min"], row["report_date_max"]))
                        ranges[key] = (min(lo, row["report_date_min"]), max(hi, row["report_date_max"]))

            clock.lap("read_and_classify", then="plan_and_count")
            # From here on the run reads the published output and writes its staging folder beside it: under the
            # publish lease, whose holder removes any other staging folder it finds as a killed run's leftover. A
            # run that lost the race stops here, having counted nothing.
            publisher.claim()
            for leftover in storage.staging_leftovers(options.output_path):
                LOG.info("removing %s, left by an interrupted run", leftover)
                storage.delete_prefix(leftover)
            # 4. Which partitions to rewrite, and where their unchanged rows come from: the published output
            # (carried forward) when that is safe, else their raw files, re-read.
            existing = incremental.existing_partitions(unchanged_entries)
            affected = incremental.affected_partitions(new_ranges, old_entries, existing)
            carried, settled, carried_counts = None, None, {"rows_in": 0, "rows_context": 0}
            carried_rows: dict[incremental.Partition, int] = {}
            if good and unchanged_entries and not options.full_refresh:  # else there is nothing to carry
                plan = incremental.plan_carry_forward(
                    new_ranges,
                    old_entries,
                    unchanged_entries,
                    affected,
                    incremental.output_record(ledger),
                    SCHEMA_VERSION,
                )
                carried, settled, carried_counts, refusal = _carry_forward(spark, options.output_path, plan)
                used = plan if carried is not None and isinstance(plan, incremental.CarryForward) else None
                carried_rows = dict(used.partitions) if used else {}
                manifest["carry_forward"] = {
                    "used": used is not None,
                    "reason": refusal,
                    "partitions": [tx.partition_name(*p) for p in used.partitions] if used else [],
                    "rows": carried_counts["rows_in"],
                }
            context_paths = [] if carried is not None else incremental.context_files(unchanged_entries, affected)
            if context_paths:
                context_heads = storage.read_heads([by_path[p].uri for p in context_paths], validators.HEAD_BYTES)
                context_verdicts = [
                    validators.check_file(p, h, by_path[p].size, options.source)
                    for p, h in zip(context_paths, context_heads, strict=True)
                ]
                context_raw, _ = readers.read_inputs(spark, [to_input(v) for v in context_verdicts], options.source)
                context_classified = tx.classify_rows(context_raw)
                classified = context_classified if classified is None else classified.unionByName(context_classified)
                classified = classified.persist(StorageLevel.MEMORY_AND_DISK_DESER)
                persisted.append(classified)

            changed_good = {v.relative_path for v in good}
            affected_keys = sorted(affected)
            if classified is not None:
                in_scope = _in_scope(affected_keys, changed_good)
                scoped = classified.selectExpr("*", sql.alias(in_scope, "in_scope"))
                # Without re-read context every row read is in scope: the file summary already has the counts.
                counts = _scope_counts(scoped) if context_paths else _counts_from_summary(summary)
                manifest["rows_in"] = counts["rows_in"] + carried_counts["rows_in"]
                manifest["rows_context"] = counts["rows_context"] + carried_counts["rows_context"]
                manifest["rows_quarantined"] = sum(counts["reasons"].values())
                manifest["quarantine_reasons"] = counts["reasons"]
                if manifest["rows_quarantined"]:
                    (
                        scoped.where("in_scope AND quarantine_reason IS NOT NULL")
                        .selectExpr(*[sql.ident(c) for c in tx.raw_columns(scoped)])
                        .write.mode("overwrite")
                        .parquet(storage.spark_path(storage.join(quarantine_root, "rows")))
                    )

                clock.lap("plan_and_count", then="transform_and_count")
                # 5. Transform: type, deduplicate, enrich, derive; only affected partitions are kept, with the
                # carried rows whose values cannot change (settled) as published. One Spark action computes it,
                # writes it to this run's staging folder and, as it goes, its counts per partition and every metric
                # of the quality gate (observed, not a pass of their own over a cached copy).
                lookup_exact, lookup_country = tx.prepare_lookup(readers.read_lookup(spark, options.reference_path))
                good_rows = tx.type_rows(scoped.where("quarantine_reason IS NULL"))
                if carried is not None:
                    good_rows = good_rows.unionByName(carried)
                output = _transform(good_rows, lookup_exact, lookup_country, affected_keys)
                output = output.selectExpr(*[sql.ident(c) for c in (*OUTPUT_COLUMNS, "duplicates")])
                if settled is not None:
                    output = output.unionByName(settled)
                expected_latest = max((v.name_date for v in good if v.name_date), default=None)
                gate = data_quality_checks.metric_pass(
                    data_quality_checks.build_checks(
                        options.source, expected_latest if options.source == "jhu_daily" else None
                    )
                )
                metrics: dict[str, Any] = {}
                if affected_keys:
                    staging = storage.join(options.output_path, f"{storage.STAGING_PREFIX}{run_id}")
                    expected = _expected_rows(summary, carried_rows, affected_keys)
                    metrics = _stage(output, gate, staging, expected)
                partition_rows = {p: int(metrics[_rows_in(p)]) for p in affected_keys if metrics.get(_rows_in(p))}
                manifest["rows_out"] = sum(partition_rows.values())
                manifest["rows_duplicate"] = int(metrics.get("duplicates") or 0)
                _reconcile(manifest)

                clock.lap("transform_and_count", then="data_quality")
                # 6. Quality gate, before anything is published: Great Expectations' verdicts on those metrics.
                report = data_quality_checks.evaluate(gate, gate.values([metrics] if metrics else []))
                manifest["data_quality"] = report.as_dict()
                if report.failed:
                    _finish(manifest, options, started, status="failed_data_quality", publish=False)
                    raise data_quality_checks.DataQualityError(report)

                clock.lap("data_quality", then="publish")
                # 7. Publish: each written partition's folder replaces the published one (as Spark's dynamic
                # partition overwrite does: the others are not touched).
                if staging is not None:
                    _publish_staged(staging, options.output_path, sorted(partition_rows))
                manifest["partitions_written"] = [tx.partition_name(*p) for p in sorted(partition_rows)]
            emptied = sorted(set(affected) - set(_written_partitions(manifest)))
            for partition in emptied:
                storage.delete_prefix(storage.join(options.output_path, tx.partition_name(*partition)))
            manifest["partitions_removed"] = [tx.partition_name(*p) for p in emptied]
        except ConcurrentRunError:
            raise
        except (data_quality_checks.DataQualityError, ReconciliationError):
            raise  # about the data as a whole, whatever files its message mentions
        except Exception as error:
            blamed = _blamed_files(error, [by_path[p] for p in attempted])
            if blamed:
                counted = incremental.with_failures(
                    failures, states, blamed, run_id, _error_summary(error, blamed, by_path)
                )
                try:
                    publisher.write_ledger({**ledger, "input_path": options.input_path, "failures": counted})
                except ConcurrentRunError as lost:  # the other run's ledger stands; this failure is not counted
                    LOG.warning("failure count not recorded: %s", lost)
            raise
        finally:
            # Newest first: unpersisting a frame makes Spark compare every remaining cached plan with it.
            for frame in reversed(persisted):
                frame.unpersist()
            if staging is not None:  # moved into place, or not to be published: either way nothing is left to keep
                storage.delete_prefix(staging)

        clock.lap("publish", then="ledger_and_catalog")
        # 8. Ledger: only after a successful publish, so a failed run is retried in full.
        new_files = {} if options.full_refresh else {p: e for p, e in ledger_files.items() if p in states}
        for verdict in verdicts:
            path = verdict.relative_path
            if verdict.quarantine_reason:
                new_files[path] = incremental.ledger_entry(
                    states[path], "quarantined", {}, 0, run_id, verdict.quarantine_reason
                )
            else:
                new_files[path] = incremental.ledger_entry(
                    states[path], "processed", new_ranges.get(path, {}), file_rows[path], run_id
                )
        published = incremental.updated_output_record(
            incremental.output_record(ledger), SCHEMA_VERSION, partition_rows, emptied, options.full_refresh
        )
        publisher.write_ledger(
            {
                "version": incremental.LEDGER_VERSION,
                "input_path": options.input_path,
                "files": dict(sorted(new_files.items())),
                "output": published,
                # Failure counts of files this run neither read nor quarantined (none, as every changed file is one
                # or the other; kept general).
                "failures": {p: f for p, f in failures.items() if p in states and p not in new_files},
            },
        )
        manifest["files_processed"] = len(good)
        _sync_catalog(options, manifest)
        clock.lap("ledger_and_catalog")
        return _finish(manifest, options, started, status="succeeded")
    except ConcurrentRunError as error:
        manifest["error"] = str(error)
        _finish(manifest, options, started, status="failed_concurrent_update")
        raise
    finally:
        publisher.close()  # releases the publish lease, if this run took it


class _Publisher:
    """Writes what other runs of the source read (output partitions, ledger, catalog) only under two guards.

    Two runs of one source can start at once (a second S3 event, an operator's re-run). The ledger is the commit
    point and the output is written before it, so a check on the ledger alone would let a losing run overwrite
    the winner's partitions with rows the ledger does not describe. So, before it reads the published output or
    writes its staging folder beside it, a run takes the source's publish lease (publish_lease.py: one holder at
    a time, a dead holder's lease taken over) and checks that the ledger is still the version it read at its
    start. A run that finds it changed raises ConcurrentRunError having written nothing to the output, the ledger
    or the catalog: nothing to roll back, and retrying it starts from the winner's ledger. The ledger itself is
    written with If-Match on that version (If-None-Match: * for a first run), so even a holder that lost its
    lease cannot record its work over another's.
    """

    def __init__(self, options: JobOptions, ledger_uri: str, ledger_version: str | None, run_id: str) -> None:
        self.options, self.ledger_uri, self.run_id = options, ledger_uri, run_id
        self.expected = ledger_version or storage.ABSENT
        self.lease = contextlib.ExitStack()
        self.lost: threading.Event | None = None

    def _conflict(self) -> ConcurrentRunError:
        return ConcurrentRunError(
            f"another run updated the ledger of source {self.options.source} ({self.ledger_uri}) since this run "
            f"read it; retry (this run, {self.run_id}, published nothing)"
        )

    def claim(self) -> None:
        """Hold the lease and make sure the ledger is still the version this run read (idempotent)."""
        if self.lost is None:
            self.lost = self.lease.enter_context(publish_lease.held(self.options.state_path, self.run_id))
            if (storage.read_text_versioned(self.ledger_uri)[1] or storage.ABSENT) != self.expected:
                raise self._conflict()
        if self.lost.is_set():
            raise self._conflict()

    def write_ledger(self, ledger: dict[str, Any]) -> None:
        self.claim()
        try:
            self.expected = storage.write_json(self.ledger_uri, ledger, self.expected)
        except storage.PreconditionFailed:
            raise self._conflict() from None

    def close(self) -> None:
        self.lease.close()


def _refuse(manifest: dict[str, Any], options: JobOptions, started: float, status: str, why: str) -> None:
    """Record a refused run (status and reason in its manifest) and stop it before it has changed anything."""
    manifest["refusal"] = why
    _finish(manifest, options, started, status=status)
    raise RunRefused(why)


def _gzip_problems(objects: list[storage.ObjectInfo], max_uncompressed_bytes: int) -> dict[str, input_rules.Problem]:
    """Each gzip object's decompressed size against the limit, streamed (a bomb costs the limit, not its size)."""

    def measure(item: storage.ObjectInfo) -> input_rules.Problem | None:
        with contextlib.closing(storage.iter_bytes(item.uri)) as chunks:  # stopping early closes the stream
            return input_rules.gzip_size_problem(chunks, max_uncompressed_bytes)

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(zip([o.relative_path for o in objects], pool.map(measure, objects), strict=True))
    return {path: problem for path, problem in found.items() if problem is not None}


def _quarantine_file(
    verdict: validators.FileVerdict,
    item: storage.ObjectInfo,
    quarantine_root: str,
    problems: dict[str, input_rules.Problem],
    poison: dict[str, dict[str, Any]],
    aliases: dict[str, str],
) -> dict[str, Any]:
    """Copy a quarantined file to files/<its path> beside the run's other quarantined files; its files.jsonl record.

    An unsafe key is not reused as a name (it may hold '..', control characters, ...): its copy is named by a
    digest (``copied_to``), and the record keeps the key exactly as it was. An object too large for one copy is
    left where it is (``copied_to`` null).
    """
    path = verdict.relative_path
    record: dict[str, Any] = {"source_file": path, "quarantine_reason": verdict.quarantine_reason}
    if path in problems:
        record["detail"] = problems[path].detail
    if verdict.quarantine_reason == input_rules.POISON:
        record |= {"failures": poison[path]["failures"], "last_error": poison[path]["last_error"]}
    if path in aliases:
        record["same_file_as"] = aliases[path]
    name = path
    if verdict.quarantine_reason == input_rules.UNSAFE_KEY:
        name = f"{input_rules.UNSAFE_KEY}/{hashlib.sha256(path.encode('utf-8', 'surrogateescape')).hexdigest()}"
        record["copied_to"] = f"files/{name}"
    if item.size <= MAX_QUARANTINE_COPY_BYTES:
        storage.copy_object(item.uri, storage.join(quarantine_root, "files", name))
    else:
        record["copied_to"] = None  # too big to copy in one request: it stays in the input
    return record


def _blamed_files(error: BaseException, candidates: list[storage.ObjectInfo]) -> list[str]:
    """The candidates an error message names (Spark names the file it failed to read, often URL-encoded). A name
    found only inside a longer one that is named too (a.csv in a.csv.gz) does not count."""
    text = str(error)
    texts = (text, urllib.parse.unquote(text))
    keys = {o.relative_path: storage.path_key(o.uri) for o in candidates}
    named = {path: key for path, key in keys.items() if any(key in t for t in texts)}
    return [path for path, key in named.items() if not any(key != other and key in other for other in named.values())]


def _error_summary(error: BaseException, blamed: list[str], by_path: dict[str, storage.ObjectInfo]) -> str:
    """One line of an error for the ledger and the manifest: the line naming a blamed file, else the first cause
    Java gives, else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    keys = [storage.path_key(by_path[p].uri) for p in blamed]
    naming = [line for line in lines if any(k in line or k in urllib.parse.unquote(line) for k in keys)]
    causes = [line for line in lines if line.startswith("Caused by:")]
    return (naming or causes or lines)[0][:500]


# The columns of tx.type_rows that the published output keeps as they were.
TYPED_COLUMNS = (
    "report_date", "country", "iso3", "province", "admin2", "fips", "latitude", "longitude", "population",
    *tx.COUNT_FIELDS, "last_update", "source_file", "schema_era", "extra_fields",
)  # fmt: skip


def _carry_forward(
    spark: SparkSession, output_path: str, plan: incremental.CarryForward | str
) -> tuple[DataFrame | None, DataFrame | None, dict[str, int], str | None]:
    """The published rows a plan carries forward: those the transform needs, shaped as typed rows (in_scope:
    recomputed, in a rewritten partition), and the settled ones, published again as they are (with no
    duplicates); with their counts; or None, None and why not. The rows read must match the counts the ledger
    recorded for those partitions, so an output changed behind the ledger's back is re-read from the raw files
    instead."""
    nothing = {"rows_in": 0, "rows_context": 0}
    if isinstance(plan, str):
        return None, None, nothing, plan
    partitions = sorted(set(plan.partitions) | set(plan.context_days))
    published = spark.createDataFrame([], OUTPUT_SCHEMA)
    if partitions:
        paths = [storage.spark_path(storage.join(output_path, tx.partition_name(*p))) for p in partitions]
        try:
            reader = spark.read.schema(OUTPUT_SCHEMA).option("basePath", storage.spark_path(output_path))
            published = reader.parquet(*paths)
            found = (
                published.groupBy("year", "month", sql.column(_carried_scope(plan)).alias("in_scope")).count().collect()
            )
        except AnalysisException as error:  # a partition folder is gone
            LOG.warning("re-reading raw files: published output unreadable (%s)", str(error).splitlines()[0])
            return None, None, nothing, "a partition on record is missing from the output"
        rewritten = {(r["year"], r["month"]): r["count"] for r in found if r["in_scope"]}
        if rewritten != plan.partitions:
            return None, None, nothing, "the output's row counts differ from the ledger's"
        context = sum(r["count"] for r in found if r["in_scope"] is False)
        counts = {"rows_in": sum(rewritten.values()), "rows_context": context}
    else:
        counts = nothing
    to_transform, settled = _split_published(published, plan)
    return to_transform, settled, counts, None


def _carried_scope(plan: incremental.CarryForward) -> str:
    """True for a published row of a rewritten partition, false for one of a context day, null for the others."""
    context = _on_days(day for days in plan.context_days.values() for day in days)
    return f"CASE WHEN {_in_months(_PARTITION_MONTH, plan.partitions)} THEN TRUE WHEN {context} THEN FALSE END"


def _split_published(published: DataFrame, plan: incremental.CarryForward) -> tuple[DataFrame, DataFrame]:
    """The carried rows the transform reads, as tx.type_rows shapes them: the recomputed days' rows (in scope),
    the rows of the days before them and of the context days (not in scope, their deltas' previous days). They
    are winners already, and no new row shares their dates, so any file rank will do. And the settled rows:
    the other rows of the rewritten partitions, in the output's shape, with no duplicates."""
    lag_sources = plan.recomputed_days | {day - timedelta(days=1) for day in plan.recomputed_days}
    scope = f"({_carried_scope(plan)})"
    is_recomputed = _on_days(plan.recomputed_days)
    read = f"{scope} = FALSE OR ({scope} AND {_on_days(lag_sources)})"
    to_transform = published.where(read).selectExpr(
        *[sql.ident(c) for c in TYPED_COLUMNS], "0 AS file_rank", sql.alias(f"{scope} AND {is_recomputed}", "in_scope")
    )
    settled = published.where(f"{scope} AND NOT {is_recomputed}").selectExpr(
        *[sql.ident(c) for c in OUTPUT_COLUMNS], "CAST(0 AS BIGINT) AS duplicates"
    )
    return to_transform, settled


# Conditions are SQL text (utils.sql_text): a list of days or files as literals crosses to the JVM once.
def _on_days(days: Iterable[date]) -> str:
    """report_date is one of the days; false for none."""
    return sql.is_in("report_date", sorted(days))


def _in_months(month_key: str, partitions: Iterable[incremental.Partition]) -> str:
    """month_key (SQL for year * 100 + month) is one of the partitions'; false for none."""
    return sql.is_in(month_key, sorted(year * 100 + month for year, month in partitions))


def _month_key(year: str, month: str) -> str:
    """year * 100 + month, as SQL: one comparable int per partition."""
    return f"({year} * 100 + {month})"


# From the partition columns: a filter on them skips whole folders.
_PARTITION_MONTH = _month_key("year", "month")


def _written_partitions(manifest: dict[str, Any]) -> list[incremental.Partition]:
    return [incremental.parse_partition_key(key) for key in manifest["partitions_written"]]


def _in_scope(affected: list[incremental.Partition], changed_files: set[str]) -> str:
    """A row counts in this run when its month is rewritten, or (no date) when its file is new."""
    month_key = _in_months(_month_key("year(report_date)", "month(report_date)"), affected)
    dateless_new = f"report_date IS NULL AND {sql.is_in('source_file', sorted(changed_files))}"
    return f"coalesce({month_key}, FALSE) OR ({dateless_new})"


def _file_summary(classified: DataFrame) -> list[dict[str, Any]]:
    """Per file, month and quarantine reason: rows and date range (one pass; it also fills the cache)."""
    rows = (
        classified.groupBy(
            "source_file",
            sql.column("year(report_date) AS year"),
            sql.column("month(report_date) AS month"),
            "quarantine_reason",
        )
        .agg(
            sql.column("count(1) AS rows"),
            sql.column("min(report_date) AS report_date_min"),
            sql.column("max(report_date) AS report_date_max"),
        )
        .collect()
    )
    summary = [r.asDict() for r in rows]
    if any(r["source_file"] is None for r in summary):
        raise RuntimeError("rows could not be attributed to their input file (input_file_name did not match)")
    return summary


def _scope_counts(scoped: DataFrame) -> dict[str, Any]:
    rows = scoped.groupBy("in_scope", "quarantine_reason").count().collect()
    reasons: dict[str, int] = defaultdict(int)
    rows_in = rows_context = 0
    for row in rows:
        if row["in_scope"]:
            rows_in += row["count"]
            if row["quarantine_reason"] is not None:
                reasons[row["quarantine_reason"]] += row["count"]
        else:
            rows_context += row["count"]
    return {"rows_in": rows_in, "rows_context": rows_context, "reasons": dict(sorted(reasons.items()))}


def _counts_from_summary(summary: list[dict[str, Any]]) -> dict[str, Any]:
    reasons: dict[str, int] = defaultdict(int)
    for row in summary:
        if row["quarantine_reason"] is not None:
            reasons[row["quarantine_reason"]] += row["rows"]
    return {"rows_in": sum(r["rows"] for r in summary), "rows_context": 0, "reasons": dict(sorted(reasons.items()))}


def _transform(
    good_rows: DataFrame, lookup_exact: DataFrame, lookup_country: DataFrame, affected: list[incremental.Partition]
) -> DataFrame:
    marked = tx.mark_duplicates(tx.location_partitioned(good_rows))
    winners = marked.where("NOT is_duplicate").drop("is_duplicate")
    derived = tx.add_partition_columns(
        tx.add_rates(tx.add_daily_deltas(tx.enrich(winners, lookup_exact, lookup_country)))
    )
    return derived.where(f"in_scope AND {_in_months(_PARTITION_MONTH, affected)}")


def _expected_rows(
    summary: list[dict[str, Any]], carried_rows: dict[incremental.Partition, int], affected: list[incremental.Partition]
) -> dict[incremental.Partition, int]:
    """Rows each affected partition is about to get, before de-duplication (this run's good rows of it and the
    rows carried forward): what the write spreads the months over its tasks by."""
    expected: Counter[incremental.Partition] = Counter(carried_rows)
    for row in summary:
        if row["quarantine_reason"] is None and row["year"] is not None:
            expected[(row["year"], row["month"])] += row["rows"]
    return {partition: expected[partition] for partition in affected}


def _rows_in(partition: incremental.Partition) -> str:
    """The name of the observed metric: the output's rows in the partition."""
    return f"rows_{partition[0]}_{partition[1]}"


def _stage(
    output: DataFrame,
    gate: data_quality_checks.MetricPass,
    staging: str,
    expected_rows: dict[incremental.Partition, int],
) -> dict[str, Any]:
    """Write the output to the staging folder, partitioned by year and month, one file per partition, and return
    what the write observed: every metric of the quality gate, the rows of each partition and the duplicates.

    Each month goes to one task, the months spread over the tasks by their expected rows, the largest first
    (tx.month_task_sql). The gate's compound-key count is a window that streams over the output as the transform
    leaves it (by location, then date), so it is taken before the write's shuffle, and the metrics after it
    (data_quality_checks.observe)."""
    if gate.key:
        output = data_quality_checks.with_key_rows(output, gate.key, clustered_by=(*tx.LOCATION_KEY, "report_date"))
    tasks = min(len(expected_rows), int(output.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1))
    shuffled = output.repartition(tasks, sql.column(tx.month_task_sql(expected_rows, tasks)))
    sums = {"duplicates": "duplicates"}
    for year, month in expected_rows:
        sums[_rows_in((year, month))] = f"CASE WHEN year = {year} AND month = {month} THEN 1 ELSE 0 END"
    observed, observation = data_quality_checks.observe(shuffled, gate, sums)
    (
        tx.to_output(observed)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "static")  # the folder is this run's alone
        .partitionBy(*PARTITION_COLUMNS)
        .parquet(storage.spark_path(staging))
    )
    return data_quality_checks.observed(gate, observation, sums)


def _publish_staged(staging: str, output_path: str, partitions: list[incremental.Partition]) -> None:
    """Each partition's folder in staging replaces the published one, as Spark's dynamic partition overwrite does
    at its commit (the partitions not listed are not touched). A run killed between the two steps leaves a
    partition missing: its ledger is not written, and the next run finds the output short of the ledger's rows."""
    for partition in partitions:
        name = tx.partition_name(*partition)
        storage.delete_prefix(storage.join(output_path, name))
        storage.move_prefix(storage.join(staging, name), storage.join(output_path, name))


def _reconcile(manifest: dict[str, Any]) -> None:
    total = manifest["rows_out"] + manifest["rows_quarantined"] + manifest["rows_duplicate"]
    if manifest["rows_in"] != total:
        raise ReconciliationError(
            f"rows_in={manifest['rows_in']} but rows_out+rows_quarantined+rows_duplicate={total}: refusing to publish"
        )


def _sync_catalog(options: JobOptions, manifest: dict[str, Any]) -> None:
    if not (options.catalog_database and options.catalog_table):
        return
    import boto3
    from utils import catalog

    manifest["catalog"] = catalog.sync_table(
        boto3.client("glue"),
        options.catalog_database,
        options.catalog_table,
        options.output_path,
        _written_partitions(manifest),
    )


def _finish(
    manifest: dict[str, Any], options: JobOptions, started: float, status: str, publish: bool = True
) -> dict[str, Any]:
    manifest["status"] = status
    manifest["finished_at"] = _now()
    manifest["duration_seconds"] = round(time.monotonic() - started, 3)
    # A run's own record is created, never written over another's (If-None-Match: *): a run id used twice (a
    # caller's choice; Glue's are unique) keeps both records. latest.json is the last run to finish, whoever it
    # was: an unconditional PUT, which S3 applies whole.
    record = storage.join(options.state_path, "runs", f"{manifest['run_id']}.json")
    try:
        storage.write_json(record, manifest, storage.ABSENT)
    except storage.PreconditionFailed:
        record = storage.join(options.state_path, "runs", f"{manifest['run_id']}.{uuid.uuid4().hex[:8]}.json")
        LOG.warning("a record of run %s exists already: this one is %s", manifest["run_id"], record)
        storage.write_json(record, manifest, storage.ABSENT)
    storage.write_json(storage.join(options.state_path, "latest.json"), manifest)
    if options.metrics_namespace:
        import boto3
        from utils import metrics

        metrics.publish(boto3.client("cloudwatch"), options.metrics_namespace, manifest, options.job_name)
    LOG.info("run %s %s: %s", manifest["run_id"], status, {k: manifest[k] for k in ("rows_in", "rows_out")})
    return manifest


def create_session(job_name: str, args: dict[str, Any]) -> tuple[SparkSession, Job]:
    """The Glue way everywhere: GlueContext over the SparkContext, and Job.init (AWS Glue's library on AWS, the
    project's clean-room awsglue locally). Spark settings come from outside."""
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(job_name, args)
    return glue_context.spark_session, job


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    LOG.setLevel(logging.INFO)
    argv = list(sys.argv if argv is None else argv)
    # Great Expectations takes seconds to import: overlap it with Spark start-up and the read.
    threading.Thread(target=data_quality_checks.preload, daemon=True).start()
    options = parse_options(argv)
    spark, job = create_session(options.job_name, resolve_options(argv))
    try:
        manifest = run_job(spark, options)
    except (data_quality_checks.DataQualityError, ReconciliationError) as error:
        LOG.error("%s", error)
        return 1
    except RunRefused as error:
        LOG.error("run refused, nothing changed: %s", error)
        return 1
    except ConcurrentRunError as error:
        LOG.error("%s", error)
        return 1
    job.commit()
    print(
        f"{manifest['status']}: rows_in={manifest['rows_in']} rows_out={manifest['rows_out']} "
        f"quarantined={manifest['rows_quarantined']} duplicates={manifest['rows_duplicate']} "
        f"partitions={len(manifest['partitions_written'])} run_id={manifest['run_id']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
