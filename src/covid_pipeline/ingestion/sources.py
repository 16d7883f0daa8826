"""What the ingestion fetches and how a fetched body is judged, as pure functions of names, dates and bytes.

The sources come from the function's environment (``INGESTION_SOURCES``, written once in terraform/lambda.tf from
the ``ingestion_sources`` tfvars): a JSON object of source name -> settings. Three kinds:

- ``daily_reports``: one file per report date (JHU CSSE); the URL has a ``{date:...}`` placeholder
  (``str.format`` with a ``datetime.date``). A run fetches the days after the newest one settled, at most
  ``max_days_per_run`` of them; a day that answers 404 is not published yet, or a gap its publisher left
  (``service.settle_days``).
- ``whole_file``: one file replaced in place by its publisher (OWID); stored again only when it changed.
- ``json_records``: an endpoint answering a JSON list of records; stored as JSON lines named after the source and
  the tick's date (the job reads ``.jsonl``).

Each is stored under ``<raw prefix><job_source>/year=YYYY/month=MM/day=DD/<name>``: ``job_source`` is the Glue
job's source whose raw folder the file belongs to (its name is the folder the S3 event handler maps to a run).
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from covid_pipeline import input_rules
from covid_pipeline.ingestion.body import Body

DAILY_REPORTS = "daily_reports"
WHOLE_FILE = "whole_file"
JSON_RECORDS = "json_records"
KINDS = (DAILY_REPORTS, WHOLE_FILE, JSON_RECORDS)

# Refusal reasons (log lines, metrics and run records carry them).
HTML_PAGE = "html_error_page"
UNKNOWN_HEADER = "unknown_header"
BAD_GZIP = "bad_gzip"
NOT_RECORDS = "not_a_list_of_records"
INSECURE_REDIRECT = "insecure_redirect"
INSECURE_URL = "insecure_url"
LENGTH_MISMATCH = "length_mismatch"
TOO_LARGE = input_rules.TOO_LARGE
EMPTY_BODY = "empty_body"

# What a stored file may decompress to at most (the job's own default limit, covid_pipeline.input_rules).
MAX_UNCOMPRESSED_BYTES = input_rules.DEFAULT_MAX_UNCOMPRESSED_BYTES
HEAD_BYTES = 64 * 1024

# The header of every JHU daily report era (../shared/data/README.md), compared as sets: JHU also published
# files with other column orders.
JHU_ERA_HEADERS: dict[str, frozenset[str]] = {
    "jhu_v1": frozenset({"province/state", "country/region", "last update", "confirmed", "deaths", "recovered"}),
    "jhu_v2": frozenset(
        {"province/state", "country/region", "last update", "confirmed", "deaths", "recovered", "latitude", "longitude"}
    ),
    "jhu_v3": frozenset(
        {
            "fips",
            "admin2",
            "province_state",
            "country_region",
            "last_update",
            "lat",
            "long_",
            "confirmed",
            "deaths",
            "recovered",
            "active",
            "combined_key",
        }
    ),
}
JHU_ERA_HEADERS["jhu_v4"] = JHU_ERA_HEADERS["jhu_v3"] | {"incidence_rate", "case-fatality_ratio"}
JHU_ERA_HEADERS["jhu_v5"] = JHU_ERA_HEADERS["jhu_v3"] | {"incident_rate", "case_fatality_ratio"}
# OWID has added indicator columns over time; these identify a row in every version of its dataset.
OWID_REQUIRED_COLUMNS = frozenset({"iso_code", "location", "date"})


class SourceConfigError(ValueError):
    """INGESTION_SOURCES does not describe the sources the way the module docstring says."""


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    url: str
    job_source: str
    start_date: date | None = None
    max_days_per_run: int = 1

    def url_for(self, day: date | None = None) -> str:
        return self.url.format(date=day) if self.kind == DAILY_REPORTS and day is not None else self.url

    def stored_name(self, url: str, day: date) -> str:
        """The object's name: the URL's own file name, or for JSON records ``<source>-YYYY-MM-DD.jsonl``."""
        if self.kind == JSON_RECORDS:
            return f"{self.name}-{day.isoformat()}.jsonl"
        return urlsplit(url).path.rsplit("/", 1)[-1]


def url_problem(url: str) -> str | None:
    """Only HTTPS, except plain HTTP to a loopback address (a server on this machine: tests, the demo)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return f"{url!r} is not an https:// URL"


def parse_sources(document: str) -> tuple[Source, ...]:
    """INGESTION_SOURCES -> sources, in name order; a SourceConfigError that says what is wrong."""
    try:
        loaded = json.loads(document)
    except ValueError as exc:
        raise SourceConfigError(f"INGESTION_SOURCES is not JSON: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise SourceConfigError("INGESTION_SOURCES must be a JSON object of source name -> settings")
    sources = []
    for name, settings in sorted(loaded.items()):
        if not isinstance(settings, Mapping):
            raise SourceConfigError(f"source {name!r}: settings must be an object")
        kind = settings.get("kind")
        if kind not in KINDS:
            raise SourceConfigError(f"source {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
        url = str(settings.get("url") or "")
        problem = url_problem(url) if url else "no url"
        if problem:
            raise SourceConfigError(f"source {name!r}: {problem}")
        if kind == DAILY_REPORTS and "{date" not in url:
            raise SourceConfigError(f"source {name!r}: a daily_reports URL needs a {{date:...}} placeholder")
        start = settings.get("start_date")
        try:
            start_date = date.fromisoformat(start) if start else None
            max_days = int(settings.get("max_days_per_run") or 1)
        except (TypeError, ValueError) as exc:
            raise SourceConfigError(f"source {name!r}: {exc}") from None
        if kind == DAILY_REPORTS and start_date is None:
            raise SourceConfigError(f"source {name!r}: a daily_reports source needs a start_date")
        job_source = str(settings.get("job_source") or "")
        if not job_source:
            raise SourceConfigError(f"source {name!r}: no job_source")
        sources.append(Source(str(name), kind, url, job_source, start_date, max(1, max_days)))
    return tuple(sources)


def partitioned_key(raw_prefix: str, job_source: str, day: date, name: str) -> str:
    """``<raw prefix><job source>/year=YYYY/month=MM/day=DD/<name>``: the layout the handler and the job accept."""
    return f"{raw_prefix}{job_source}/year={day:%Y}/month={day:%m}/day={day:%d}/{name}"


# --- content checks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    reason: str
    detail: str


def _text_head(name: str, body: Body) -> tuple[str, Refusal | None]:
    """The body's first bytes as text (decompressed for .gz, whose whole stream is checked first, chunk by chunk)."""
    head = body.head(HEAD_BYTES)
    if input_rules.is_compressed(name):
        problem = input_rules.gzip_size_problem(body.chunks(), MAX_UNCOMPRESSED_BYTES)
        if problem:
            return "", Refusal(BAD_GZIP, f"{problem.reason}: {problem.detail}")
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES)
    return head.decode("utf-8", errors="replace").lstrip("\ufeff"), None


def _looks_like_html(text: str, content_type: str) -> bool:
    start = text.lstrip()[:200].lower()
    return content_type.split(";")[0].strip().lower() == "text/html" or start.startswith(("<!doctype html", "<html"))


def _csv_header(text: str) -> list[str]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return [cell.replace("\ufeff", "").strip().strip('"').strip().lower() for cell in next(csv.reader([first]), [])]


def check_csv(source: Source, name: str, body: Body, content_type: str = "") -> Refusal | None:
    """A daily report or whole file: not an HTML page, gzip intact, a header of a known era."""
    if not body.size:
        return Refusal(EMPTY_BODY, "the response has no content")
    if _looks_like_html(body.head(HEAD_BYTES).decode("utf-8", errors="replace"), content_type):
        return Refusal(HTML_PAGE, "the response is an HTML page, not data")
    text, refusal = _text_head(name, body)
    if refusal:
        return refusal
    if _looks_like_html(text, content_type):
        return Refusal(HTML_PAGE, "the response is an HTML page, not data")
    header = set(_csv_header(text))
    if source.job_source == "owid":
        missing = OWID_REQUIRED_COLUMNS - header
        if missing:
            return Refusal(UNKNOWN_HEADER, f"header lacks the OWID columns {', '.join(sorted(missing))}")
        return None
    if header not in JHU_ERA_HEADERS.values():
        return Refusal(UNKNOWN_HEADER, f"header {sorted(header)} is not the header of any known JHU era")
    return None


def json_records(body: bytes, content_type: str = "") -> tuple[list[dict[str, Any]], Refusal | None]:
    """A JSON body that must be a list of objects (records); the records, or why not."""
    text = body.decode("utf-8", errors="replace")
    if _looks_like_html(text, content_type):
        return [], Refusal(HTML_PAGE, "the response is an HTML page, not data")
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        return [], Refusal(NOT_RECORDS, f"the body is not JSON: {exc}")
    if not isinstance(loaded, list) or not all(isinstance(item, dict) for item in loaded):
        return [], Refusal(NOT_RECORDS, f"the body is a JSON {type(loaded).__name__}, not a list of records")
    if not loaded:
        return [], Refusal(NOT_RECORDS, "the body is an empty list")
    return loaded, None


def as_json_lines(records: list[dict[str, Any]]) -> bytes:
    """One record per line, keys sorted: the same records give the same bytes (unchanged content writes nothing)."""
    return "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in records).encode()
