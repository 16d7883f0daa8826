"""One ingestion run (a schedule tick, or `covid-pipeline ingest`): for each source, fetch what is new, check it,
store it in the raw bucket under its date partition, remember what was fetched. The upload is an ordinary raw
object: its S3 event starts the job exactly as a manual upload does.

Nothing is stored unless it passed every check; a re-run of the same tick finds nothing new (daily reports after
the newest settled, conditional GETs and content digests for the others), so it writes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from covid_pipeline.ingestion import fetch, sources
from covid_pipeline.ingestion.sources import Source
from covid_pipeline.ingestion.state import MISSING_DAYS_KEPT, IngestionState, SourceState
from covid_pipeline.monitoring import metric, publish_alert, put_metrics

logger = logging.getLogger(__name__)

REQUIRED_ENVIRONMENT = ("RAW_BUCKET", "RAW_PREFIX", "STATE_BUCKET", "STATE_PREFIX", "INGESTION_SOURCES")
# Outcomes of one fetch.
STORED = "stored"
UNCHANGED = "unchanged"
NOT_PUBLISHED = "not_published"
REFUSED = "refused"
FAILED = "failed"
# The reason of a not_published day given up as a gap its publisher left (settle_days).
GAP = "skipped_by_publisher"
# Days after which a report date that still answers 404 is taken as skipped for good (settle_days).
PUBLICATION_GRACE_DAYS = 2
# Metric names (terraform/monitoring.tf's ingestion alarm reads METRIC_FAILURES without dimensions).
METRIC_FILES_STORED = "IngestionFilesStored"
METRIC_REFUSED = "IngestionRefused"
METRIC_FAILURES = "IngestionFailures"

DEFAULT_POLICY = fetch.FetchPolicy()
Getter = Callable[..., fetch.Response]


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    raw_prefix: str
    state_bucket: str
    state_prefix: str
    sources: tuple[Source, ...]
    metrics_namespace: str = ""
    alerts_topic_arn: str = ""
    environment: str = ""
    policy: fetch.FetchPolicy = DEFAULT_POLICY

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in REQUIRED_ENVIRONMENT if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variable(s): {', '.join(missing)}")
        policy = fetch.FetchPolicy(
            timeout_seconds=float(env.get("FETCH_TIMEOUT_SECONDS", fetch.FetchPolicy.timeout_seconds)),
            attempts=int(env.get("FETCH_ATTEMPTS", fetch.FetchPolicy.attempts)),
            backoff_seconds=float(env.get("FETCH_BACKOFF_SECONDS", fetch.FetchPolicy.backoff_seconds)),
            max_bytes=int(env.get("FETCH_MAX_BYTES", fetch.FetchPolicy.max_bytes)),
        )
        return cls(
            raw_bucket=env["RAW_BUCKET"],
            raw_prefix=env["RAW_PREFIX"],
            state_bucket=env["STATE_BUCKET"],
            state_prefix=env["STATE_PREFIX"],
            sources=sources.parse_sources(env["INGESTION_SOURCES"]),
            metrics_namespace=env.get("METRICS_NAMESPACE", ""),
            alerts_topic_arn=env.get("ALERTS_TOPIC_ARN", ""),
            environment=env.get("ENVIRONMENT", ""),
            policy=policy,
        )


@dataclass(frozen=True)
class Outcome:
    source: str
    status: str
    url: str
    key: str | None = None
    reason: str | None = None
    detail: str | None = None
    day: str | None = None


@dataclass
class IngestionRun:
    run_id: str
    tick: str
    started_at: float
    outcomes: list[Outcome] = field(default_factory=list)
    finished_at: float | None = None

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def state(self) -> str:
        if self.count(FAILED):
            return "FAILED"
        return "REFUSED_INPUT" if self.count(REFUSED) else "SUCCEEDED"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": "ingestion",
            "tick": self.tick,
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stored": [o.key for o in self.outcomes if o.status == STORED],
            "counts": {status: self.count(status) for status in (STORED, UNCHANGED, NOT_PUBLISHED, REFUSED, FAILED)},
            "outcomes": [asdict(outcome) for outcome in self.outcomes],
        }


@dataclass(frozen=True)
class RunRequest:
    tick: datetime
    source: str | None = None
    day: date | None = None


def run_request(event: Any, now: datetime) -> RunRequest:
    """A schedule's event (its ``time`` is the tick) or ``{"source": S, "date": D}`` -> what to run; a ValueError
    that says what is wrong otherwise."""
    if not isinstance(event, Mapping):
        raise ValueError(f"the event is a {type(event).__name__}, expected an object")
    tick = now
    if event.get("time"):
        tick = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        if tick.tzinfo is None:
            raise ValueError(f"event time {event['time']!r} has no time zone")
    day = date.fromisoformat(str(event["date"])) if event.get("date") else None
    source = str(event["source"]) if event.get("source") and event.get("source") != "aws.events" else None
    return RunRequest(tick, source, day)


def days_to_fetch(source: Source, settled: date | None, today: date) -> list[date]:
    """The report dates a tick asks for: after the newest settled (or from the start date), up to today, at most
    the source's max_days_per_run of them."""
    first = settled + timedelta(days=1) if settled else source.start_date
    if first is None:
        return []
    return [first + timedelta(days=n) for n in range(source.max_days_per_run) if first + timedelta(days=n) <= today]


def settle_days(tried: list[tuple[date, str]], today: date) -> tuple[list[date], date | None]:
    """(the days skipped as gaps, the newest day settled) after a tick tried these days in order.

    A stored (or unchanged) day is settled. A day that answered 404 is a gap its publisher skipped, and settled too,
    when a later day of the same tick was stored, or when it is more than PUBLICATION_GRACE_DAYS before the tick's
    date (JHU publishes a day's report the next day; it also skipped a few days for good). Any other 404 is "not
    published yet": it and the days after it are asked for again next tick. A failed or refused day stops there."""
    stored = [day for day, status in tried if status in (STORED, UNCHANGED)]
    overdue_before = today - timedelta(days=PUBLICATION_GRACE_DAYS)
    gaps: list[date] = []
    settled = None
    for day, status in tried:
        if status == NOT_PUBLISHED and (day < overdue_before or any(later > day for later in stored)):
            gaps.append(day)
        elif status not in (STORED, UNCHANGED):
            break
        settled = day
    return gaps, settled


class Ingestor:
    """All I/O of a run: the HTTP getter, S3 (raw objects and state), CloudWatch and SNS."""

    def __init__(
        self, settings: Settings, s3: Any, cloudwatch: Any = None, sns: Any = None, get: Getter = fetch.get
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.cloudwatch = cloudwatch
        self.sns = sns
        self.get = get
        self.state = IngestionState(s3, settings.state_bucket, settings.state_prefix)

    # --- one run --------------------------------------------------------------------------------------------------

    def run(self, tick: datetime, only_source: str | None = None, only_date: date | None = None) -> IngestionRun:
        tick = tick.astimezone(UTC)
        chosen = [s for s in self.settings.sources if only_source in (None, s.name)]
        if only_source and not chosen:
            known = ", ".join(s.name for s in self.settings.sources)
            raise ValueError(f"unknown ingestion source {only_source!r} (configured: {known})")
        started = datetime.now(UTC)
        # Ids sort by when the run started (several runs may share a tick: a retry, a run by hand).
        run_id = f"ingest-{started:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:6]}"
        run = IngestionRun(run_id, tick.isoformat(), started.timestamp())
        for source in chosen:
            state = self.state.load(source.name)
            if source.kind == sources.DAILY_REPORTS:
                run.outcomes += self._daily(source, state, tick.date(), only_date)
            else:
                run.outcomes.append(self._single(source, state, only_date or tick.date()))
        run.finished_at = time.time()
        self._report(run)
        return run

    def _daily(self, source: Source, state: SourceState, today: date, only_date: date | None) -> list[Outcome]:
        if only_date:
            return [self._fetch_and_store(source, state, only_date, fetch.Validators())]
        outcomes: list[Outcome] = []
        for day in days_to_fetch(source, state.settled, today):
            outcomes.append(self._fetch_and_store(source, state, day, fetch.Validators()))
            if outcomes[-1].status in (REFUSED, FAILED):
                break  # the next tick asks for this day again
        gaps, settled = settle_days([(date.fromisoformat(str(o.day)), o.status) for o in outcomes], today)
        if settled and state.settled_date != settled.isoformat():
            skipped = {day.isoformat() for day in gaps}
            state.missing_days = sorted(set(state.missing_days) | skipped)[-MISSING_DAYS_KEPT:]
            state.settled_date = settled.isoformat()
            self.state.save(source.name, state)
            for index, outcome in enumerate(outcomes):
                if outcome.day in skipped:
                    outcomes[index] = replace(outcome, reason=GAP)
                    logger.info("skipped by its publisher, not asked for again", extra=asdict(outcomes[index]))
        return outcomes

    def _single(self, source: Source, state: SourceState, day: date) -> Outcome:
        return self._fetch_and_store(source, state, day, fetch.Validators(state.etag, state.last_modified))

    def _fetch_and_store(self, source: Source, state: SourceState, day: date, validators: fetch.Validators) -> Outcome:
        url = source.url_for(day)
        iso_day = day.isoformat()
        try:
            response = self.get(url, validators, self.settings.policy)
            if response.status == fetch.NOT_MODIFIED:
                return self._log(Outcome(source.name, UNCHANGED, url, reason="not_modified", day=iso_day))
            if response.status == fetch.NOT_FOUND or response.body is None:
                return self._log(Outcome(source.name, NOT_PUBLISHED, url, reason="404", day=iso_day))
            with response.body as fetched:
                name = source.stored_name(response.url if source.kind != sources.DAILY_REPORTS else url, day)
                key = sources.partitioned_key(self.settings.raw_prefix, source.job_source, day, name)
                with self._checked_body(source, name, fetched, response.content_type) as body:
                    outcome = self._store(source, state, day, url, key, body)
        except fetch.Refused as refused:
            refusal = refused.refusal
            return self._log(
                Outcome(source.name, REFUSED, url, reason=refusal.reason, detail=refusal.detail, day=iso_day)
            )
        except fetch.FetchFailed as failed:
            return self._log(Outcome(source.name, FAILED, url, reason="fetch_failed", detail=str(failed), day=iso_day))
        self._remember(source, state, day, body.sha256, response.validators, key)
        logger.info(
            "fetched",
            extra={
                "source": source.name,
                "url": url,
                "day": iso_day,
                "status": outcome.status,
                "key": key,
                "bytes": body.size,
            },
        )
        return outcome

    def _store(self, source: Source, state: SourceState, day: date, url: str, key: str, body: fetch.Body) -> Outcome:
        """PutObject under the day's partition, unless the content is the one stored last (same sha256)."""
        previous = state.day_digests.get(day.isoformat()) if source.kind == sources.DAILY_REPORTS else state.sha256
        if previous == body.sha256:
            return Outcome(source.name, UNCHANGED, url, reason="same_content", day=day.isoformat())
        self.s3.put_object(
            Bucket=self.settings.raw_bucket,
            Key=key,
            Body=body.stream(),
            ContentLength=body.size,
            Metadata={"sha256": body.sha256, "source-url": url[:1024]},
        )
        return Outcome(source.name, STORED, url, key=key, day=day.isoformat())

    def _checked_body(self, source: Source, name: str, fetched: fetch.Body, content_type: str) -> fetch.Body:
        """The body to store (the fetched one, or JSON lines made from it), or Refused with the reason."""
        if source.kind == sources.JSON_RECORDS:
            records, refusal = sources.json_records(fetched.read_all(), content_type)
            if refusal:
                raise fetch.Refused(refusal)
            return fetch.Body.of(sources.as_json_lines(records))
        refusal = sources.check_csv(source, name, fetched, content_type)
        if refusal:
            raise fetch.Refused(refusal)
        return fetched  # closed by its own with-block too: closing twice is harmless

    def _remember(
        self, source: Source, state: SourceState, day: date, sha: str, validators: fetch.Validators, key: str
    ) -> None:
        if source.kind == sources.DAILY_REPORTS:
            state.day_digests[day.isoformat()] = sha
            if state.newest is None or day > state.newest:
                state.newest_date = day.isoformat()
            if day.isoformat() in state.missing_days:  # a skipped day its publisher added later, fetched by hand
                state.missing_days.remove(day.isoformat())
        else:
            state.etag, state.last_modified, state.sha256 = validators.etag, validators.last_modified, sha
        state.stored_key = key
        self.state.save(source.name, state)

    def _log(self, outcome: Outcome) -> Outcome:
        level = logging.WARNING if outcome.status in (REFUSED, FAILED) else logging.INFO
        message = {
            REFUSED: "refused, nothing stored",
            FAILED: "fetch failed, nothing stored",
            NOT_PUBLISHED: "not published yet, nothing new",
            UNCHANGED: "unchanged, nothing stored",
        }.get(outcome.status, outcome.status)
        logger.log(level, message, extra={k: v for k, v in asdict(outcome).items() if v is not None})
        return outcome

    # --- reporting ------------------------------------------------------------------------------------------------

    def _report(self, run: IngestionRun) -> None:
        record = run.as_dict()
        self.state.record_run(record)
        logger.info("ingestion run done", extra={"run_id": run.run_id, "state": run.state, **record["counts"]})
        if self.cloudwatch is not None and self.settings.metrics_namespace:
            put_metrics(self.cloudwatch, ingestion_metrics(run), self.settings.metrics_namespace)
        if self.sns is not None and self.settings.alerts_topic_arn and run.count(FAILED):
            subject, body = format_ingestion_alert(run, self.settings.environment)
            publish_alert(self.sns, self.settings.alerts_topic_arn, subject, body)


def ingestion_metrics(run: IngestionRun) -> list[dict[str, Any]]:
    """Per source, and once without dimensions (what the alarm watches)."""
    data = []
    names = sorted({outcome.source for outcome in run.outcomes})
    for metric_name, status in ((METRIC_FILES_STORED, STORED), (METRIC_REFUSED, REFUSED), (METRIC_FAILURES, FAILED)):
        data.append(metric(metric_name, run.count(status)))
        for name in names:
            count = sum(1 for o in run.outcomes if o.source == name and o.status == status)
            data.append(metric(metric_name, count, dimensions={"Source": name}))
    return data


def format_ingestion_alert(run: IngestionRun, environment: str = "") -> tuple[str, str]:
    """(subject, body) of the SNS alert for a run whose fetches failed, in the shape of a failed job's alert."""
    prefix = f"[{environment}] " if environment else ""
    subject = " ".join(f"{prefix}CovidPipeline: ingestion run failed".split())[:100]
    lines = [f"Ingestion run: {run.run_id}", f"Tick: {run.tick}", f"State: {run.state}", "", "Why:"]
    lines += [
        f"  - {o.source} {o.day or ''}: {o.reason}: {o.detail} ({o.url})"
        for o in run.outcomes
        if o.status in (FAILED, REFUSED)
    ]
    lines += ["", "Inspect: covid-pipeline runs   /   covid-pipeline ingest --source SOURCE"]
    return subject, "\n".join(lines)
