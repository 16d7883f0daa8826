"""Ingestion against a real HTTP server on a loopback port and the S3 API of a moto server: what is new is stored
under its date partition, what is unchanged or unpublished writes nothing, and each bad input is refused with its
reason and stores nothing."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest

from covid_pipeline.ingestion import fetch, sources
from covid_pipeline.ingestion.service import (
    Ingestor,
    RunRequest,
    Settings,
    days_to_fetch,
    run_request,
    settle_days,
)
from tests.source_server import Route, SourceServer, source_server, stalling_server

pytest_plugins = ["tests.moto_fixture"]  # moto_endpoint

RAW, STATE = "raw-bucket", "state-bucket"
TICK = datetime(2021, 1, 10, 6, 0, tzinfo=UTC)
JHU_V5 = (
    "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
    "Combined_Key,Incident_Rate,Case_Fatality_Ratio\n"
)
FAST = fetch.FetchPolicy(timeout_seconds=5, attempts=3, backoff_seconds=0.01)


def report(day: date) -> bytes:
    row = f",,,Andorra,{day} 05:22:33,42.5,1.5,{day.day * 10},1,0,0,Andorra,1.0,1.0\n"
    return gzip.compress((JHU_V5 + row).encode(), mtime=0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SourceServer]:
    (tmp_path / "jhu").mkdir()
    for day in (date(2021, 1, 1), date(2021, 1, 2), date(2021, 1, 3)):
        (tmp_path / "jhu" / f"{day:%m-%d-%Y}.csv.gz").write_bytes(report(day))
    (tmp_path / "owid-covid-data.csv").write_text(
        "iso_code,continent,location,date,total_cases\nAND,Europe,Andorra,2021-01-01,8\n"
    )
    with source_server(tmp_path) as running:
        yield running


def settings_for(server: SourceServer, **extra: dict[str, object]) -> Settings:
    document = {
        "jhu": {
            "kind": "daily_reports",
            "url": server.url + "/jhu/{date:%m-%d-%Y}.csv.gz",
            "job_source": "jhu_daily",
            "start_date": "2021-01-01",
            "max_days_per_run": 2,
        },
        "owid": {"kind": "whole_file", "url": server.url + "/owid-covid-data.csv", "job_source": "owid"},
        **extra,
    }
    env = {
        "RAW_BUCKET": RAW,
        "RAW_PREFIX": "raw/",
        "STATE_BUCKET": STATE,
        "STATE_PREFIX": "_state/",
        "INGESTION_SOURCES": json.dumps(document),
    }
    return Settings(**{**Settings.from_env(env).__dict__, "policy": FAST})


@pytest.fixture
def s3(moto_endpoint: str) -> object:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=RAW)
    client.create_bucket(Bucket=STATE)
    return client


def raw_keys(s3: object) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=RAW).get("Contents", []))  # type: ignore[attr-defined]


def test_ticks_fetch_what_is_new_then_nothing(server: SourceServer, s3: object) -> None:
    ingestor = Ingestor(settings_for(server), s3)
    first = ingestor.run(TICK)
    assert raw_keys(s3) == [
        "raw/jhu_daily/year=2021/month=01/day=01/01-01-2021.csv.gz",
        "raw/jhu_daily/year=2021/month=01/day=02/01-02-2021.csv.gz",
        "raw/owid/year=2021/month=01/day=10/owid-covid-data.csv",
    ]
    assert first.state == "SUCCEEDED" and first.count("stored") == 3
    body = s3.get_object(Bucket=RAW, Key="raw/jhu_daily/year=2021/month=01/day=01/01-01-2021.csv.gz")["Body"].read()  # type: ignore[attr-defined]
    assert body == report(date(2021, 1, 1))  # byte for byte as published

    second = ingestor.run(TICK)  # the bounded backfill goes on: day 3, then day 4, six days overdue, is a gap
    assert [(o.source, o.status, o.day, o.reason) for o in second.outcomes] == [
        ("jhu", "stored", "2021-01-03", None),
        ("jhu", "not_published", "2021-01-04", "skipped_by_publisher"),
        ("owid", "unchanged", "2021-01-10", "not_modified"),
    ]
    third = ingestor.run(TICK)  # the same tick again: nothing written
    assert third.count("stored") == 0 and len(raw_keys(s3)) == 4
    owid_requests = [r for r in server.requests if r[0] == "/owid-covid-data.csv"]
    assert [status for _, _, status in owid_requests] == [200, 304, 304]
    assert owid_requests[1][1].startswith('"')  # the remembered ETag was sent
    runs = ingestor.state.recent_runs()
    assert [run["counts"]["stored"] for run in runs] == [0, 1, 3]


def test_a_day_its_publisher_skipped_does_not_hold_back_the_days_after(server: SourceServer, s3: object) -> None:
    jhu = server.root / "jhu"
    (jhu / "01-03-2021.csv.gz").unlink()  # JHU skipped a day (it did, for real, a few times)
    (jhu / "01-04-2021.csv.gz").write_bytes(report(date(2021, 1, 4)))
    settings = settings_for(server)
    wide = replace(settings.sources[0], max_days_per_run=6)
    ingestor = Ingestor(replace(settings, sources=(wide,)), s3)

    # The tick of Jan 5: day 3 is a gap (day 4 after it is published); day 5 is not published yet (it is the
    # tick's own day), nor day 6 (not asked: after the tick).
    first = ingestor.run(datetime(2021, 1, 5, 6, 0, tzinfo=UTC))
    assert [(o.day, o.status, o.reason) for o in first.outcomes] == [
        ("2021-01-01", "stored", None),
        ("2021-01-02", "stored", None),
        ("2021-01-03", "not_published", "skipped_by_publisher"),
        ("2021-01-04", "stored", None),
        ("2021-01-05", "not_published", "404"),
    ]
    assert first.state == "SUCCEEDED"
    state = ingestor.state.load("jhu")
    assert (state.settled_date, state.missing_days) == ("2021-01-04", ["2021-01-03"])

    # The next ticks ask from day 5 on, never for day 3 again: day 5 is not published yet on the 6th (within the
    # grace), and on the 8th it is overdue, so a gap, and days 6 and 7 are still recent.
    second = ingestor.run(datetime(2021, 1, 6, 6, 0, tzinfo=UTC))
    assert [(o.day, o.reason) for o in second.outcomes] == [("2021-01-05", "404"), ("2021-01-06", "404")]
    third = ingestor.run(datetime(2021, 1, 8, 6, 0, tzinfo=UTC))
    assert [(o.day, o.reason) for o in third.outcomes] == [
        ("2021-01-05", "skipped_by_publisher"),
        ("2021-01-06", "404"),
        ("2021-01-07", "404"),
        ("2021-01-08", "404"),
    ]
    assert ingestor.state.load("jhu").missing_days == ["2021-01-03", "2021-01-05"]
    assert "/jhu/01-03-2021.csv.gz" not in [path for path, _, _ in server.requests[-6:]]

    # The publisher adds the skipped day later: fetched by hand, it is stored and no longer listed as missing.
    (jhu / "01-03-2021.csv.gz").write_bytes(report(date(2021, 1, 3)))
    by_hand = ingestor.run(datetime(2021, 1, 8, 7, 0, tzinfo=UTC), only_source="jhu", only_date=date(2021, 1, 3))
    assert [(o.day, o.status) for o in by_hand.outcomes] == [("2021-01-03", "stored")]
    assert ingestor.state.load("jhu").missing_days == ["2021-01-05"]


@pytest.mark.parametrize(
    ("tried", "gaps", "settled"),
    [
        ([], [], None),
        ([(date(2021, 1, 9), "not_published")], [], None),  # the day before the tick: not published yet
        ([(date(2021, 1, 7), "not_published")], [date(2021, 1, 7)], date(2021, 1, 7)),  # overdue
        ([(date(2021, 1, 8), "not_published"), (date(2021, 1, 9), "stored")], [date(2021, 1, 8)], date(2021, 1, 9)),
        ([(date(2021, 1, 8), "failed")], [], None),  # a day that failed is never skipped
        ([(date(2021, 1, 1), "stored"), (date(2021, 1, 2), "refused")], [], date(2021, 1, 1)),
    ],
)
def test_settle_days(tried: list[tuple[date, str]], gaps: list[date], settled: date | None) -> None:
    assert settle_days(tried, date(2021, 1, 10)) == (gaps, settled)


def test_changed_file_is_stored_again_and_the_same_content_is_not(server: SourceServer, s3: object) -> None:
    ingestor = Ingestor(settings_for(server), s3)
    ingestor.run(TICK, only_source="owid")
    owid = server.root / "owid-covid-data.csv"
    owid.write_text(owid.read_text() + "AND,Europe,Andorra,2021-01-02,9\n")
    later = datetime(2021, 1, 11, tzinfo=UTC)
    assert ingestor.run(later, only_source="owid").count("stored") == 1
    # A server that ignores conditional requests: same bytes, new ETag -> still nothing written.
    server.routes["/owid-covid-data.csv"] = Route(body=owid.read_bytes(), headers={"ETag": '"other"'})
    assert ingestor.run(later, only_source="owid").outcomes[0].reason == "same_content"
    assert len(raw_keys(s3)) == 2


BAD_CASES = {
    "html": (Route(body=b"<!DOCTYPE html><html><body>Service unavailable</body></html>"), "html_error_page"),
    "unknown_era": (Route(body=b"Country,Cases,Bogus\nX,1,2\n"), "unknown_header"),
    "truncated_gzip": (Route(body=gzip.compress(JHU_V5.encode() * 50)[:-20]), "bad_gzip"),
    "length": (Route(body=report(date(2021, 1, 5)), cut_short=True), "length_mismatch"),
    "not_records": (Route(body=b'{"data": [{"a": 1}]}'), "not_a_list_of_records"),
    "redirect": (Route(status=302, headers={"Location": "http://example.invalid/x.csv"}), "insecure_redirect"),
}


def test_bad_input_is_refused_with_its_reason_and_nothing_is_stored(
    server: SourceServer, s3: object, caplog: pytest.LogCaptureFixture
) -> None:
    # One moto server for every case (starting one costs about a second).
    bad_sources = {}
    for case, (route, _) in BAD_CASES.items():
        name = {"not_records": "05-01-2021.json", "unknown_era": "x.csv"}.get(case, "01-05-2021.csv.gz")
        server.routes[f"/{case}/{name}"] = route
        kind = "json_records" if case == "not_records" else "whole_file"
        bad_sources[case] = {"kind": kind, "url": f"{server.url}/{case}/{name}", "job_source": "jhu_daily"}
    ingestor = Ingestor(settings_for(server, **bad_sources), s3)
    for case, (_, reason) in BAD_CASES.items():
        caplog.clear()
        run = ingestor.run(TICK, only_source=case)
        assert [(o.status, o.reason) for o in run.outcomes] == [("refused", reason)], case
        assert run.state == "REFUSED_INPUT" and raw_keys(s3) == [], case
        logged = [r for r in caplog.records if r.getMessage() == "refused, nothing stored"]
        assert [getattr(r, "reason", None) for r in logged] == [reason], case

    # 5xx: retried with backoff, then stored; a source that stays down is reported as failed.
    server.routes["/flaky.csv"] = Route(body=b"iso_code,location,date\nAND,Andorra,2021-01-01\n", failures_first=2)
    server.routes["/down.csv"] = Route(failures_first=99)
    flaky = {"kind": "whole_file", "url": f"{server.url}/flaky.csv", "job_source": "owid"}
    down = {"kind": "whole_file", "url": f"{server.url}/down.csv", "job_source": "owid"}
    ingestor = Ingestor(settings_for(server, flaky=flaky, down=down), s3)
    assert ingestor.run(TICK, only_source="flaky").count("stored") == 1
    run = ingestor.run(TICK, only_source="down")
    assert run.state == "FAILED" and "HTTP 503 after 3 attempts" in str(run.outcomes[0].detail)


def test_last_modified_alone_makes_a_conditional_get(server: SourceServer, s3: object) -> None:
    server.etags = False  # a host that sends Last-Modified only
    ingestor = Ingestor(settings_for(server), s3)
    assert ingestor.run(TICK, only_source="owid").count("stored") == 1
    assert ingestor.run(TICK, only_source="owid").outcomes[0].reason == "not_modified"
    assert [(path, status) for path, _, status in server.requests] == [
        ("/owid-covid-data.csv", 200),
        ("/owid-covid-data.csv", 304),
    ]
    assert server.requests[1][1].endswith(" GMT")  # If-Modified-Since: the Last-Modified the first response sent


def test_a_server_that_never_answers_times_out_and_is_reported(server: SourceServer, s3: object) -> None:
    with stalling_server() as url:
        stalls = {"kind": "whole_file", "url": url, "job_source": "owid"}
        settings = settings_for(server, stalls=stalls)
        impatient = fetch.FetchPolicy(timeout_seconds=0.2, attempts=2, backoff_seconds=0.01)
        run = Ingestor(replace(settings, policy=impatient), s3).run(TICK, only_source="stalls")
    (outcome,) = run.outcomes
    assert (outcome.status, outcome.reason, run.state) == ("failed", "fetch_failed", "FAILED")
    assert "timed out after 2 attempts" in str(outcome.detail)
    assert raw_keys(s3) == []


def test_a_body_over_the_size_limit_is_refused_as_it_streams(server: SourceServer, s3: object) -> None:
    big = b"iso_code,location,date\n" + b"AND,Andorra,2021-01-01\n" * 100  # 2,323 bytes
    server.routes["/declared.csv"] = Route(body=big)
    server.routes["/undeclared.csv"] = Route(body=big, no_length=True)
    extra = {
        name: {"kind": "whole_file", "url": f"{server.url}/{name}.csv", "job_source": "owid"}
        for name in (
            "declared",
            "undeclared",
        )
    }
    settings = settings_for(server, **extra)
    ingestor = Ingestor(replace(settings, policy=replace(FAST, max_bytes=2_000)), s3)
    declared = ingestor.run(TICK, only_source="declared").outcomes[0]
    assert (declared.reason, declared.detail) == ("too_large", "Content-Length 2323 is over the limit of 2000")
    undeclared = ingestor.run(TICK, only_source="undeclared").outcomes[0]
    assert (undeclared.reason, undeclared.detail) == ("too_large", "the body passed the limit of 2000 bytes")
    assert raw_keys(s3) == []
    # Within the limit, the same body streams through and is stored byte for byte.
    ingestor = Ingestor(replace(settings, policy=replace(FAST, max_bytes=len(big))), s3)
    assert ingestor.run(TICK, only_source="undeclared").count("stored") == 1
    assert s3.get_object(Bucket=RAW, Key=raw_keys(s3)[0])["Body"].read() == big  # type: ignore[attr-defined]


def test_days_to_fetch_and_source_configuration() -> None:
    jhu = sources.Source(
        "jhu", sources.DAILY_REPORTS, "https://h/{date:%m-%d-%Y}.csv", "jhu_daily", date(2020, 1, 22), 3
    )
    assert days_to_fetch(jhu, None, date(2020, 1, 23)) == [date(2020, 1, 22), date(2020, 1, 23)]
    assert days_to_fetch(jhu, date(2020, 1, 23), date(2021, 1, 1)) == [
        date(2020, 1, 24),
        date(2020, 1, 25),
        date(2020, 1, 26),
    ]
    assert jhu.url_for(date(2020, 1, 22)) == "https://h/01-22-2020.csv"
    with pytest.raises(sources.SourceConfigError, match="not an https:// URL"):
        sources.parse_sources(
            json.dumps({"x": {"kind": "whole_file", "url": "http://example.org/a.csv", "job_source": "owid"}})
        )
    with pytest.raises(sources.SourceConfigError, match="kind"):
        sources.parse_sources(json.dumps({"x": {"kind": "ftp", "url": "https://h/a", "job_source": "owid"}}))


def test_the_event_names_the_tick_or_a_source_and_date() -> None:
    now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-12-03T06:30:00Z"}
    assert run_request(scheduled, now) == RunRequest(datetime(2026, 12, 3, 6, 30, tzinfo=UTC))
    assert run_request({"source": "jhu", "date": "2021-01-02"}, now) == RunRequest(now, "jhu", date(2021, 1, 2))
    with pytest.raises(ValueError, match="expected an object"):
        run_request(["not", "an", "event"], now)
