"""A job run and what it left: `run` (start one and follow it), `status`, `runs`, `logs`, `dq`.

The job runs are read through the orchestrator (Glue's API, the run manifests, CloudWatch Logs); `runs` and
`status` list the ingestion runs beside them (covid_pipeline.commands.ingest).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from covid_pipeline.commands.ingest import ingestion_rows, ingestion_runs
from covid_pipeline.commands.plumbing import (
    _duration,
    _num,
    _orchestrator,
    _print_json,
    _session,
    _short_id,
    _when,
    format_table,
)
from covid_pipeline.errors import UserError


class _Progress:
    """State + elapsed time on one line (rewritten in a terminal), log lines scrolling above it."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.last_state: str | None = None
        self.status_shown = False

    def _clear(self) -> None:
        if self.tty and self.status_shown:
            self.stream.write("\r\033[K")
            self.status_shown = False

    def state(self, job_run: dict[str, Any]) -> None:
        state = str(job_run.get("JobRunState"))
        elapsed = _duration(time.monotonic() - self.started)
        if self.tty:
            self._clear()
            self.stream.write(f"[{state:<9}] {elapsed} elapsed")
            self.status_shown = True
        elif state != self.last_state:
            self.stream.write(f"[{state}] after {elapsed}\n")
        self.stream.flush()
        self.last_state = state

    def log(self, event: dict[str, Any]) -> None:
        from covid_pipeline.orchestrator import format_log_event

        self._clear()
        self.stream.write("  " + format_log_event(event) + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.status_shown:
            self.stream.write("\n")
            self.status_shown = False


def cmd_run(args: argparse.Namespace) -> int:
    from covid_pipeline.common import FAILED_STATES
    from covid_pipeline.orchestrator import parse_overrides

    overrides = parse_overrides(args.arg or [])
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        run_id = orchestrator.start_run(args.source, overrides)
        if args.no_follow:
            print(json.dumps({"run_id": run_id}) if args.json else run_id)
            return 0
        print(f"started {orchestrator.job_name} run {run_id} (source {args.source})", flush=True)
        progress = _Progress()
        try:
            final = orchestrator.follow(
                run_id,
                on_state=progress.state,
                on_log=None if args.quiet else progress.log,
                poll_seconds=args.poll,
                timeout_seconds=args.timeout,
            )
        except TimeoutError as exc:
            progress.done()
            print(f"error: {exc} (the run goes on; follow it with `covid-pipeline logs {run_id}`)", file=sys.stderr)
            return 1
        progress.done()
        record = orchestrator.record(run_id)
        state = final.get("JobRunState")
        if args.json:
            _print_json(record.as_dict())
        if state in FAILED_STATES:
            print(f"run {run_id} {state}: {final.get('ErrorMessage') or 'no error message'}", file=sys.stderr)
            return 1
        if not args.json:
            manifest = record.manifest or {}
            print(
                f"run {run_id} {state} in {_duration(record.duration_seconds)}: "
                f"rows in {_num(manifest.get('rows_in'))}, out {_num(manifest.get('rows_out'))}, "
                f"quarantined {_num(manifest.get('rows_quarantined'))}, DQ score {_score(record.dq_score)}, "
                f"est. ${record.cost.usd:.4f}"
            )
        return 0


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


def cmd_status(args: argparse.Namespace) -> int:
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        latest: dict[str, Any] = {}
        for record in orchestrator.records(limit=50):
            latest.setdefault(record.source, record)
        ingestion = ingestion_runs(config, session, limit=1)
        if args.json:
            _print_json(
                {
                    "job_name": orchestrator.job_name,
                    "latest": {s: r.as_dict() for s, r in latest.items()},
                    "latest_ingestion": ingestion[0] if ingestion else None,
                }
            )
            return 0
        if ingestion:
            print(ingestion_rows(ingestion) + "\n")
        if not latest:
            print(f"{orchestrator.job_name}: no runs yet")
            return 0
        rows = [
            [
                orchestrator.job_name,
                source,
                r.run_id,
                r.state,
                _when(r.started_on),
                _duration(r.duration_seconds),
                _score(r.dq_score),
                (r.job_run.get("ErrorMessage") or "")[:60],
            ]
            for source, r in sorted(latest.items())
        ]
        print(format_table(["job", "source", "run id", "state", "started", "duration", "dq", "error"], rows))
        return 0


def cmd_runs(args: argparse.Namespace) -> int:
    with _session(args) as (config, session):
        records = _orchestrator(config, session).records(limit=args.limit, source=args.source)
        ingestion = ingestion_runs(config, session, limit=args.limit) if args.source is None else []
        if args.json:
            # Job runs first (newest first), then the ingestion runs ("kind": "ingestion").
            _print_json([r.as_dict() for r in records] + ingestion)
            return 0
        rows = [
            [
                _short_id(r.run_id) if not args.full_ids else r.run_id,
                r.source,
                r.state,
                _when(r.started_on),
                _duration(r.duration_seconds),
                _num(r.manifest_value("rows_in")),
                _num(r.manifest_value("rows_out")),
                _num(r.manifest_value("rows_quarantined")),
                _score(r.dq_score),
                f"${r.cost.usd:.4f}",
            ]
            for r in records
        ]
        headers = [
            "run id",
            "source",
            "state",
            "started",
            "duration",
            "rows in",
            "rows out",
            "quar.",
            "dq",
            "est. cost",
        ]
        print(format_table(headers, rows, right=(5, 6, 7, 8, 9)) if rows else "no runs yet")
        if ingestion:
            print("\n" + ingestion_rows(ingestion))
        return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from covid_pipeline.orchestrator import format_log_event

    with _session(args) as (config, session):
        events = list(_orchestrator(config, session).run_logs(args.run_id))
        if args.json:
            _print_json(events)
        elif not events:
            print(f"no log events for run {args.run_id} in {config.names.glue_log_group}")
        else:
            for event in events:
                print(format_log_event(event))
        return 0


def cmd_dq(args: argparse.Namespace) -> int:
    from covid_pipeline.orchestrator import observed_text, parse_day

    day = parse_day(args.date) if args.date else None
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        if day is not None:
            records = [r for r in orchestrator.records(source=args.source, started_on=day) if r.manifest]
            if not records:
                raise UserError(f"no runs with data quality results on {day.isoformat()}")
        else:
            # The latest run that wrote results (a run that failed early has none): look a few runs back.
            records = [r for r in orchestrator.records(limit=args.look_back, source=args.source) if r.manifest][:1]
            if not records:
                raise UserError(f"none of the last {args.look_back} runs has data quality results")
        payload = [
            {
                "run_id": r.run_id,
                "state": r.state,
                "started_on": _when(r.started_on),
                "source": r.source,
                "score": r.dq_score,
                "results": (r.manifest_value("data_quality") or {}).get("results", []),
                "quarantine_reasons": r.manifest_value("quarantine_reasons") or {},
            }
            for r in records
        ]
        if args.json:
            _print_json(payload)
            return 0
        for entry in payload:
            print(f"run {entry['run_id']} ({entry['source']}, {entry['state']}, {entry['started_on']})")
            print(f"DQ score {_score(entry['score'])}")
            rows = [
                [
                    "pass" if result.get("success") else "FAIL",
                    result.get("severity", ""),
                    result.get("expectation", ""),
                    observed_text(result),
                ]
                for result in entry["results"]
            ]
            if rows:
                print(format_table(["result", "severity", "expectation", "observed"], rows))
            if entry["quarantine_reasons"]:
                reasons = sorted(entry["quarantine_reasons"].items(), key=lambda kv: -kv[1])
                print("quarantine reasons: " + ", ".join(f"{k}={v:,}" for k, v in reasons))
            print()
        return 0
